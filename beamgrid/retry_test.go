// Beam's worker harness races with itself while it shuts down the bundles
// of a job prism failed (in its own code: harness.go closes a channel its
// instruction goroutines still send on, and two goroutines read one data
// stream), which these tests make happen on purpose. The race detector
// reports that as a failure of the test, so they run without it: make test
// runs them on their own.

//go:build !race

package beamgrid_test

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/beamgrid"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

// A bundle that fails after some of its work took effect (batches ran,
// output files were written into place) and runs again leaves every
// element once in the output. Prism fails the job on a failed bundle
// rather than retrying it, so the retry here is the job run again into
// the same output (--resume): every bundle runs again over what the
// failed one left, which is what a runner's retry of that bundle does.
func TestRetriedBundlesLeaveNoDuplicate(t *testing.T) {
	closeWorkers(t)
	input := testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(150, map[int]string{20: "segv", 99: "throw"})...)
	job := grid.Job{
		Binary: testbin.Path(t, "faulty"), CacheDir: t.TempDir(), Inputs: []string{input},
		Parallelism: 2, BatchSize: 20,
	}
	job.Env = testbin.Own(job.Env, job.CacheDir)
	_, want := local(t, job)

	for _, c := range []struct {
		name string
		run  func(beamgrid.Batch) error
		rng  func(int, int64) error
		// wrote is whether the failed run left output files.
		wrote bool
	}{
		{name: "a batch fails while others run", run: failOnce[beamgrid.Batch](3)},
		// The first shard's results and dead letters are in place when
		// its bundle fails.
		{name: "a range fails once its files are in place", rng: func(int, int64) error { return errInjected }, wrote: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			job := job
			job.Output = filepath.Join(t.TempDir(), "beam")
			opts := &beamgrid.BuildOptions{Shards: 3}
			restore := beamgrid.SetHooks(c.run, c.rng)
			_, err := runBeam(t, job, opts)
			restore()
			if err == nil || !strings.Contains(err.Error(), errInjected.Error()) {
				t.Fatalf("first run: %v, want the injected failure", err)
			}
			testbin.AssertNothingRuns(t, job.CacheDir)
			if left, _ := filepath.Glob(filepath.Join(job.Output, "*-0000*-*.jsonl")); (len(left) > 0) != c.wrote {
				t.Fatalf("the failed run left %v", left)
			}

			job.Resume = true
			m, err := runBeam(t, job, opts)
			if err != nil {
				t.Fatal(err)
			}
			got := readOutputs(t, job.Output) // fails on a duplicate
			if !maps.Equal(got.results, want.results) || len(got.dead) != len(want.dead) {
				t.Errorf("%d results and %d dead letters; the local engine: %d and %d",
					len(got.results), len(got.dead), len(want.results), len(want.dead))
			}
			if m.Runs != 2 || m.Elements != 150 || m.Results != int64(len(want.results)) || m.Status != "dead_letters" {
				t.Errorf("manifest: %+v", m)
			}
			entries, _ := os.ReadDir(job.Output)
			for _, e := range entries {
				if n := e.Name(); strings.Contains(n, ".tmp") {
					t.Errorf("left in the output: %s", n)
				}
			}
			testbin.AssertNothingRuns(t, job.CacheDir)
		})
	}
}
