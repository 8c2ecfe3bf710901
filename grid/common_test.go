package grid_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

// commonRun is a job of the faulty binary over n good tasks with common
// data, and the logs its processes kept: one line per init (PID TAG), one
// per element run (PID).
type commonRun struct {
	m              *grid.Manifest
	out            outputs
	inits          []string // "PID TAG" lines
	initPIDs, runs map[string]int
}

func runWithCommon(t *testing.T, persistent bool, n int, common string) commonRun {
	t.Helper()
	f := setup(t)
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"id":"e%03d","x":%d}`, i, i)
	}
	job := f.job(f.faulty, testbin.WriteLines(t, "tasks.jsonl", lines...))
	logs := t.TempDir()
	initLog, runLog := filepath.Join(logs, "init.log"), filepath.Join(logs, "run.log")
	job.Env = []string{"FAULTY_INIT_LOG=" + initLog, "FAULTY_RUN_LOG=" + runLog}
	job.BatchSize, job.FixedBatchSize = 5, true
	// No backup calls or splits: every process is then a slot's call or
	// worker, counted below from what the processes wrote.
	job.NoSplit = true
	job.Persistent = persistent
	if common != "" {
		job.Common = testbin.WriteLines(t, "common.json", common)
	}
	m, err := grid.Run(context.Background(), job, quiet)
	if err != nil && !strings.Contains(common, "throw") {
		t.Fatal(err)
	}
	r := commonRun{m: m, out: readOutputs(t, job.Output), initPIDs: map[string]int{}, runs: map[string]int{}}
	for _, l := range readLines(t, initLog) {
		pid, _, _ := strings.Cut(l, " ")
		r.inits = append(r.inits, l)
		r.initPIDs[pid]++
	}
	for _, pid := range readLines(t, runLog) {
		r.runs[pid]++
	}
	return r
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err):
		return nil // no process wrote a line
	case err != nil:
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// checkOncePerProcess checks that every process that ran an element ran
// the init hook exactly once, with the job's tag, and returns the number
// of processes.
func (r commonRun) checkOncePerProcess(t *testing.T, tag string) int {
	t.Helper()
	for _, l := range r.inits {
		if _, got, _ := strings.Cut(l, " "); got != tag {
			t.Errorf("init saw tag %q, want %q", got, tag)
		}
	}
	for pid, n := range r.initPIDs {
		if n != 1 {
			t.Errorf("process %s ran init %d times", pid, n)
		}
	}
	for pid := range r.runs {
		if r.initPIDs[pid] != 1 {
			t.Errorf("process %s ran elements after %d inits", pid, r.initPIDs[pid])
		}
	}
	if len(r.runs) != len(r.initPIDs) {
		t.Errorf("%d processes ran init, %d ran elements", len(r.initPIDs), len(r.runs))
	}
	return len(r.runs)
}

func (r commonRun) checkResults(t *testing.T, n int) {
	t.Helper()
	if len(r.out.results) != n || len(r.out.dead) != 0 {
		t.Fatalf("%d results, %d dead letters, want %d and 0", len(r.out.results), len(r.out.dead), n)
	}
	for i := range n {
		var y struct{ Y float64 }
		if err := json.Unmarshal(r.out.results[fmt.Sprintf("e%03d", i)], &y); err != nil || y.Y != float64(2*i) {
			t.Fatalf("e%03d: %s, want y = %d", i, r.out.results[fmt.Sprintf("e%03d", i)], 2*i)
		}
	}
}

// A persistent worker gets the common data once, with its first batch:
// each worker process runs init once, however many batches it serves.
func TestCommonDataReachesAPersistentWorkerOnce(t *testing.T) {
	t.Parallel()
	const n = 200
	r := runWithCommon(t, true, n, `{"tag":"curve-a"}`)
	r.checkResults(t, n)
	procs := r.checkOncePerProcess(t, "curve-a")
	if r.m.Calls != n/5 {
		t.Errorf("%d calls, want %d batches of 5", r.m.Calls, n/5)
	}
	// Two slots, and no worker failed: at most two workers served the
	// forty calls, each initialised once.
	if procs < 1 || procs > 2 {
		t.Errorf("%d worker processes for 2 slots", procs)
	}
}

// A process per call gets the common data with its batch: one init per
// call.
func TestCommonDataReachesEachCallsProcessOnce(t *testing.T) {
	t.Parallel()
	const n = 60
	r := runWithCommon(t, false, n, `{"tag":"curve-b"}`)
	r.checkResults(t, n)
	if procs := r.checkOncePerProcess(t, "curve-b"); int64(procs) != r.m.Calls || r.m.Calls != n/5 {
		t.Errorf("%d processes for %d calls, want %d", procs, r.m.Calls, n/5)
	}
	if r.m.Common == nil || r.m.Common.Type != "faulty.Common" {
		t.Fatalf("manifest's common data: %+v", r.m.Common)
	}
	// The digest is that of the message's encoding: field 1, "curve-b".
	sum := sha256.Sum256(append([]byte{0x0a, 7}, "curve-b"...))
	if r.m.Common.SHA256 != hex.EncodeToString(sum[:]) || r.m.Common.Bytes != 9 {
		t.Errorf("manifest's common data %+v, want the sha256 of its 9 bytes %x", r.m.Common, sum)
	}
}

// A binary that declares common data still initialises once per process
// when the job gives none, on the message's defaults.
func TestInitRunsOnDefaultsWithoutCommonData(t *testing.T) {
	t.Parallel()
	r := runWithCommon(t, true, 30, "")
	r.checkResults(t, 30)
	r.checkOncePerProcess(t, "")
	if r.m.Common != nil {
		t.Errorf("manifest's common data %+v, want none", r.m.Common)
	}
}

// An init hook that throws fails every element of its process with its
// message, as element errors; it is not run again in that process.
func TestAFailedInitFailsEveryElementWithItsMessage(t *testing.T) {
	t.Parallel()
	for _, persistent := range []bool{false, true} {
		r := runWithCommon(t, persistent, 20, `{"tag":"throw"}`)
		if len(r.out.results) != 0 || len(r.out.dead) != 20 {
			t.Fatalf("persistent %v: %d results, %d dead letters, want 0 and 20", persistent, len(r.out.results), len(r.out.dead))
		}
		for id, d := range r.out.dead {
			if d.Kind != grid.KindElementError || d.Message != "init failed: common tag says throw" || d.ErrorType != "std::runtime_error" {
				t.Fatalf("persistent %v: %s: %+v", persistent, id, d)
			}
		}
		for pid, n := range r.initPIDs {
			if n != 1 {
				t.Errorf("persistent %v: process %s ran init %d times", persistent, pid, n)
			}
		}
	}
}
