package grid

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/gridrun/gridrun/wrapper"
)

// scheduler fights stragglers the way "No Shard Left Behind" does: rather
// than predict them, it watches the running calls and, when slots would
// otherwise go idle at the end of the input,
//
//   - splits the call with the most elements not yet begun: SIGTERM, and as
//     soon as the binary answers how far it got (Result.stopping), the rest
//     goes back to the pool, divided among the idle slots, while the binary
//     finishes the element it is on. Nothing is computed twice.
//   - backs up an element that has run far longer than the job's element
//     times predict (a quantile, not a fixed timeout): the element also runs
//     alone in an idle slot; the first result wins and the loser is killed.
//     Backups take at most a tenth of the slots (at least one).
type scheduler struct {
	x     *Executor
	q     *queue
	slots int
	// enabled: the binary streams its results in batch order and stops
	// between elements on SIGTERM, which splits and backups rely on.
	enabled bool
	grace   time.Duration
	// worth says whether handing on left elements is worth a call, given
	// the mean element time seen so far.
	worth func(left int, elementMean float64) bool

	mu      sync.Mutex
	live    map[wrapper.Running]*liveCall
	backups int
}

type liveCall struct {
	task       *Task
	call       wrapper.Running
	preempting bool
	backedUp   int // index of the element backed up, or -1
	backup     wrapper.Running
}

// Backups need this many element times to trust the distribution.
const minSamplesForBackup = 20

func newScheduler(x *Executor, q *queue, slots int, enabled bool, grace time.Duration, worth func(int, float64) bool) *scheduler {
	return &scheduler{x: x, q: q, slots: slots, enabled: enabled, grace: grace, worth: worth, live: map[wrapper.Running]*liveCall{}}
}

// started registers a running call of t.
func (s *scheduler) started(t *Task) func(wrapper.Running) {
	return func(c wrapper.Running) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.live[c] = &liveCall{task: t, call: c, backedUp: -1}
		if t.backup != nil {
			s.backups++
			if orig := s.live[t.backup]; orig != nil {
				orig.backup = c
			}
		}
	}
}

// ended unregisters the calls of t; after a backup, it ends whichever of
// the pair lost.
func (s *scheduler) ended(t *Task) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, lc := range s.live {
		if lc.task != t {
			continue
		}
		delete(s.live, c)
		if t.backup == nil {
			if lc.backup != nil {
				lc.backup.Kill() // the original finished first
			}
			continue
		}
		s.backups--
		orig := s.live[t.backup]
		if orig == nil {
			continue
		}
		orig.backup = nil
		if e := orig.task.Elements[orig.backedUp]; e.settled.Load() && !orig.preempting {
			// The backup won: the original is stuck on an element that has
			// its outcome. Hand its remainder on and kill it.
			orig.preempting = true
			go s.preempt(orig, true)
		}
	}
}

// run watches the calls until ctx is done.
func (s *scheduler) run(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.step()
		}
	}
}

func (s *scheduler) step() {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A backed-up element the original has since finished: the backup lost.
	for _, lc := range s.live {
		if lc.backup != nil && lc.call.Completed() > lc.backedUp {
			lc.backup.Kill()
			lc.backup = nil
		}
	}
	// The pool has one worker more than slots, to prepare the next batch;
	// beyond that one, a waiting worker is an idle slot.
	idle := min(s.q.idle()-1, s.slots-s.x.Running())
	if !s.enabled || idle <= 0 {
		return
	}
	{
		var best *liveCall
		bestLeft := 0
		for _, lc := range s.live {
			if lc.preempting || lc.task.backup != nil {
				continue
			}
			// Elements not begun: all but those done and the one it is on.
			if left := len(lc.task.Elements) - lc.call.Completed() - 1; left > bestLeft {
				best, bestLeft = lc, left
			}
		}
		if best != nil && s.worth(bestLeft, s.x.elementTime.Mean()) {
			best.preempting = true
			go s.preempt(best, false)
			return
		}
	}
	s.backupStraggler()
}

// backupStraggler starts a backup of the element that has run longest, if
// it has run far longer than elements do. s.mu is held.
func (s *scheduler) backupStraggler() {
	if s.backups >= max(1, s.slots/10) || s.x.elementTime.Count() < minSamplesForBackup {
		return
	}
	// Far longer: four times the 99th percentile, and at least a tenth of
	// a second, below which a backup's own start costs more than it saves.
	threshold := time.Duration(math.Max(0.1, 4*s.x.elementTime.Quantile(0.99)) * float64(time.Second))
	var oldest *liveCall
	var oldestAge time.Duration
	for _, lc := range s.live {
		if lc.preempting || lc.task.backup != nil || lc.backedUp >= 0 {
			continue
		}
		i, since := lc.call.Current()
		if i >= len(lc.task.Elements) || lc.task.Elements[i].settled.Load() {
			continue
		}
		if age := time.Since(since); age > threshold && age > oldestAge {
			oldest, oldestAge = lc, age
		}
	}
	if oldest == nil {
		return
	}
	i, _ := oldest.call.Current()
	oldest.backedUp = i
	b := oldest.task.sub(oldest.task.Elements[i:i+1], "backup")
	b.backup = oldest.call
	s.x.backups.Add(1)
	s.q.add([]*Task{b})
}

// preempt stops a call and, once the binary says how far it got, hands the
// elements it will not begin back to the pool, divided among the idle
// slots; with kill, it then kills the call.
func (s *scheduler) preempt(lc *liveCall, kill bool) {
	lc.call.Stop()
	t := time.NewTimer(s.grace)
	defer t.Stop()
	select {
	case <-lc.call.Acked():
	case <-lc.call.Exited():
	case <-t.C:
	}
	if idx := lc.call.Release(); len(idx) > 0 {
		elems := make([]*Element, len(idx))
		for i, k := range idx {
			elems[i] = lc.task.Elements[k]
		}
		parts := min(len(elems), max(1, s.slots-s.x.Running()+1))
		tasks := make([]*Task, 0, parts)
		for p := range parts {
			lo, hi := p*len(elems)/parts, (p+1)*len(elems)/parts
			tasks = append(tasks, lc.task.sub(elems[lo:hi], "split"))
		}
		s.x.splits.Add(1)
		s.q.add(tasks)
	}
	if kill {
		lc.call.Kill()
	}
}
