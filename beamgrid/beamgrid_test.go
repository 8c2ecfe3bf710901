package beamgrid_test

import (
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/bigtable/bttest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/gridrun/gridrun/beamgrid"
	"github.com/gridrun/gridrun/binstage"
	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/fakegcs"
	"github.com/gridrun/gridrun/internal/testbin"
	"github.com/gridrun/gridrun/join/bigtable"
)

// These tests run pipelines on prism in process (loopback: the DoFns run
// in this test process), small ones: prism holds every PCollection in
// memory. They reach the emulators the way a user does, through
// STORAGE_EMULATOR_HOST and BIGTABLE_EMULATOR_HOST, so they do not run in
// parallel.

// runBeam builds the job into a pipeline, runs it on prism and returns the
// manifest it wrote.
func runBeam(t *testing.T, job grid.Job, opts *beamgrid.BuildOptions) (*beamgrid.Manifest, error) {
	t.Helper()
	ctx := t.Context()
	p, s := beam.NewPipelineWithRoot()
	plan, err := beamgrid.Build(ctx, s, job, opts)
	if err != nil {
		return nil, err
	}
	_, err = prism.Execute(ctx, p)
	if err := plan.Unlock(ctx); err != nil {
		t.Errorf("unlock: %v", err)
	}
	if err != nil {
		return nil, err
	}
	return beamgrid.ReadManifest(ctx, job.Output)
}

// closeWorkers releases the pipelines' worker state (join connections)
// when the test ends, before the emulators it started stop.
func closeWorkers(t *testing.T) { t.Cleanup(beamgrid.Close) }

