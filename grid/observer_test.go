package grid_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
	"github.com/gridrun/gridrun/outdir"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu              sync.Mutex
	start           *grid.JobStart
	starts, ends    int
	running         int // started less ended
	maxRun, minRun  int // of JobStart.Running as calls start
	startedElems    int
	endedElems      int
	badSlot         int
	results         int64
	dead            map[string]int64
	counted         []int64
	afterEnd        func(ends int) // called with the count of calls ended
	eventsBeforeJob int
	slots           int
}

func (r *recorder) JobStarted(s grid.JobStart) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start != nil || r.starts+r.ends > 0 || r.results > 0 || len(r.dead) > 0 {
		r.eventsBeforeJob++
	}
	r.start, r.slots, r.minRun = &s, s.Slots, s.Slots
}

func (r *recorder) CallStarted(slot, elements int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start == nil {
		r.eventsBeforeJob++
	}
	if slot < 0 || slot >= r.slots {
		r.badSlot++
	}
	r.starts++
	r.running++
	r.maxRun = max(r.maxRun, r.start.Running())
	r.minRun = min(r.minRun, r.start.Running())
	r.startedElems += elements
}

func (r *recorder) CallEnded(rec grid.CallRecord) {
	r.mu.Lock()
	r.ends++
	r.running--
	r.endedElems += rec.Elements
	n, after := r.ends, r.afterEnd
	r.mu.Unlock()
	if after != nil {
		after(n)
	}
}

func (r *recorder) Settled(kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if kind == "" {
		r.results++
		return
	}
	if r.dead == nil {
		r.dead = map[string]int64{}
	}
	r.dead[kind]++
}

func (r *recorder) InputCounted(rows int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counted = append(r.counted, rows)
}

// A job stopped after a few calls and resumed: each run's observer is told
// of every call (a start, then an end) and every outcome, and what it was
// told adds up to the manifests: the resumed run starts from what the first
// committed, and ends at the job's totals, which the input decides.
func TestTheObserverIsToldOfEveryCallAndOutcome(t *testing.T) {
	t.Parallel()
	f := setup(t)
	// 200 tasks: three crash, two throw; and a row that is no task.
	lines := testbin.FaultyTasks(200, map[int]string{10: "segv", 70: "segv", 130: "segv", 40: "throw", 160: "throw"})
	lines = append(lines, `{"id":"bad","x":"not a number"}`)
	in := testbin.WriteLines(t, "tasks.jsonl", lines...)
	wantKinds := map[string]int64{grid.KindCrash: 3, grid.KindElementError: 2, grid.KindBadInput: 1}
	const wantResults, wantRows = 195, 201

	job := f.job(f.faulty, in)
	job.BatchSize, job.FixedBatchSize = 20, true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := &recorder{afterEnd: func(n int) {
		if n == 3 {
			cancel()
		}
	}}
	hooks := func(o grid.Observer) *grid.Hooks {
		return &grid.Hooks{Logger: slog.New(slog.DiscardHandler), Observer: o}
	}
	m1, err := grid.Run(ctx, job, hooks(first))
	if err == nil || m1 == nil || m1.Status != "cancelled" {
		t.Fatalf("first run: %v, manifest %+v; want it cancelled", err, m1)
	}
	checkRun(t, "first run", first, m1)
	if first.start.Run != 1 || first.start.Results != 0 || len(first.start.DeadLetters) != 0 {
		t.Errorf("first run started as %+v, want run 1 with nothing resumed", *first.start)
	}

	job.Resume = true
	second := &recorder{}
	m2, err := grid.Run(context.Background(), job, hooks(second))
	if err != nil {
		t.Fatal(err)
	}
	checkRun(t, "second run", second, m2)
	if s := second.start; s.Run != 2 || s.Results != m1.Results || !maps.Equal(s.DeadLetters, m1.DeadLettersByKind) {
		t.Errorf("second run started as %+v, want run 2 after the first's %d results and %v", *s, m1.Results, m1.DeadLettersByKind)
	}
	if m2.Results != wantResults || !maps.Equal(m2.DeadLettersByKind, wantKinds) {
		t.Errorf("the job ended with %d results and %v, want %d and %v", m2.Results, m2.DeadLettersByKind, wantResults, wantKinds)
	}
	if len(second.counted) != 1 || second.counted[0] != wantRows {
		t.Errorf("the second run counted the input as %v, want once %d rows", second.counted, wantRows)
	}
	// The timeline has a line per ended call of each run, as the observer had.
	perRun := map[int]int{}
	tl, err := os.Open(filepath.Join(job.Output, m2.Timeline))
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	sc := bufio.NewScanner(tl)
	for sc.Scan() {
		var rec outdir.TimelineRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("timeline line %q: %v", sc.Bytes(), err)
		}
		if rec.Event == outdir.EventCall {
			perRun[rec.Run]++
		}
	}
	if perRun[1] != first.ends || perRun[2] != second.ends {
		t.Errorf("the timeline has %v calls per run, the observers saw %d and %d", perRun, first.ends, second.ends)
	}
}

// checkRun checks what an observer saw of one run against its manifest.
func checkRun(t *testing.T, run string, r *recorder, m *grid.Manifest) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start == nil || r.eventsBeforeJob > 0 {
		t.Errorf("%s: JobStarted %v, %d events before it; want it once, first", run, r.start, r.eventsBeforeJob)
		return
	}
	if r.start.JobID != m.JobID || r.start.Slots != m.Options.Parallelism {
		t.Errorf("%s: started as %+v, the manifest says job %s with %d slots", run, *r.start, m.JobID, m.Options.Parallelism)
	}
	if int64(r.starts) != m.Calls || r.ends != r.starts || r.running != 0 {
		t.Errorf("%s: %d calls started and %d ended, the manifest says %d calls", run, r.starts, r.ends, m.Calls)
	}
	if r.startedElems != r.endedElems || r.maxRun > r.slots || r.minRun < 1 || r.badSlot > 0 {
		t.Errorf("%s: %d elements in calls started, %d in calls ended; %d to %d calls running as one started, in %d slots; %d outside them",
			run, r.startedElems, r.endedElems, r.minRun, r.maxRun, r.slots, r.badSlot)
	}
	// What this run settled, plus what it resumed, is what the manifest
	// counts: every outcome written is committed at the end.
	if got := r.start.Results + r.results; got != m.Results {
		t.Errorf("%s: %d results resumed and %d settled, the manifest says %d", run, r.start.Results, r.results, m.Results)
	}
	kinds := maps.Clone(r.start.DeadLetters)
	if kinds == nil {
		kinds = map[string]int64{}
	}
	for k, n := range r.dead {
		kinds[k] += n
	}
	if !maps.Equal(kinds, m.DeadLettersByKind) && (len(kinds) > 0 || len(m.DeadLettersByKind) > 0) {
		t.Errorf("%s: dead letters %v resumed and %v settled, the manifest says %v", run, r.start.DeadLetters, r.dead, m.DeadLettersByKind)
	}
}
