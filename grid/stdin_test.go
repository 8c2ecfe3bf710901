package grid_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/grid"
)

// stdinTrades is the first n trades of the test data, as JSON lines, and
// the price of each by id from a run over the file itself.
func stdinTrades(t *testing.T, f *fixture, n int) ([]byte, map[string]string) {
	t.Helper()
	b, err := os.ReadFile(f.testdata("trades.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))[:n]
	data := bytes.Join(lines, nil)
	job := f.job(f.pricer, filepath.Join(t.TempDir(), "trades.jsonl"))
	os.WriteFile(job.Inputs[0], data, 0o644)
	job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
	if _, err := grid.Run(context.Background(), job, quiet); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for id, r := range readOutputs(t, job.Output).results {
		want[id] = string(r)
	}
	return data, want
}

// Standard input is an input like a file, gzipped or not: saved in the
// output directory, read, and read again by a resumed job.
func TestStdinIsAnInput(t *testing.T) {
	t.Parallel()
	f := setup(t)
	data, want := stdinTrades(t, f, 150)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	for name, stdin := range map[string][]byte{"plain": data, "gzipped": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			job := f.job(f.pricer, "-")
			job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
			m, err := grid.Run(context.Background(), job, withStdin(bytes.NewReader(stdin)))
			if err != nil {
				t.Fatal(err)
			}
			saved := filepath.Join(job.Output, "_gridrun", "stdin.jsonl")
			if got, err := os.ReadFile(saved); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("saved standard input: %v, %d bytes, want the %d bytes given", err, len(got), len(data))
			}
			o := readOutputs(t, job.Output)
			if m.Results != int64(len(want)) || len(o.results) != len(want) {
				t.Fatalf("%d results (manifest %d), want %d", len(o.results), m.Results, len(want))
			}
			for id, r := range o.results {
				if string(r) != want[id] {
					t.Fatalf("%s: %s, want %s as from the file", id, r, want[id])
				}
			}
			// A resume reads the saved copy, not standard input.
			job.Resume = true
			m, err = grid.Run(context.Background(), job, withStdin(strings.NewReader("not read")))
			if err != nil || m.Resumed != int64(len(want)) || m.Results != int64(len(want)) {
				t.Fatalf("resume: %v, %+v", err, m)
			}
		})
	}
}

// A job that cannot start leaves its output directory as it found it, the
// saved standard input included; one that resumes without a saved copy is
// refused; "-" reads once.
func TestStdinConfigErrors(t *testing.T) {
	t.Parallel()
	f := setup(t)
	job := f.job(f.pricer, "-")
	job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{ticker}"}
	_, err := grid.Run(context.Background(), job, withStdin(strings.NewReader(`{"id":"A"}`+"\n")))
	var ce *grid.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err %v, want a ConfigError", err)
	}
	if _, err := os.Stat(job.Output); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a job that did not start left its output directory: %v", err)
	}

	job = f.job(f.pricer, f.testdata("trades.jsonl"))
	job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
	if _, err := grid.Run(context.Background(), job, quiet); err != nil {
		t.Fatal(err)
	}
	job.Inputs, job.Resume = []string{"-"}, true
	if _, err := grid.Run(context.Background(), job, quiet); !errors.As(err, &ce) || !strings.Contains(err.Error(), "did not save its standard input") {
		t.Fatalf("resume without a saved standard input: %v", err)
	}

	job = f.job(f.pricer, "-", "-")
	if _, err := grid.Run(context.Background(), job, quiet); !errors.As(err, &ce) || !strings.Contains(err.Error(), "give - at most once") {
		t.Fatalf("- twice: %v", err)
	}
}

func withStdin(r io.Reader) *grid.Hooks {
	h := *quiet
	h.Stdin = r
	return &h
}
