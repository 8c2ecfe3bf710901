package beamgrid_test

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"

	"github.com/gridrun/gridrun/beamgrid"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

var errInjected = errors.New("injected failure")

// failOnce returns a hook that fails the n-th time it is called, and only
// then.
func failOnce[T any](n int64) func(T) error {
	var calls atomic.Int64
	return func(T) error {
		if calls.Add(1) == n {
			return errInjected
		}
		return nil
	}
}

// splitJob is a job over two inputs that split into many chunks: JSON
// lines with crashing and failing elements, bad rows, blank lines and ids
// repeated far apart (in other chunks, in the other input), and a CSV file
// whose quoted cells hold commas and line breaks.
func splitJob(t *testing.T) grid.Job {
	t.Helper()
	lines := testbin.FaultyTasks(400, map[int]string{50: "segv", 233: "throw", 377: "shout"})
	lines = slices.Insert(lines, 120, "", "   ", `{"id":"bad","x":"high"}`, `not json`)
	lines = append(lines,
		`{"id":"e010","x":1}`, // the same id as row 10, chunks away
		`{"x":3}`,             // no id
		`{"id":"e399","x":2}`,
		`{"id":"c001","x":5}`) // the CSV file's id: the CSV row is the later one
	jsonl := testbin.WriteLines(t, "tasks.jsonl", lines...)
	var csv strings.Builder
	csv.WriteString("id,x\n")
	for i := range 150 {
		switch i % 25 {
		case 3:
			fmt.Fprintf(&csv, "\"c%03d,\nwith a line break\",%d\n", i, i)
		case 7:
			fmt.Fprintf(&csv, "\"c%03d \"\"quoted\"\"\",%d\n", i, i)
		case 11:
			fmt.Fprintf(&csv, "c%03d,not a number\n", i)
		default:
			fmt.Fprintf(&csv, "c%03d,%d\n", i, i)
		}
	}
	csv.WriteString("e020,1\n") // the JSONL file's id
	csvPath := filepath.Join(t.TempDir(), "more.csv")
	if err := os.WriteFile(csvPath, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	job := grid.Job{
		Binary: testbin.Path(t, "faulty"), CacheDir: t.TempDir(), Inputs: []string{jsonl, csvPath},
		Parallelism: 2, BatchSize: 20, InputOptional: []string{"fault", "arg"},
	}
	job.Env = testbin.Own(job.Env, job.CacheDir)
	return job
}

// sameOutcomes fails unless got holds the results and the dead letters of
// want: each result line, and each dead letter by id (file and line for
// bad rows) and kind, with its message, place and element.
func sameOutcomes(t *testing.T, got, want outputs) {
	t.Helper()
	if !maps.Equal(got.results, want.results) {
		t.Errorf("%d results, the local engine %d", len(got.results), len(want.results))
	}
	if g, w := slices.Sorted(maps.Keys(got.dead)), slices.Sorted(maps.Keys(want.dead)); !slices.Equal(g, w) {
		t.Fatalf("dead letters %v, the local engine's %v", g, w)
	}
	for k, w := range want.dead {
		g := got.dead[k]
		// Batch ids, log names and attempts follow each engine's batching.
		g.Batch, w.Batch, g.Log, w.Log, g.Attempts, w.Attempts = "", "", "", "", 0, 0
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n beam  %+v\n local %+v", k, g, w)
		}
	}
}