// demo publishes the example pricer and the demo trades, in two parts, to
// a fake Cloud Storage and loads the demo quotes into an in-process
// Bigtable emulator: the demo job as in production.
func demo(t *testing.T) grid.Job {
	t.Helper()
	ctx := t.Context()
	root := testbin.Root(t)
	gcs := fakegcs.Start(t, "bins", "trades")
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host())
	if _, err := binstage.Push(ctx, testbin.Path(t, "pricer"), "gs://bins/pricer@1.0.0", nil); err != nil {
		t.Fatal(err)
	}
	trades, err := os.ReadFile(filepath.Join(root, "testdata/trades.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(trades), "\n")
	gcs.Put("trades", "2026-11-20/trades-0.jsonl", []byte(strings.Join(lines[:400], "")))
	gcs.Put("trades", "2026-11-20/trades-1.jsonl", []byte(strings.Join(lines[400:], "")))
	gcs.Put("trades", "2026-11-20/old/trades-2.jsonl", []byte("not a trade\n"))
	srv, err := bttest.NewServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	t.Setenv("BIGTABLE_EMULATOR_HOST", srv.Addr)
	key, _ := codec.ParseTemplate("{underlying}")
	if rep, err := bigtable.Load(ctx, "bigtable://p/i/quotes", filepath.Join(root, "testdata/quotes.csv"),
		&bigtable.LoadOptions{Key: key, Family: "q"}); err != nil || rep.Rows != 20 {
		t.Fatalf("load: %+v, %v", rep, err)
	}
	closeWorkers(t)
	return grid.Job{
		Binary:      "gs://bins/pricer@1.0.0",
		CacheDir:    t.TempDir(),
		Inputs:      []string{"gs://trades/2026-11-20/trades-*.jsonl"},
		Join:        &grid.JoinSpec{Source: "bigtable://p/i/quotes", Key: "{underlying}"},
		Parallelism: 2,
	}
}

// local runs the job on the local engine into a new directory.
func local(t *testing.T, job grid.Job) (*grid.Manifest, outputs) {
	t.Helper()
	job.Output = filepath.Join(t.TempDir(), "local")
	m, err := grid.Run(t.Context(), job, &grid.Hooks{Logger: slog.New(slog.DiscardHandler)})
	if err != nil && m == nil {
		t.Fatal(err)
	}
	return m, readOutputs(t, job.Output)
}

func TestDemoJobGivesTheLocalEnginesResults(t *testing.T) {
	job := demo(t)
	_, want := local(t, job)
	if len(want.results) != 1000 || len(want.dead) != 0 {
		t.Fatalf("local engine: %d results, %d dead letters", len(want.results), len(want.dead))
	}

	job.Output = filepath.Join(t.TempDir(), "beam")
	m, err := runBeam(t, job, &beamgrid.BuildOptions{Shards: 3, Runner: "prism"})
	if err != nil {
		t.Fatal(err)
	}
	got := readOutputs(t, job.Output)
	if !maps.Equal(got.results, want.results) || len(got.dead) != 0 {
		t.Errorf("beam: %d results, %d dead letters; differ from the local engine's", len(got.results), len(got.dead))
	}
	if m.Status != "ok" || m.Elements != 1000 || m.Results != 1000 || len(m.Inputs) != 2 || m.Inputs[0].Rows != 400 || m.Inputs[1].Rows != 600 ||
		m.Binary.URI != "gs://bins/pricer@1.0.0" || m.Binary.SHA256 == "" || m.Binary.Version != "1.0.0" ||
		m.Runner != "prism" || len(m.ResultFiles) < 2 || m.Batches < 2 || m.Calls != m.Batches {
		t.Errorf("manifest: %+v", m)
	}
	// One batched read per batch at most, each quote read once: the
	// pipeline ran in this one process.
	if j := m.Join; j == nil || j.Source != "bigtable://p/i/quotes" || j.Reads == 0 || j.Reads > m.Batches || j.Rows != 20 || j.Missing != 0 {
		t.Errorf("manifest join %+v for %d batches", m.Join, m.Batches)
	}
	for _, f := range m.ResultFiles {
		if _, err := os.Stat(filepath.Join(job.Output, f)); err != nil {
			t.Error(err)
		}
	}
}

// A poison element (a segmentation fault), one that complains on stderr
// and aborts, bad rows and a duplicate id end as the same dead letters as
// with the local engine: same kind, message, place, exit code and stderr.
func TestPoisonElementGivesTheLocalEnginesDeadLetters(t *testing.T) {
	closeWorkers(t)
	lines := testbin.FaultyTasks(120, map[int]string{50: "segv", 77: "throw", 88: "shout"})
	lines = append(lines,
		`{"id":"e010","x":1}`,     // a duplicate id
		`{"id":"bad","x":"high"}`, // a field of the wrong type
		`{"x":3}`,                 // no id
		`not json`)
	input := testbin.WriteLines(t, "tasks.jsonl", lines...)
	job := grid.Job{
		Binary: testbin.Path(t, "faulty"), CacheDir: t.TempDir(), Inputs: []string{input},
		Parallelism: 2, BatchSize: 50,
	}
	job.Env = testbin.Own(job.Env, job.CacheDir)
	_, want := local(t, job)

	job.Output = filepath.Join(t.TempDir(), "beam")
	m, err := runBeam(t, job, &beamgrid.BuildOptions{Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	got := readOutputs(t, job.Output)
	if !maps.Equal(got.results, want.results) {
		t.Errorf("%d results, the local engine %d", len(got.results), len(want.results))
	}
	if keys := slices.Sorted(maps.Keys(got.dead)); !slices.Equal(keys, slices.Sorted(maps.Keys(want.dead))) || len(keys) != 7 {
		t.Fatalf("dead letters %v, the local engine's %v", keys, slices.Sorted(maps.Keys(want.dead)))
	}
	for k, w := range want.dead {
		g := got.dead[k]
		// Batch ids, log names and attempts (the calls an element was in)
		// follow each engine's batching.
		g.Batch, w.Batch, g.Log, w.Log, g.Attempts, w.Attempts = "", "", "", "", 0, 0
		if g.Stderr != w.Stderr || g.Message != w.Message || string(g.Element) != string(w.Element) {
			t.Errorf("%s:\n beam  %+v\n local %+v", k, g, w)
		}
		g.Stderr, w.Stderr, g.Element, w.Element = "", "", nil, nil
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n beam  %+v\n local %+v", k, g, w)
		}
	}
	if d := got.dead["e050"]; d.Kind != grid.KindCrash || d.ExitCode != 139 || d.Attempts != 2 {
		t.Errorf("the poison element: %+v", d)
	}
	// The failed call's stderr is kept in the output, as the local engine
	// keeps it, and the dead letter names it.
	d := got.dead["e088"]
	if log, err := os.ReadFile(filepath.Join(job.Output, d.Log)); d.Log == "" || err != nil || !strings.Contains(string(log), "something broke in e088") {
		t.Errorf("e088's log %q: %v, %q", d.Log, err, log)
	}
	if m.Status != "dead_letters" || m.Elements != 124 || m.DeadLetters != 7 || m.DeadLettersByKind[grid.KindBadInput] != 4 ||
		m.DeadLettersByKind[grid.KindCrash] != 2 || m.DeadLettersByKind[grid.KindElementError] != 1 || m.Isolations == 0 {
		t.Errorf("manifest: %+v", m)
	}
	testbin.AssertNothingRuns(t, job.CacheDir)
}
