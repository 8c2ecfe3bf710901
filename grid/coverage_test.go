package grid_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

// spy is the pricer, writing its arguments to a log each time it runs.
func (f *fixture) spy(t *testing.T) (binary string, runs func() []string) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "runs")
	binary = filepath.Join(t.TempDir(), "spy")
	os.WriteFile(binary, []byte("#!/bin/sh\necho \"run $*\" >> "+log+"\nexec "+f.pricer+" \"$@\"\n"), 0o755)
	return binary, func() []string {
		b, _ := os.ReadFile(log)
		return strings.Split(strings.TrimSpace(string(b)), "\n")[:strings.Count(string(b), "\n")]
	}
}

// calls are the runs that were not the binary describing itself.
func calls(runs []string) []string {
	return slices.DeleteFunc(runs, func(r string) bool { return strings.Contains(r, "--gridrun-describe") })
}

// A join table whose dividend column is named div would price everything
// at dividend 0: refused before any call, naming the field and the
// columns there are.
func TestJoinTableMustFillTheSideMessage(t *testing.T) {
	t.Parallel()
	f := setup(t)
	quotes := testbin.WriteLines(t, "quotes.csv", "underlying,spot,vol,rate,div", "NVDA,100,0.3,0.01,0.02", "KO,60,0.2,0.02,0.03", "BAC,30,0.25,0.015,0.01")
	trades := testbin.WriteLines(t, "trades.jsonl",
		`{"id":"A","underlying":"NVDA","type":"CALL","style":"EUROPEAN","strike":100,"expiry":1,"quantity":1}`,
		`{"id":"B","underlying":"KO","type":"PUT","style":"EUROPEAN","strike":60,"expiry":1,"quantity":1}`)
	spy, runs := f.spy(t)
	job := f.job(spy, trades)
	job.Join = &grid.JoinSpec{Source: quotes, Key: "{underlying}"}
	m, err := grid.Run(context.Background(), job, quiet)
	want := "join " + quotes + ": no column fills field dividend of pricer.Quote (columns: underlying, spot, vol, rate, div); name it, map a column to it with --join-column, or list it in --join-optional"
	var ce *grid.ConfigError
	if !errors.As(err, &ce) || err.Error() != want || m != nil {
		t.Fatalf("err = %v, want a ConfigError %q", err, want)
	}
	if c := calls(runs()); len(c) != 0 {
		t.Fatalf("calls made: %q", c)
	}

	// Named optional, the job runs; the column that fills nothing is in
	// the log and the manifest.
	job.Output = filepath.Join(t.TempDir(), "out")
	job.Join.Optional = []string{"dividend"}
	var log bytes.Buffer
	m, err = grid.Run(context.Background(), job, &grid.Hooks{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if m.Results != 2 || !slices.Equal(m.Join.UnusedColumns, []string{"div"}) || !slices.Equal(m.Join.UnfilledFields, []string{"dividend"}) ||
		!slices.Equal(m.Join.Columns, []string{"underlying", "spot", "vol", "rate", "div"}) {
		t.Errorf("manifest: %d results, join %+v", m.Results, m.Join)
	}
	if !strings.Contains(log.String(), "join table columns fill no field") || !strings.Contains(log.String(), "columns=[div]") {
		t.Errorf("log does not name the unused column div:\n%s", log.String())
	}

	job.Output = filepath.Join(t.TempDir(), "out")
	job.Join.Optional = []string{"dividnd"}
	if _, err := grid.Run(context.Background(), job, quiet); !errors.As(err, &ce) || !strings.Contains(err.Error(), "--join-optional dividnd: not a field of pricer.Quote") {
		t.Fatalf("misspelt optional field: %v", err)
	}
}

// A CSV input without a column for a field of the input message would
// run every element with that field at zero.
func TestCSVInputMustFillTheInputMessage(t *testing.T) {
	t.Parallel()
	f := setup(t)
	input := testbin.WriteLines(t, "trades.csv",
		"id,underlying,type,style,expiry,quantity,paths,fixings",
		"A,AAPL,CALL,EUROPEAN,1,1,0,0")
	spy, runs := f.spy(t)
	job := f.job(spy, input)
	job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
	_, err := grid.Run(context.Background(), job, quiet)
	want := "input " + input + ": no column fills field strike of pricer.Trade (columns: id, underlying, type, style, expiry, quantity, paths, fixings); name it, or list it in --input-optional"
	var ce *grid.ConfigError
	if !errors.As(err, &ce) || err.Error() != want {
		t.Fatalf("err = %v, want a ConfigError %q", err, want)
	}
	if c := calls(runs()); len(c) != 0 {
		t.Fatalf("calls made: %q", c)
	}
	job.InputOptional = []string{"strike"}
	m, err := grid.Run(context.Background(), job, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Inputs[0].UnfilledFields, []string{"strike"}) {
		t.Errorf("manifest inputs: %+v", m.Inputs)
	}
}

// JSON lines omit zero values, so a field absent from the first rows is
// reported, not refused; an id field absent from all of them is refused.
func TestJSONLinesFieldsAbsentFromTheFirstBatch(t *testing.T) {
	t.Parallel()
	f := setup(t)
	input := testbin.WriteLines(t, "trades.jsonl",
		`{"id":"A","underlying":"AAPL","type":"CALL","style":"EUROPEAN","strike":50,"expiry":1}`,
		`{"id":"B","underlying":"AAPL","type":"PUT","style":"EUROPEAN","strike":50,"expiry":1,"paths":100}`)
	job := f.job(f.pricer, input)
	job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
	var log bytes.Buffer
	m, err := grid.Run(context.Background(), job, &grid.Hooks{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Inputs[0].UnfilledFields, []string{"quantity", "fixings"}) {
		t.Errorf("unfilled fields %q, want quantity and fixings", m.Inputs[0].UnfilledFields)
	}
	if !strings.Contains(log.String(), "fields=\"[quantity fixings]\"") && !strings.Contains(log.String(), "fields=[quantity fixings]") {
		t.Errorf("log does not name the absent fields:\n%s", log.String())
	}

	spy, runs := f.spy(t)
	job = f.job(spy, input)
	job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
	job.IDField = "nosuch"
	_, err = grid.Run(context.Background(), job, quiet)
	want := "input " + input + `: none of the first 2 rows has the id field "nosuch" (keys: expiry, id, strike, style, type, underlying, paths); name the id field with --id-field`
	var ce *grid.ConfigError
	if !errors.As(err, &ce) || err.Error() != want {
		t.Fatalf("err = %v, want a ConfigError %q", err, want)
	}
	if c := calls(runs()); len(c) != 0 {
		t.Fatalf("calls made: %q", c)
	}
}

// Mistakes that need no message types are found before the binary is
// asked for them: it does not run at all.
func TestConfigErrorsFoundBeforeTheBinaryRuns(t *testing.T) {
	t.Parallel()
	f := setup(t)
	trades := f.testdata("trades.jsonl")
	file := testbin.WriteLines(t, "logs", "not a directory")
	for name, tc := range map[string]struct {
		mod  func(*grid.Job)
		want string
	}{
		"log dir a file":      {func(j *grid.Job) { j.LogDir = file }, "--log-dir " + file + ": is not a directory"},
		"join table missing":  {func(j *grid.Job) { j.Join.Source = "/nonexistent/quotes.csv" }, "join table /nonexistent/quotes.csv: no such file"},
		"join key syntax":     {func(j *grid.Job) { j.Join.Key = "{underlying" }, "underlying"},
		"join table not CSV":  {func(j *grid.Job) { j.Join.Source = f.testdata("trades.parquet") }, "a join table is CSV or JSONL"},
		"input format forced": {func(j *grid.Job) { j.InputFormat = "xml" }, "xml"},
	} {
		t.Run(name, func(t *testing.T) {
			spy, runs := f.spy(t)
			job := f.job(spy, trades)
			job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
			tc.mod(&job)
			_, err := grid.Run(context.Background(), job, quiet)
			var ce *grid.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a ConfigError about %q", err, tc.want)
			}
			if r := runs(); len(r) != 0 {
				t.Fatalf("the binary ran: %q", r)
			}
		})
	}
}