// Inputs cut into many chunks, each run as ranges of a splittable DoFn,
// give the local engine's outcomes: duplicate ids found across chunks and
// inputs, line numbers counted from the files' starts, CSV rows with
// quoted line breaks read whole.
func TestSplitInputsGiveTheLocalEnginesOutcomes(t *testing.T) {
	closeWorkers(t)
	job := splitJob(t)
	_, want := local(t, job)
	if len(want.dead) < 12 {
		t.Fatalf("the local engine: %d dead letters", len(want.dead))
	}
	job.Output = filepath.Join(t.TempDir(), "beam")
	m, err := runBeam(t, job, &beamgrid.BuildOptions{SplitBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	got := readOutputs(t, job.Output)
	sameOutcomes(t, got, want)
	for k, kind := range map[string]string{"tasks.jsonl:405": grid.KindBadInput, "more.csv:158": grid.KindBadInput, "e050": grid.KindCrash} {
		if d, ok := got.dead[k]; !ok || d.Kind != kind {
			t.Errorf("dead letter %s: %+v, want kind %s", k, d, kind)
		}
	}
	// Each range wrote its own files: more than one per input.
	if len(m.ResultFiles) < 6 || m.Elements != int64(len(want.results)+len(want.dead)) || m.Inputs[0].Rows != 406 || m.Inputs[1].Rows != 151 {
		t.Errorf("manifest: %d result files, %d elements, inputs %+v", len(m.ResultFiles), m.Elements, m.Inputs)
	}
	testbin.AssertNothingRuns(t, job.CacheDir)
}

// ranges builds the job (its output begun, as a run begins it), cuts its
// inputs into chunks of about 1 KiB (6 at least) and checks its
// duplicates, for a test that plays the runner.
func ranges(t *testing.T, job grid.Job) (*beamgrid.Plan, []beamgrid.Chunk) {
	t.Helper()
	plan, chunks := chunked(t, job, 1<<10)
	if len(chunks) < 6 {
		t.Fatalf("%d chunks", len(chunks))
	}
	return plan, chunks
}

// chunked is ranges with chunks of about splitBytes, however many.
func chunked(t *testing.T, job grid.Job, splitBytes int64) (*beamgrid.Plan, []beamgrid.Chunk) {
	t.Helper()
	ctx := t.Context()
	_, s := beam.NewPipelineWithRoot()
	plan, err := beamgrid.Build(ctx, s, job, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plan.Unlock(ctx) })
	chunks, err := beamgrid.Chunks(ctx, plan, splitBytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := beamgrid.CheckDups(ctx, plan, chunks, 0); err != nil {
		t.Fatal(err)
	}
	return plan, chunks
}

// splitting is a tracker that the runner splits at half its rest when
// the range claims its n-th position: what Dataflow's rebalancing and
// prism's split of a slow bundle do while the range runs.
type splitting struct {
	*offsetrange.Tracker
	n, claims int
	residual  *offsetrange.Restriction
}

func (s *splitting) TryClaim(pos any) bool {
	ok := s.Tracker.TryClaim(pos)
	if s.claims++; ok && s.claims == s.n {
		if _, r, err := s.Tracker.TrySplit(0.5); err == nil && r != nil {
			rest := r.(offsetrange.Restriction)
			s.residual = &rest
		}
	}
	return ok
}

// One range fails after part or all of its work took effect, and the
// runner retries that range alone, while every other range's files stand:
// the output holds each element once, as the local engine writes it. The
// retry may be split where the first attempt was not.
func TestARetriedRangeReplacesItsFailedAttempt(t *testing.T) {
	closeWorkers(t)
	base := splitJob(t)
	_, want := local(t, base)
	for _, c := range []struct {
		name string
		run  func(beamgrid.Batch) error
		rng  func(int64) error
		// split splits the retry when it claims its split-th row.
		split int
	}{
		{name: "a batch of the range fails", run: failOnce[beamgrid.Batch](1)},
		{name: "the range fails once its files are in place", rng: failOnce[int64](1)},
		{name: "the retry is split", rng: failOnce[int64](1), split: 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			job := base
			job.Output = filepath.Join(t.TempDir(), "beam")
			plan, chunks := ranges(t, job)
			ctx := t.Context()
			victim := len(chunks) / 2
			for i, ch := range chunks {
				restore := func() {}
				if i == victim {
					restore = beamgrid.SetHooks(c.run, func(_ int, start int64) error {
						if c.rng == nil {
							return nil
						}
						return c.rng(start)
					})
				}
				rest := beamgrid.Restriction(ch)
				_, err := beamgrid.RunRange(ctx, plan, ch, offsetrange.NewTracker(rest))
				restore()
				if (i == victim) != (err != nil) || err != nil && !errors.Is(err, errInjected) && !strings.Contains(err.Error(), errInjected.Error()) {
					t.Fatalf("range %d: %v", i, err)
				}
			}
			// The runner's retry of the failed range.
			ch := chunks[victim]
			rt := &splitting{Tracker: offsetrange.NewTracker(beamgrid.Restriction(ch)), n: c.split}
			if _, err := beamgrid.RunRange(ctx, plan, ch, rt); err != nil {
				t.Fatal(err)
			}
			if c.split > 0 {
				if rt.residual == nil {
					t.Fatal("the retry was not split")
				}
				if _, err := beamgrid.RunRange(ctx, plan, ch, offsetrange.NewTracker(*rt.residual)); err != nil {
					t.Fatal(err)
				}
			}
			sameOutcomes(t, readOutputs(t, job.Output), want)
			entries, _ := os.ReadDir(job.Output)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp") {
					t.Errorf("left in the output: %s", e.Name())
				}
			}
			testbin.AssertNothingRuns(t, job.CacheDir)
		})
	}
}

