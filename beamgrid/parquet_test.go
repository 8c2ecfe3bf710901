package beamgrid_test

import (
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/gridrun/gridrun/beamgrid"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/fakegcs"
	"github.com/gridrun/gridrun/internal/testbin"
	"github.com/gridrun/gridrun/internal/testgen"
)

// A Parquet input is read from its footer, so a pipeline must give it
// random access: a local file has it, an object in Cloud Storage is read
// by ranges. Its trades price as the JSON lines of the same trades do on
// the local engine.
func TestParquetInputGivesTheResultsOfItsJSONLines(t *testing.T) {
	closeWorkers(t)
	root := testbin.Root(t)
	gcs := fakegcs.Start(t, "trades")
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host())
	file := filepath.Join(root, "testdata/trades.parquet") // the rows of trades.jsonl
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	gcs.Put("trades", "2026-11-20/trades.parquet", data)

	job := grid.Job{
		Binary:      testbin.Path(t, "pricer"),
		CacheDir:    t.TempDir(),
		Inputs:      []string{filepath.Join(root, "testdata/trades.jsonl")},
		Join:        &grid.JoinSpec{Source: filepath.Join(root, "testdata/quotes.csv"), Key: "{underlying}"},
		Parallelism: 2,
	}
	job.Env = testbin.Own(job.Env, job.CacheDir)
	_, want := local(t, job)
	if len(want.results) != 1000 || len(want.dead) != 0 {
		t.Fatalf("local engine: %d results, %d dead letters", len(want.results), len(want.dead))
	}

	for _, input := range []string{file, "gs://trades/2026-11-20/trades.parquet"} {
		job.Inputs = []string{input}
		job.Output = filepath.Join(t.TempDir(), "beam")
		m, err := runBeam(t, job, &beamgrid.BuildOptions{Shards: 2, Runner: "prism"})
		if err != nil {
			t.Fatalf("%s: %v", input, err)
		}
		got := readOutputs(t, job.Output)
		if !maps.Equal(got.results, want.results) || len(got.dead) != 0 {
			t.Errorf("%s: %d results, %d dead letters; differ from the JSON lines'", input, len(got.results), len(got.dead))
		}
		if m.Status != "ok" || m.Elements != 1000 || len(m.Inputs) != 1 || m.Inputs[0].Rows != 1000 || m.Inputs[0].Format != "parquet" {
			t.Errorf("%s: manifest %+v", input, m)
		}
	}
	testbin.AssertNothingRuns(t, job.CacheDir)
}

// A Parquet file of many row groups is cut at row groups into chunks, each
// read by its own ranges, and gives the results of the same rows in JSON
// lines.
func TestParquetRowGroupsAreReadInParallelRanges(t *testing.T) {
	closeWorkers(t)
	dir := t.TempDir()
	qs := testgen.Quotes(len(testgen.Underlyings), 1)
	ts := testgen.Trades(600, qs, 3, testgen.TradeOptions{})
	write := func(name string, fill func(f *os.File) error) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := fill(f); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	jsonl := write("trades.jsonl", func(f *os.File) error { return testgen.WriteJSONL(f, ts) })
	pq := write("trades.parquet", func(f *os.File) error { return testgen.WriteParquet(f, ts, 50) })
	quotes := write("quotes.csv", func(f *os.File) error { return testgen.WriteQuotesCSV(f, qs) })
	job := grid.Job{
		Binary: testbin.Path(t, "pricer"), CacheDir: t.TempDir(), Inputs: []string{jsonl},
		Join:        &grid.JoinSpec{Source: quotes, Key: "{underlying}"},
		Parallelism: 2,
	}
	job.Env = testbin.Own(job.Env, job.CacheDir)
	_, want := local(t, job)
	job.Inputs = []string{pq}
	job.Output = filepath.Join(t.TempDir(), "beam")
	// A chunk every 100 rows: two row groups.
	m, err := runBeam(t, job, &beamgrid.BuildOptions{SplitBytes: 100 * 128})
	if err != nil {
		t.Fatal(err)
	}
	got := readOutputs(t, job.Output)
	if len(want.results) != 600 || !maps.Equal(got.results, want.results) || len(got.dead) != len(want.dead) {
		t.Errorf("%d results, %d dead letters; the JSON lines': %d and %d", len(got.results), len(got.dead), len(want.results), len(want.dead))
	}
	if len(m.ResultFiles) < 6 || m.Inputs[0].Rows != 600 {
		t.Errorf("manifest: result files %v, inputs %+v", m.ResultFiles, m.Inputs)
	}
}
