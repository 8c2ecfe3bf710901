package grid_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/binstage"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

func TestEveryTradeIsPricedOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	job := f.job(f.pricer, f.testdata("trades.jsonl"))
	job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
	job.FixedBatchSize = true
	m, err := grid.Run(context.Background(), job, quiet)
	if err != nil {
		t.Fatal(err)
	}
	o := readOutputs(t, job.Output)
	if len(o.results) != 1000 || len(o.dead) != 0 {
		t.Fatalf("%d results, %d dead letters, want 1000 and 0", len(o.results), len(o.dead))
	}
	if m.Status != "ok" || m.Elements != 1000 || m.Results != 1000 || m.DeadLetters != 0 {
		t.Fatalf("manifest: status %s, %d elements, %d results, %d dead letters", m.Status, m.Elements, m.Results, m.DeadLetters)
	}
	if m.Batches != 10 || m.Calls != 10 {
		t.Errorf("%d batches, %d calls, want 10 and 10 (100 per call)", m.Batches, m.Calls)
	}
	if m.Join == nil || m.Join.Rows != 20 || m.Join.CacheMisses != 20 {
		t.Errorf("join: %+v, want the 20 quotes read once each", m.Join)
	}
	onDisk, err := grid.ReadManifest(job.Output)
	if err != nil || onDisk.Results != 1000 {
		t.Fatalf("manifest.json: %v, %+v", err, onDisk)
	}
	if m.Binary.Version != "1.0.0" || m.Binary.InputType != "pricer.Trade" || len(m.Binary.SHA256) != 64 {
		t.Errorf("binary provenance %+v", m.Binary)
	}
	if runtime.GOOS == "linux" && m.PeakRSSBytes < 1<<20 {
		t.Errorf("peak RSS %d bytes, want this process's (at least a MiB)", m.PeakRSSBytes)
	}
}

