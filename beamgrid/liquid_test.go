package beamgrid_test

import (
	"path/filepath"
	"slices"
	"strconv"
	"testing"

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
