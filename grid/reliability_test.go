package grid_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/fakegcs"
	"github.com/gridrun/gridrun/internal/testbin"
)

// A job over its dead-letter limit stops early and cleanly; resumed without
// the limit, it ends with every element exactly once.
func TestHaltingStopsEarlyAndResumes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	faults := map[int]string{}
	for i := 0; i < 2000; i += 10 {
		faults[i] = "throw"
	}
	job := f.job(f.faulty, testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(2000, faults)...))
	job.BatchSize, job.FixedBatchSize = 10, true // in-flight calls finish: keep them small
	job.MaxDeadLetters = 5
	m, err := grid.Run(context.Background(), job, quiet)
	if !errors.Is(err, grid.ErrHalted) || m == nil || m.Status != "halted" {
		t.Fatalf("err %v, manifest %+v", err, m)
	}
	if m.DeadLetters <= 5 || m.DeadLetters > 50 || m.Elements >= 2000 {
		t.Fatalf("halted after %d elements, %d dead letters", m.Elements, m.DeadLetters)
	}
	o := readOutputs(t, job.Output) // once each, so far
	if int64(len(o.results)+len(o.dead)) != m.Elements {
		t.Fatalf("%d outcomes on disk, manifest says %d", len(o.results)+len(o.dead), m.Elements)
	}
	job.MaxDeadLetters, job.Resume = 0, true
	m, err = grid.Run(context.Background(), job, quiet)
	if err != nil || m == nil || m.Elements != 2000 || m.DeadLetters != 200 {
		t.Fatalf("resumed: err %v, %d elements, %d dead letters", err, m.Elements, m.DeadLetters)
	}
	o = readOutputs(t, job.Output)
	if len(o.results) != 1800 || len(o.dead) != 200 {
		t.Fatalf("after resume: %d results, %d dead letters", len(o.results), len(o.dead))
	}
}

func TestAPercentageLimitWaitsForEnoughElements(t *testing.T) {
	t.Parallel()
	f := setup(t)
	// 1 of the first 10 fails: 10% of 10, but under 100 elements settled
	// no percentage is judged; the job finishes.
	job := f.job(f.faulty, testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(60, map[int]string{3: "throw"})...))
	job.MaxDeadLetterPercent = 5
	if m, err := grid.Run(context.Background(), job, quiet); err != nil || m.Elements != 60 {
		t.Fatalf("err %v, %+v", err, m)
	}
}

// A failed call's logs are kept, copied to the log directory, named in its
// dead letters, and their first lines go to the structured log; a good
// call's logs are dropped unless sampled.
func TestFailedCallLogsAreKept(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var logged bytes.Buffer
	job := f.job(f.faulty, testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(20, map[int]string{5: "shout", 15: "stdout"})...))
	job.BatchSize, job.FixedBatchSize = 10, true
	job.LogDir = t.TempDir()
	m, err := grid.Run(context.Background(), job, &grid.Hooks{Logger: slog.New(slog.NewJSONHandler(&logged, nil))})
	if err != nil || m.DeadLetters != 1 {
		t.Fatalf("err %v, %d dead letters", err, m.DeadLetters)
	}
	d := readOutputs(t, job.Output).dead["e005"]
	if d.Kind != grid.KindCrash || !strings.HasPrefix(d.Log, job.LogDir) {
		t.Fatalf("dead letter %+v, want a crash with its log in %s", d, job.LogDir)
	}
	b, err := os.ReadFile(d.Log)
	if err != nil || !strings.Contains(string(b), "something broke in e005") {
		t.Fatalf("copied log %q: %v", b, err)
	}
	// The first call of e005's batch failed, and so did e005 alone: both
	// logged with their batch, attempt and pending elements.
	var failures int
	for _, line := range strings.Split(strings.TrimSpace(logged.String()), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "call failed" {
			continue
		}
		failures++
		if rec["batch"] == nil || rec["attempt"] == nil || !strings.Contains(rec["stderr_head"].(string), "something broke in e005") {
			t.Errorf("log record %v", rec)
		}
	}
	if failures != 2 {
		t.Errorf("%d failures logged, want 2", failures)
	}
	// Kept: the failed calls' stderr; dropped: the good calls' logs,
	// including e015's stdout chatter.
	kept, _ := filepath.Glob(filepath.Join(job.Output, "logs", "*"))
	for _, k := range kept {
		if !strings.HasSuffix(k, ".stderr.log") {
			t.Errorf("kept %s", k)
		}
	}
	if len(kept) != 2 {
		t.Errorf("kept logs %v, want the 2 failed calls' stderr", kept)
	}
}

func TestLogSamplingKeepsOneGoodCallInN(t *testing.T) {
	t.Parallel()
	f := setup(t)
	faults := map[int]string{}
	for i := range 40 {
		faults[i] = "stdout"
	}
	job := f.job(f.faulty, testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(40, faults)...))
	job.BatchSize, job.FixedBatchSize = 5, true
	job.NoSplit = true // a split on a loaded machine would make a ninth call
	job.LogSample = 4
	if _, err := grid.Run(context.Background(), job, quiet); err != nil {
		t.Fatal(err)
	}
	kept, _ := filepath.Glob(filepath.Join(job.Output, "logs", "*.stdout.log"))
	if len(kept) != 2 { // calls 1 and 5 of 8
		t.Fatalf("kept %v, want 2 of the 8 calls' stdout", kept)
	}
}

// With --log-dir gs://..., a failed call's logs land in the bucket and its
// dead letters name them there.
func TestFailedCallLogsGoToABucket(t *testing.T) {
	f := setup(t)
	gcs := fakegcs.Start(t, "logs")
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host())
	job := f.job(f.faulty, testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(10, map[int]string{4: "shout"})...))
	job.LogDir = "gs://logs/runs"
	m, err := grid.Run(context.Background(), job, quiet)
	if err != nil || m.DeadLetters != 1 {
		t.Fatalf("err %v, %d dead letters", err, m.DeadLetters)
	}
	d := readOutputs(t, job.Output).dead["e004"]
	prefix := "gs://logs/runs/" + m.JobID + "/"
	if !strings.HasPrefix(d.Log, prefix) || !strings.HasSuffix(d.Log, ".stderr.log") {
		t.Fatalf("dead letter names log %q, want one under %s", d.Log, prefix)
	}
	if got := gcs.Get("logs", strings.TrimPrefix(d.Log, "gs://logs/")); !strings.Contains(string(got), "something broke in e004") {
		t.Fatalf("uploaded log holds %q", got)
	}
}
