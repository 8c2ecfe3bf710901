package grid_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

type callRecord struct {
	Event    string `json:"event"`
	Slot     int    `json:"slot"`
	Reason   string `json:"reason"`
	Elements int    `json:"elements"`
	Results  int    `json:"results"`
	Stopped  bool   `json:"stopped"`
}

func timeline(t *testing.T, out string) []callRecord {
	t.Helper()
	f, err := os.Open(filepath.Join(out, "_gridrun", "timeline.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var calls []callRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var c callRecord
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if c.Event == "" { // a call that ended, not its start or a run's
			calls = append(calls, c)
		}
	}
	return calls
}

// computed is the number of elements the calls produced results for: more
// than the elements means some were computed twice.
func computed(calls []callRecord) (n int) {
	for _, c := range calls {
		n += c.Results
	}
	return n
}

// One batch on two slots: the idle slot gets the part of the batch the
// running call has not begun, and no element is computed twice.
func TestAStragglingCallIsSplitForTheIdleSlot(t *testing.T) {
	t.Parallel()
	for _, persistent := range []bool{false, true} {
		t.Run(map[bool]string{false: "call", true: "worker"}[persistent], func(t *testing.T) {
			t.Parallel()
			splitCase(t, persistent)
		})
	}
}

func splitCase(t *testing.T, persistent bool) {
	f := setup(t)
	faults := map[int]string{}
	for i := range 40 {
		faults[i] = "sleep:40"
	}
	job := f.job(f.faulty, testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(40, faults)...))
	job.BatchSize, job.FixedBatchSize = 100, true // one call to start with
	job.Persistent = persistent
	job.Env = testbin.Own(job.Env, job.CacheDir)
	m, err := grid.Run(context.Background(), job, quiet)
	if err != nil {
		t.Fatal(err)
	}
	o := readOutputs(t, job.Output)
	calls := timeline(t, job.Output)
	if len(o.results) != 40 || m.Splits < 1 {
		t.Fatalf("%d results, %d splits", len(o.results), m.Splits)
	}
	if n := computed(calls); n != 40 {
		t.Fatalf("%d elements computed for 40", n)
	}
	slots := map[int]bool{}
	for _, c := range calls {
		slots[c.Slot] = true
	}
	if len(slots) != 2 || calls[0].Reason != "batch" || !calls[0].Stopped {
		t.Fatalf("calls %+v: want the batch stopped early and both slots used", calls)
	}
	testbin.AssertNothingRuns(t, job.CacheDir)
}

// An element stuck on its first run is backed up on the idle slot; the
// backup wins and the stuck call is killed.
func TestABackupReplacesAStuckElement(t *testing.T) {
	t.Parallel()
	for _, persistent := range []bool{false, true} {
		t.Run(map[bool]string{false: "call", true: "worker"}[persistent], func(t *testing.T) {
			t.Parallel()
			backupCase(t, persistent)
		})
	}
}

func backupCase(t *testing.T, persistent bool) {
	f := setup(t)
	faults := map[int]string{59: "stuck-first:60000"}
	job := f.job(f.faulty, testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(60, faults)...))
	job.Env = []string{"FAULTY_STATE_DIR=" + t.TempDir()}
	job.Env = testbin.Own(job.Env, job.CacheDir)
	job.Persistent = persistent
	done := make(chan struct{})
	var m *grid.Manifest
	var err error
	go func() {
		defer close(done)
		m, err = grid.Run(context.Background(), job, quiet)
	}()
	select {
	case <-done:
	case <-time.After(50 * time.Second):
		t.Fatal("the stuck element held the job: no backup")
	}
	if err != nil {
		t.Fatal(err)
	}
	o := readOutputs(t, job.Output)
	if len(o.results) != 60 || m.Backups != 1 {
		t.Fatalf("%d results, %d backups", len(o.results), m.Backups)
	}
	// The stuck run of e059 never produced its result: it was killed, and
	// no element was computed twice.
	calls := timeline(t, job.Output)
	var backup bool
	for _, c := range calls {
		backup = backup || c.Reason == "backup" && c.Results == 1
	}
	if !backup || computed(calls) != 60 {
		t.Fatalf("timeline %+v: want a backup with 1 result and 60 elements computed", calls)
	}
	testbin.AssertNothingRuns(t, job.CacheDir)
}

// When the original finishes first, the backup is the one killed.
func TestALosingBackupIsKilled(t *testing.T) {
	t.Parallel()
	f := setup(t)
	faults := map[int]string{59: "stuck-later:60000"}
	job := f.job(f.faulty, testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(60, faults)...))
	job.Env = []string{"FAULTY_STATE_DIR=" + t.TempDir()}
	job.Env = testbin.Own(job.Env, job.CacheDir)
	m, err := grid.Run(context.Background(), job, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if len(readOutputs(t, job.Output).results) != 60 || m.Backups != 1 {
		t.Fatalf("backups %d", m.Backups)
	}
	var killed bool
	for _, c := range timeline(t, job.Output) {
		killed = killed || c.Reason == "backup" && c.Stopped && c.Results == 0
	}
	if !killed {
		t.Fatalf("timeline %+v: want the backup killed", timeline(t, job.Output))
	}
	testbin.AssertNothingRuns(t, job.CacheDir)
}

// Cheap elements get bigger batches than the first ones, and fewer calls.
func TestBatchesAdaptToTheElementCost(t *testing.T) {
	t.Parallel()
	f := setup(t)
	job := f.job(f.faulty, testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(3000, nil)...))
	job.BatchSize = 10
	job.TargetCallDuration = grid.Duration(50 * time.Millisecond)
	m, err := grid.Run(context.Background(), job, quiet)
	if err != nil {
		t.Fatal(err)
	}
	s := m.AdaptiveBatchSizes
	if s.Min < 1 || s.Max < 100 || m.Calls >= 300 {
		t.Fatalf("batch sizes %+v in %d calls: want batches grown past 100 and far fewer than 300 calls", s, m.Calls)
	}
	if len(readOutputs(t, job.Output).results) != 3000 {
		t.Fatal("results missing")
	}
}
