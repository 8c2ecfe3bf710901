package jobspec_test

import (
	"encoding/json"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/gridrun/gridrun/jobspec"
)

// The defaults are the ones the fields' comments and docs/cli.md promise.
func TestWithDefaultsFillsTheDocumentedDefaults(t *testing.T) {
	j, err := jobspec.Job{Binary: "bin/pricer", Join: &jobspec.JoinSpec{Source: "q.csv", Key: "{u}"}}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"id field", j.IDField, "id"},
		{"output format", j.OutputFormat, "jsonl"},
		{"batch size", j.BatchSize, 100},
		{"min batch size", j.MinBatchSize, 1},
		{"max batch size", j.MaxBatchSize, 10_000},
		{"target call duration", time.Duration(j.TargetCallDuration), 2 * time.Second},
		{"batch bytes", j.BatchBytes, 64 << 20},
		{"parallelism", j.Parallelism, runtime.NumCPU()},
		{"grace", time.Duration(j.Grace), 5 * time.Second},
		{"backoff", time.Duration(j.Backoff), time.Second},
		{"commit interval", time.Duration(j.CommitInterval), 10 * time.Second},
		{"join missing", j.Join.Missing, "dead-letter"},
		{"join cache bytes", j.Join.CacheBytes, int64(256 << 20)},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	big, _ := jobspec.Job{Binary: "b", BatchSize: 50_000}.WithDefaults()
	if big.MaxBatchSize != 50_000 {
		t.Errorf("max batch size with a first batch of 50,000: %d, want 50,000", big.MaxBatchSize)
	}
}

// WithDefaults returns a copy: the caller's job, join included, is as it
// was, so one job value can be run twice or recorded as given.
func TestWithDefaultsLeavesTheJobAlone(t *testing.T) {
	join := &jobspec.JoinSpec{Source: "q.csv", Key: "{u}"}
	given := jobspec.Job{Binary: "b", Join: join}
	j, err := given.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if join.Missing != "" || join.CacheBytes != 0 {
		t.Fatalf("the caller's join was written through: %+v", *join)
	}
	if j.Join == join {
		t.Fatal("the defaults share the caller's join")
	}
}

func TestWithDefaultsRefusesABadJob(t *testing.T) {
	for name, j := range map[string]jobspec.Job{
		"no binary":        {},
		"negative batch":   {Binary: "b", BatchSize: -1},
		"min over max":     {Binary: "b", MinBatchSize: 10, MaxBatchSize: 5},
		"negative retry":   {Binary: "b", Retries: -1},
		"percent over":     {Binary: "b", MaxDeadLetterPercent: 101},
		"join without key": {Binary: "b", Join: &jobspec.JoinSpec{Source: "q.csv"}},
		"join missing":     {Binary: "b", Join: &jobspec.JoinSpec{Source: "q.csv", Key: "{u}", Missing: "drop"}},
	} {
		_, err := j.WithDefaults()
		var e *jobspec.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: err %v, want a *jobspec.Error", name, err)
		}
	}
}

// A job is data: it marshals and unmarshals to itself, durations as text.
func TestAJobRoundTripsThroughJSON(t *testing.T) {
	j := jobspec.Job{Binary: "b", Inputs: []string{"a.jsonl"}, Output: "out", Timeout: jobspec.Duration(90 * time.Second),
		Join: &jobspec.JoinSpec{Source: "q.csv", Key: "{u}", AsOf: time.Date(2026, 11, 20, 21, 0, 0, 0, time.UTC)}}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	json.Unmarshal(b, &raw)
	if raw["timeout"] != "1m30s" {
		t.Fatalf("timeout marshals as %v, want \"1m30s\"", raw["timeout"])
	}
	var back jobspec.Job
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.String() != j.String() || !back.Join.AsOf.Equal(j.Join.AsOf) {
		t.Fatalf("round trip: %s, want %s", back, j)
	}
}

func TestOverLimit(t *testing.T) {
	j := jobspec.Job{MaxDeadLetters: 5}
	if why := j.OverLimit(100, 5); why != "" {
		t.Errorf("5 dead letters under a limit of 5: %q", why)
	}
	if why := j.OverLimit(100, 6); why == "" {
		t.Error("6 dead letters over a limit of 5: not stopped")
	}
	p := jobspec.Job{MaxDeadLetterPercent: 10}
	if why := p.OverLimit(40, 10); why != "" {
		t.Errorf("fewer than 100 settled: stopped (%q)", why)
	}
	if why := p.OverLimit(180, 21); why == "" {
		t.Error("21 of 201 dead, over 10%: not stopped")
	}
}

// The stall watchdog is on unless switched off: zero takes the default,
// StallOff stays off.
func TestStallTimeoutDefaultsOnAndStaysOffWhenSwitchedOff(t *testing.T) {
	j, err := jobspec.Job{Binary: "b"}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if j.StallTimeout != jobspec.Duration(10*time.Minute) {
		t.Errorf("default stall timeout %v, want 10m", j.StallTimeout)
	}
	j, err = jobspec.Job{Binary: "b", StallTimeout: jobspec.StallOff}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if j.StallTimeout >= 0 {
		t.Errorf("stall timeout %v after WithDefaults, want it off (negative)", j.StallTimeout)
	}
}
