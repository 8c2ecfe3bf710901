// These jobs fail on purpose, which makes Beam's worker harness race with
// itself (see retry_test.go): they run without the race detector.

//go:build !race

package beamgrid_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/beamgrid"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

// The loader line of a dynamically linked binary on a worker image
// without libstdc++ (Beam's Go SDK image), as glibc's ld.so prints it.
const loaderLine = "faulty: error while loading shared libraries: libstdc++.so.6: cannot open shared object file: No such file or directory"

// A binary that describes itself where the pipeline is built, and cannot
// run on the workers: every call exits 127 with the loader's line. The
// job fails within its first 10 calls, naming the cause, rather than
// making each of its 300 elements a crash dead letter.
func TestABinaryThatCannotRunFailsAPrismJobFast(t *testing.T) {
	closeWorkers(t)
	runs := filepath.Join(t.TempDir(), "runs")
	bin := filepath.Join(t.TempDir(), "broken")
	script := "#!/bin/sh\necho run >> " + runs + "\n" +
		"case \"$*\" in *--gridrun-describe*) exec " + testbin.Path(t, "faulty") + " \"$@\";; esac\n" +
		"echo '" + loaderLine + "' >&2\nexit 127\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	input := testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(300, nil)...)
	job := grid.Job{
		Binary: bin, CacheDir: t.TempDir(), Inputs: []string{input}, Output: filepath.Join(t.TempDir(), "beam"),
		Parallelism: 2, BatchSize: 10,
	}
	job.Env = testbin.Own(job.Env, job.CacheDir)
	_, err := runBeam(t, job, &beamgrid.BuildOptions{Shards: 4, OutputShards: 1})
	if err == nil || !strings.Contains(err.Error(), loaderLine) || !strings.Contains(err.Error(), "first 5 calls") {
		t.Fatalf("err = %v, want the job failed naming %q", err, loaderLine)
	}
	testbin.AssertNothingRuns(t, job.CacheDir)

	// What the job left behind: the binary's runs (one was its
	// description, when the pipeline was built) and the failed calls'
	// logs. The calls that tripped the check kept theirs; a call of
	// another bundle the failing job cancelled may not have.
	b, _ := os.ReadFile(runs)
	made := strings.Count(string(b), "\n") - 1
	logs, _ := filepath.Glob(filepath.Join(job.Output, "logs", "*stderr*"))
	t.Logf("%d calls made, %d stderr logs kept", made, len(logs))
	if made < grid.FailFastCalls || made > 10 || len(logs) < grid.FailFastCalls || len(logs) > made {
		t.Errorf("%d calls made, %d stderr logs kept; want %d to 10 calls, the first %[3]d with a log each", made, len(logs), grid.FailFastCalls)
	}
	if _, err := os.Stat(filepath.Join(job.Output, "manifest.json")); !os.IsNotExist(err) {
		t.Errorf("a failed job wrote its manifest: %v", err)
	}
}

// --max-dead-letters and its percentage hold on Beam per instance of the
// step that runs batches: with one shard, every batch runs in one bundle,
// so that instance sees all 30 of the 200 elements that throw (15%).
func TestDeadLetterLimitsOnPrism(t *testing.T) {
	closeWorkers(t)
	faults := map[int]string{}
	for i := 3; i < 200; i += 6 { // every 6th element from e003, the first 30
		if len(faults) < 30 {
			faults[i] = "throw"
		}
	}
	input := testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(200, faults)...)
	base := grid.Job{
		Binary: testbin.Path(t, "faulty"), CacheDir: t.TempDir(), Inputs: []string{input},
		Parallelism: 2, BatchSize: 20,
	}
	base.Env = testbin.Own(base.Env, base.CacheDir)
	for _, c := range []struct {
		name    string
		count   int64
		percent float64
		// fail is the reason the job fails with, or "" when it ends with
		// its 30 dead letters.
		fail string
	}{
		{name: "count passed", count: 10, fail: "dead letters exceed --max-dead-letters 10"},
		{name: "count held", count: 30},
		{name: "percentage passed", percent: 10, fail: "exceed --max-dead-letters 10%"},
		// 30 dead letters are at most 30% of the 100 or more elements
		// settled when the limit is checked, whatever the batches' order.
		{name: "percentage held", percent: 30},
	} {
		t.Run(c.name, func(t *testing.T) {
			job := base
			job.Output = filepath.Join(t.TempDir(), "beam")
			job.MaxDeadLetters, job.MaxDeadLetterPercent = c.count, c.percent
			m, err := runBeam(t, job, &beamgrid.BuildOptions{Shards: 1, OutputShards: 1})
			testbin.AssertNothingRuns(t, job.CacheDir)
			if c.fail != "" {
				if err == nil || !strings.Contains(err.Error(), c.fail) || !strings.Contains(err.Error(), "halted") {
					t.Fatalf("err = %v, want the job halted: %s", err, c.fail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o := readOutputs(t, job.Output)
			if len(o.results) != 170 || len(o.dead) != 30 || m.Status != "dead_letters" {
				t.Errorf("%d results, %d dead letters, status %s; want 170, 30, dead_letters", len(o.results), len(o.dead), m.Status)
			}
		})
	}
}