// A range split while it runs ends at the split point, the residual
// carries on from there on another worker, and every row is in exactly
// one of them, wherever the split falls.
func TestARangeSplitWhileItRunsLosesAndRepeatsNothing(t *testing.T) {
	closeWorkers(t)
	base := splitJob(t)
	_, want := local(t, base)
	job := base
	job.Output = filepath.Join(t.TempDir(), "beam")
	plan, chunks := ranges(t, job)
	ctx := t.Context()
	splits := 0
	for i, ch := range chunks {
		// Split each chunk's range at another row, and the residuals
		// again, until a range runs unsplit.
		todo := []offsetrange.Restriction{beamgrid.Restriction(ch)}
		for len(todo) > 0 {
			rest := todo[0]
			todo = todo[1:]
			rt := &splitting{Tracker: offsetrange.NewTracker(rest), n: 1 + (i+splits)%4}
			tally, err := beamgrid.RunRange(ctx, plan, ch, rt)
			if err != nil {
				t.Fatal(err)
			}
			if rt.residual != nil {
				splits++
				todo = append(todo, *rt.residual)
				if tally.Rows == 0 {
					t.Errorf("a primary of chunk %d read no row", i)
				}
			}
		}
	}
	if splits < len(chunks) {
		t.Errorf("%d splits of %d chunks", splits, len(chunks))
	}
	got := readOutputs(t, job.Output)
	sameOutcomes(t, got, want)
	var files int
	testbin.ScanLines(t, job.Output, "results-*.jsonl", func(where string, _ []byte) {
		if strings.HasSuffix(where, ":1") {
			files++
		}
	})
	if files < len(chunks)+splits/2 {
		t.Errorf("%d results files for %d chunks split %d times", files, len(chunks), splits)
	}
}

// A gzipped input cannot be read from the middle: it is one range, read
// from its start, with the local engine's outcomes.
func TestAGzippedInputIsOneRange(t *testing.T) {
	closeWorkers(t)
	lines := testbin.FaultyTasks(300, map[int]string{77: "throw"})
	lines = append(lines, `{"id":"e003","x":1}`, `not json`)
	input := testbin.WriteGzipLines(t, "tasks.jsonl.gz", lines...)
	job := grid.Job{
		Binary: testbin.Path(t, "faulty"), CacheDir: t.TempDir(), Inputs: []string{input},
		Parallelism: 2, BatchSize: 20,
	}
	job.Env = testbin.Own(job.Env, job.CacheDir)
	_, want := local(t, job)
	job.Output = filepath.Join(t.TempDir(), "beam")
	m, err := runBeam(t, job, &beamgrid.BuildOptions{SplitBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	sameOutcomes(t, readOutputs(t, job.Output), want)
	if len(want.dead) != 3 || len(m.ResultFiles) != 1 || m.Inputs[0].Rows != 302 {
		t.Errorf("%d dead letters; manifest: result files %v, inputs %+v", len(want.dead), m.ResultFiles, m.Inputs)
	}
}

// The ranges one process runs at once share its --parallelism + 1 places
// for batches, however many the runner gives it: with every batch held
// as it starts, no more than that many start, and once they go on every
// range finishes with the local engine's outcomes.
func TestTheRangesOfAProcessShareItsBatchesInFlight(t *testing.T) {
	closeWorkers(t)
	base := splitJob(t) // parallelism 2: 3 places
	_, want := local(t, base)
	job := base
	job.Output = filepath.Join(t.TempDir(), "beam")
	plan, chunks := ranges(t, job)
	ctx := t.Context()
	var started atomic.Int64
	release := make(chan struct{})
	defer beamgrid.SetHooks(func(beamgrid.Batch) error {
		started.Add(1)
		<-release
		return nil
	}, nil)()
	errs := make(chan error, len(chunks))
	for _, ch := range chunks {
		go func() {
			_, err := beamgrid.RunRange(ctx, plan, ch, offsetrange.NewTracker(beamgrid.Restriction(ch)))
			errs <- err
		}()
	}
	deadline := time.Now().Add(time.Minute)
	for started.Load() < int64(base.Parallelism+1) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	// A range that could start a batch beyond the places would have by
	// now: each has its first batch's rows read in microseconds.
	time.Sleep(200 * time.Millisecond)
	n := started.Load()
	close(release)
	for range chunks {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n != int64(base.Parallelism+1) {
		t.Errorf("%d batches started at once by %d ranges, want %d", n, len(chunks), base.Parallelism+1)
	}
	sameOutcomes(t, readOutputs(t, job.Output), want)
}
