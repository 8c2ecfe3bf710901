package grid_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

// The inputs' rows are counted beside the job: progress knows the exact
// total while the inputs are still being read, and names the job and the
// dead letters' kinds.
func TestProgressKnowsTheTotalBeforeTheInputsAreRead(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const n = 3000
	faults := map[int]string{0: "segv"}
	for i := 1; i < n; i++ {
		faults[i] = "sleep:5" // 15s in all, one call at a time: the job is stopped long before
	}
	job := f.job(f.faulty, testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(n, faults)...))
	job.BatchSize, job.FixedBatchSize, job.Parallelism = 5, true, 1
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu      sync.Mutex
		counted *grid.Progress
		early   []grid.Progress // snapshots before the count was known
	)
	hooks := &grid.Hooks{
		Logger:           slog.New(slog.DiscardHandler),
		ProgressInterval: time.Millisecond,
		OnProgress: func(p grid.Progress) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case counted != nil:
			case p.InputDone:
				early = append(early, p)
				cancel()
			case p.Total == n && !p.TotalEstimated && p.DeadLetters > 0:
				counted = &p
				cancel()
			default:
				early = append(early, p)
			}
		},
	}
	m, _ := grid.Run(ctx, job, hooks)
	mu.Lock()
	defer mu.Unlock()
	if counted == nil {
		t.Fatalf("no snapshot with the counted total %d and a dead letter before the inputs were read; last: %+v", n, early[len(early)-1])
	}
	if counted.RowsRead >= n {
		t.Errorf("the counted total came with %d rows read", counted.RowsRead)
	}
	if counted.JobID != m.JobID || counted.DeadLettersByKind[grid.KindCrash] < 1 {
		t.Errorf("snapshot %+v: want job %s and a crash dead letter", counted, m.JobID)
	}
	for _, p := range early {
		if p.Total != 0 && !p.TotalEstimated && p.Total != n {
			t.Errorf("a snapshot before the count gives %d as a total, not marked as estimated", p.Total)
		}
	}
}