// Every row of a bad file ends in exactly one place, the bad ones as
// bad_input dead letters naming the file, line and field.
func TestBadRowsAreDeadLettersNamingLineAndField(t *testing.T) {
	t.Parallel()
	f := setup(t)
	input := testbin.WriteLines(t, "trades.jsonl",
		`{"id":"A","underlying":"AAPL","type":"CALL","style":"EUROPEAN","strike":50,"expiry":1,"quantity":1}`,
		`{"id":"B","underlying":"AAPL","type":"CALL","style":"EUROPEAN","strike":"fifty","expiry":1}`,
		`{"id":"C","underlying":"AAPL","type":"CALL","style":"EUROPEAN","strike":50,"expiry":1`,
		``,
		`{"underlying":"AAPL","type":"CALL","style":"EUROPEAN","strike":50,"expiry":1}`,
		`{"id":"A","underlying":"MSFT","type":"PUT","style":"EUROPEAN","strike":50,"expiry":1}`,
		`{"id":"F","underlying":"AAPL","type":"CALL","style":"EUROPEAN","strike":50,"expiry":1,"colour":"red"}`,
		`{"id":"G","type":"CALL","style":"EUROPEAN","strike":50,"expiry":1}`,
		`{"id":"H","underlying":"NOPE","type":"CALL","style":"EUROPEAN","strike":50,"expiry":1}`,
		`{"id":"I","underlying":"AAPL","type":"CALL","style":"EUROPEAN","strike":-5,"expiry":1}`,
		`{"id":"J","underlying":"MSFT","type":"PUT","style":"EUROPEAN","strike":150,"expiry":0.5,"quantity":2}`,
	)
	job := f.job(f.pricer, input)
	job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
	m, err := grid.Run(context.Background(), job, quiet)
	if err != nil {
		t.Fatal(err)
	}
	o := readOutputs(t, job.Output)
	if len(o.results) != 2 || o.results["A"] == nil || o.results["J"] == nil {
		t.Fatalf("results for %v, want A and J", keys(o.results))
	}
	// A bad row is named by its id too when the id can be read.
	want := map[string]struct{ id, kind, field, msg string }{
		"line 2": {"B", grid.KindBadInput, "strike", `"fifty" is not a number`},
		"line 3": {"", grid.KindBadInput, "", "not a JSON object"},
		"line 5": {"", grid.KindBadInput, "id", "missing id"},
		"line 6": {"A", grid.KindBadInput, "id", `duplicate id "A"`},
		"line 7": {"F", grid.KindBadInput, "colour", "not a field of pricer.Trade"},
		"line 8": {"G", grid.KindBadInput, "underlying", "join key field is missing"},
		"H":      {"H", grid.KindMissingJoin, "", `no row for key "NOPE"`},
		"I":      {"I", grid.KindElementError, "", "strike must be positive"},
	}
	if len(o.dead) != len(want) {
		t.Errorf("dead letters %v", keys(o.dead))
	}
	for k, w := range want {
		d, ok := o.dead[k]
		if !ok {
			t.Errorf("no dead letter for %s", k)
			continue
		}
		if d.ID != w.id || d.Kind != w.kind || d.Field != w.field || !strings.Contains(d.Message, w.msg) || d.Input != input {
			t.Errorf("%s: got id %q kind %s field %q message %q input %s, want %q %s %q %q", k, d.ID, d.Kind, d.Field, d.Message, d.Input, w.id, w.kind, w.field, w.msg)
		}
		if w.kind == grid.KindBadInput && !strings.HasPrefix(d.Message, input+":"+strings.TrimPrefix(k, "line ")+":") {
			t.Errorf("%s: message %q does not start with file:line", k, d.Message)
		}
		if len(d.Element) == 0 {
			t.Errorf("%s: dead letter lacks the element as given", k)
		}
	}
	if m.Elements != 10 || m.Status != "dead_letters" {
		t.Errorf("manifest: %d elements (10 rows besides the blank line), status %s", m.Elements, m.Status)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestCSVInputWithAWrongRow(t *testing.T) {
	t.Parallel()
	f := setup(t)
	input := testbin.WriteLines(t, "trades.csv",
		"id,underlying,type,style,strike,expiry,quantity",
		"A,AAPL,call,european,50,1,1",
		"B,AAPL,CALL,EUROPEAN,50,1",
		"C,MSFT,put,european,100,2,3",
	)
	job := f.job(f.pricer, input)
	job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
	job.InputOptional = []string{"paths", "fixings"}
	if _, err := grid.Run(context.Background(), job, quiet); err != nil {
		t.Fatal(err)
	}
	o := readOutputs(t, job.Output)
	if len(o.results) != 2 || len(o.dead) != 1 {
		t.Fatalf("results %v, dead %v", keys(o.results), keys(o.dead))
	}
	d := o.dead["line 3"]
	if d.Kind != grid.KindBadInput || !strings.Contains(d.Message, "row has 6 cells, the header has 7") {
		t.Fatalf("dead letter %+v", d)
	}
	if string(d.Element) != `{"id":"B","underlying":"AAPL","type":"CALL","style":"EUROPEAN","strike":"50","expiry":"1"}` {
		t.Errorf("element as given: %s", d.Element)
	}
}

// Configuration problems stop the job before any subprocess starts.
func TestConfigErrorsRunNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	trades := f.testdata("trades.jsonl")
	notExec := filepath.Join(t.TempDir(), "pricer")
	os.WriteFile(notExec, []byte("x"), 0o644)
	full := filepath.Join(t.TempDir(), "full")
	os.MkdirAll(full, 0o755)
	os.WriteFile(filepath.Join(full, "something"), nil, 0o644)

	for name, tc := range map[string]struct {
		mod  func(*grid.Job)
		want string
	}{
		"missing input":        {func(j *grid.Job) { j.Inputs = []string{"/nonexistent/trades.jsonl"} }, "no such file"},
		"unknown format":       {func(j *grid.Job) { j.Inputs = []string{testbin.WriteLines(t, "trades.txt", "x")} }, "cannot tell the format"},
		"input a directory":    {func(j *grid.Job) { j.Inputs = []string{full} }, "is a directory: name its files or a pattern such as " + filepath.Join(full, "*.jsonl")},
		"missing binary":       {func(j *grid.Job) { j.Binary = "/nonexistent/pricer" }, "no such file"},
		"not executable":       {func(j *grid.Job) { j.Binary = notExec }, "not executable"},
		"sha256 mismatch":      {func(j *grid.Job) { j.SHA256 = strings.Repeat("ab", 32) }, "refusing to run it"},
		"key names no field":   {func(j *grid.Job) { j.Join.Key = "{ticker}" }, `"ticker" is not a field of pricer.Trade`},
		"output not empty":     {func(j *grid.Job) { j.Output = full }, "is not empty"},
		"output in a bucket":   {func(j *grid.Job) { j.Output = "gs://bucket/out" }, "this engine writes to a local directory"},
		"bad join missing":     {func(j *grid.Job) { j.Join.Missing = "drop" }, `join missing "drop"`},
		"join table lacks key": {func(j *grid.Job) { j.Join.Source = testbin.WriteLines(t, "q.csv", "ticker,spot", "AAPL,1") }, `no column "underlying"`},
		"join table dup key":   {func(j *grid.Job) { j.Join.Source = trades }, `key "NVDA" is also on line 1`},
		"side rows, no join":   {func(j *grid.Job) { j.Join = nil }, "takes side rows of type pricer.Quote (market data joined per batch), and no join is given"},
	} {
		t.Run(name, func(t *testing.T) {
			// spy is the pricer, leaving a mark when it runs at all.
			marker := filepath.Join(t.TempDir(), "ran")
			spy := filepath.Join(t.TempDir(), "spy")
			os.WriteFile(spy, []byte("#!/bin/sh\ntouch "+marker+"\nexec "+f.pricer+" \"$@\"\n"), 0o755)
			job := f.job(spy, trades)
			job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
			tc.mod(&job)
			m, err := grid.Run(context.Background(), job, quiet)
			var ce *grid.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || m != nil {
				t.Fatalf("err = %v, want a ConfigError about %q", err, tc.want)
			}
			if name == "sha256 mismatch" {
				var me *binstage.MismatchError
				if !errors.As(err, &me) {
					t.Errorf("err %v is not a MismatchError", err)
				}
				if _, err := os.Stat(marker); err == nil {
					t.Fatal("a binary with the wrong hash was executed")
				}
			}
			if _, err := os.Stat(filepath.Join(job.Output, "results-00000.jsonl")); err == nil {
				t.Error("a misconfigured job wrote results")
			}
		})
	}
	// Describing the binary is the only run a job makes before its calls;
	// a hash mismatch prevents even that.
}

func TestMissingJoinRowsCanPassThrough(t *testing.T) {
	t.Parallel()
	f := setup(t)
	input := testbin.WriteLines(t, "trades.jsonl",
		`{"id":"A","underlying":"AAPL","type":"CALL","style":"EUROPEAN","strike":50,"expiry":1}`,
		`{"id":"B","underlying":"NOPE","type":"CALL","style":"EUROPEAN","strike":50,"expiry":1}`,
	)
	job := f.job(f.pricer, input)
	job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}", Missing: grid.MissingPass}
	if _, err := grid.Run(context.Background(), job, quiet); err != nil {
		t.Fatal(err)
	}
	o := readOutputs(t, job.Output)
	// The pricer gets B without a quote and says so.
	if d := o.dead["B"]; d.Kind != grid.KindElementError || !strings.Contains(d.Message, `no quote for underlying "NOPE"`) || o.results["A"] == nil {
		t.Fatalf("results %v, dead letters %+v", keys(o.results), o.dead)
	}
}

func TestANonEmptyOutputIsRefusedWithoutResume(t *testing.T) {
	t.Parallel()
	f := setup(t)
	job := f.job(f.faulty, testbin.WriteLines(t, "t.jsonl", testbin.FaultyTasks(3, nil)...))
	if _, err := grid.Run(context.Background(), job, quiet); err != nil {
		t.Fatal(err)
	}
	_, err := grid.Run(context.Background(), job, quiet)
	var ce *grid.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "use --resume") {
		t.Fatalf("second run: %v", err)
	}
	job.Resume = true
	m, err := grid.Run(context.Background(), job, quiet)
	if err != nil || m.Results != 3 || m.Calls != 0 || m.Runs != 2 {
		t.Fatalf("resuming a finished job: err %v, %d results, %d calls, run %d", err, m.Results, m.Calls, m.Runs)
	}
}
