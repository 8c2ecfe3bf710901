package beamgrid_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"

	"github.com/gridrun/gridrun/beamgrid"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

// slowTailJob is a job of 121 rows in batches of 40 whose last batch is
// slow in its tail (its last 20 elements sleep), with an element error,
// a crash and a bad row among the others.
func slowTailJob(t *testing.T, sleepMS int) grid.Job {
	t.Helper()
	faults := map[int]string{7: "throw", 30: "segv"}
	for i := 100; i < 120; i++ {
		faults[i] = "sleep:" + strconv.Itoa(sleepMS)
	}
	lines := slices.Insert(testbin.FaultyTasks(120, faults), 50, "not json")
	job := grid.Job{
		Binary: testbin.Path(t, "faulty"), CacheDir: t.TempDir(),
		Inputs:      []string{testbin.WriteLines(t, "tasks.jsonl", lines...)},
		Parallelism: 2, BatchSize: 40, FixedBatchSize: true,
	}
	job.Env = testbin.Own(job.Env, job.CacheDir)
	return job
}

// Prism splits a bundle that makes no progress. A range whose last batch
// is slow in its tail is split while that batch's call runs: the call is
// stopped between elements, the elements it had not begun go to another
// bundle or run again in this one, and every row has its outcome once,
// the local engine's.
func TestPrismSplitsAStragglingCall(t *testing.T) {
	closeWorkers(t)
	job := slowTailJob(t, 300)
	_, want := local(t, job)
	if len(want.results) != 118 || len(want.dead) != 3 {
		t.Fatalf("the local engine: %d results, %d dead letters", len(want.results), len(want.dead))
	}
	job.Output = filepath.Join(t.TempDir(), "beam")
	m, err := runBeam(t, job, &beamgrid.BuildOptions{Runner: "prism"})
	if err != nil {
		t.Fatal(err)
	}
	sameOutcomes(t, readOutputs(t, job.Output), want)
	t.Logf("%d runner splits, %d of them stopped a call; result files %v", m.RunnerSplits, m.RunnerCallSplits, m.ResultFiles)
	if m.RunnerCallSplits < 1 {
		t.Errorf("no split stopped a call: %d runner splits, files %v", m.RunnerSplits, m.ResultFiles)
	}
	if m.Status != "dead_letters" || m.Inputs[0].Rows != 121 || m.Elements != 121 || len(m.ResultFiles) < 2 {
		t.Errorf("manifest: status %s, rows %d, elements %d, result files %v", m.Status, m.Inputs[0].Rows, m.Elements, m.ResultFiles)
	}
	testbin.AssertNothingRuns(t, job.CacheDir)
}

// A range split while its one batch's call is on a slow element, as a
// runner splits from another goroutine: the call is stopped there, the
// elements it had not begun before the split point run again in the
// range, those past it in the residual, and the two give the local
// engine's outcomes, each once.
func TestASplitStopsTheRunningCall(t *testing.T) {
	closeWorkers(t)
	faults := map[int]string{5: "throw", 20: "stuck-first:1000", 33: "throw"}
	for i := 21; i < 40; i++ {
		if faults[i] == "" {
			faults[i] = "sleep:100"
		}
	}
	lines := slices.Insert(testbin.FaultyTasks(40, faults), 2, "not json")
	job := grid.Job{
		Binary: testbin.Path(t, "faulty"), CacheDir: t.TempDir(),
		Inputs:      []string{testbin.WriteLines(t, "tasks.jsonl", lines...)},
		Parallelism: 2, BatchSize: 100, FixedBatchSize: true, // one batch, one call
	}
	withState := func(job grid.Job, dir string) grid.Job {
		job.Env = testbin.Own([]string{"FAULTY_STATE_DIR=" + dir}, job.CacheDir)
		return job
	}
	_, want := local(t, withState(job, t.TempDir()))
	state := t.TempDir()
	job = withState(job, state)
	job.Output = filepath.Join(t.TempDir(), "beam")

	ctx := t.Context()
	plan, chunks := chunked(t, job, 1<<20)
	if len(chunks) != 1 {
		t.Fatalf("%d chunks", len(chunks))
	}
	rt := sdf.NewLockRTracker(beamgrid.NewRangeTracker(beamgrid.Restriction(chunks[0])))
	type ran struct {
		tally beamgrid.Tally
		err   error
	}
	done := make(chan ran, 1)
	go func() {
		tally, err := beamgrid.RunRange(ctx, plan, chunks[0], rt)
		done <- ran{tally, err}
	}()
	// e020 has begun when its first run leaves its marker.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(state, "e020")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("e020 never began")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, r, err := rt.TrySplit(0.5)
	if err != nil || r == nil {
		t.Fatalf("no split: %v", err)
	}
	primary := <-done
	if primary.err != nil {
		t.Fatal(primary.err)
	}
	residual, err := beamgrid.RunRange(ctx, plan, chunks[0], beamgrid.NewRangeTracker(r.(offsetrange.Restriction)))
	if err != nil {
		t.Fatal(err)
	}
	if primary.tally.CallSplits != 1 || primary.tally.RunnerSplits != 1 || residual.RunnerSplits != 0 {
		t.Errorf("splits: primary %d (%d stopped a call), residual %d", primary.tally.RunnerSplits, primary.tally.CallSplits, residual.RunnerSplits)
	}
	if primary.tally.Rows+residual.Rows != 41 || residual.Rows == 0 {
		t.Errorf("rows: primary %d, residual %d, of 41", primary.tally.Rows, residual.Rows)
	}
	sameOutcomes(t, readOutputs(t, job.Output), want)
	testbin.AssertNothingRuns(t, job.CacheDir)
}
