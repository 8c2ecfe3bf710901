package beamgrid

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/wrapper"
)

// Liquid splitting. A range claims its rows as it reads them into
// batches, so with offsetrange's tracker a runner's split (Dataflow's
// dynamic work rebalancing, prism's split of a bundle that makes no
// progress) could only hand on rows not yet read: a batch whose call is
// slow in its tail held all of its rows to the end. liquidTracker lets a
// split fall among claimed rows that no call has begun: in a batch not
// yet started, or past the element a running call is on. The run then
// drops those rows, and a call that holds some of them is stopped
// between elements as the local engine's scheduler stops a straggler
// (SIGTERM; the binary acknowledges how many elements it began and
// finishes the one it is on). Of the elements the call hands back, those
// before the split point run again in the primary, the others are the
// residual's, read by another bundle from the chunk.
//
// Exactly once follows from one rule, applied under liquid.mu: an outcome
// is written only for a row before the range's current end, and a split
// point is always past every row whose outcome is written. A row the
// binary began before its stop arrived and that falls past the split is
// computed twice (here and in the residual) but written once: its
// outcome here is dropped.
//
// A split refuses to cut among claimed rows when the job fans rows out
// over scenarios (a block of rows runs under each scenario in turn, and
// the scenarios of one row would end up in two ranges), when the binary
// does not stop between elements on SIGTERM or stream its results in
// order, and when the job turns splitting off (NoSplit): the split then
// falls among the unclaimed rows only, as offsetrange's does.

// liquidTracker is the restriction tracker of a chunk's range: it claims
// row positions as offsetrange.Tracker does, and splits as described
// above. Its methods run under sdf.LockRTracker's lock; l has its own,
// always taken second.
type liquidTracker struct {
	rest    offsetrange.Restriction
	claimed int64 // the last position TryClaim was given, within the range or not
	last    int64 // the last position claimed: a row of the range
	stopped bool  // TryClaim has said to stop
	err     error
	l       *liquid
}

func newLiquidTracker(rest offsetrange.Restriction) *liquidTracker {
	return &liquidTracker{rest: rest, claimed: rest.Start - 1, last: rest.Start - 1, l: newLiquid(rest)}
}

// TryClaim claims a row's position, as offsetrange.Tracker's does. A
// position at or past the end stops the range without an error even when
// it is not past the last one claimed: a split may have moved the end
// back among the claimed rows.
func (t *liquidTracker) TryClaim(raw any) bool {
	if t.stopped {
		t.err = errClaimAfterStop
		return false
	}
	pos := raw.(int64)
	switch {
	case pos < t.rest.Start:
		t.stopped, t.err = true, errClaimBeforeStart
		return false
	case pos >= t.rest.End:
		t.stopped, t.claimed = true, max(t.claimed, pos)
		return false
	case pos <= t.claimed:
		t.stopped, t.err = true, errClaimBackwards
		return false
	}
	t.claimed, t.last = pos, pos
	return true
}

var (
	errClaimAfterStop   = trackerError("cannot claim work after restriction tracker returns false")
	errClaimBeforeStart = trackerError("position claimed is out of bounds of the restriction")
	errClaimBackwards   = trackerError("cannot claim a position lower than the previously claimed position")
)

type trackerError string

func (e trackerError) Error() string { return string(e) }

func (t *liquidTracker) GetError() error { return t.err }

func (t *liquidTracker) GetRestriction() any { return t.rest }

func (t *liquidTracker) IsBounded() bool { return true }

// IsDone says the range has nothing left: every row claimed and, when
// splits may stop calls, every batch's outcomes written. Until then the
// SDK still offers the range to the runner's splits.
func (t *liquidTracker) IsDone() bool {
	if t.err != nil {
		return false
	}
	done := t.claimed+1 >= t.rest.End || t.rest.Start >= t.rest.End
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	return done && (!t.l.on || len(t.l.flights) == 0)
}

// GetProgress counts as done the rows before the first one that can
// still be handed on: claimed ones with offsetrange's rules, begun or
// written ones with liquid splits.
func (t *liquidTracker) GetProgress() (done, remaining float64) {
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	from, hi := t.span()
	return float64(from - t.rest.Start), float64(max(hi-from, 0))
}

// span returns the first position a split may hand on, and one past the
// last that holds work: the end, or, once every row is claimed, the row
// after the last one. t.l.mu is held.
func (t *liquidTracker) span() (from, hi int64) {
	if !t.l.on {
		return t.claimed + 1, t.rest.End
	}
	hi = t.rest.End
	if t.stopped {
		hi = min(hi, t.last+1)
	}
	return max(t.l.frontier(), t.rest.Start), hi
}

// TrySplit splits at the given fraction of the work that can be handed on
// (at least one position of it), as offsetrange's rounds it. When the
// split point falls among claimed rows, the run's calls that hold rows at
// or past it are stopped (see liquid).
func (t *liquidTracker) TrySplit(fraction float64) (primary, residual any, err error) {
	fraction = min(max(fraction, 0), 1)
	l := t.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.err != nil || !l.on && t.stopped {
		return t.rest, nil, nil
	}
	from, hi := t.span()
	base := from - 1 // the last position kept for certain
	if hi-base <= 1 {
		return t.rest, nil, nil
	}
	p := base + int64(math.Max(math.Ceil(fraction*float64(hi-base)), 1))
	if p >= hi {
		return t.rest, nil, nil
	}
	res := offsetrange.Restriction{Start: p, End: t.rest.End}
	t.rest.End, l.end = p, p
	l.splits++
	if p <= t.last {
		stopped := false
		for fl := range l.flights {
			if fl.holdsPast(p) {
				l.stop(fl)
				stopped = true
			}
		}
		if stopped {
			l.callSplits++
		}
	}
	return t.rest, res, nil
}

// liquid is what a range's run shares with its tracker: where the range
// ends now, how far its outcomes are written, and its batches in flight
// with the calls that run them.
type liquid struct {
	mu sync.Mutex
	// on says a split may fall among claimed rows; set once by the run
	// before it starts a batch.
	on    bool
	grace time.Duration // how long a stopped call has to acknowledge
	// end is the range's end: the outcomes of rows at or past it are
	// another range's. written is one past the last row whose outcome is
	// written: no split falls before it.
	end, written int64
	flights      map[*flight]struct{}
	// splits counts the splits granted; callSplits those of them that
	// stopped a running call.
	splits, callSplits int64
}

func newLiquid(rest offsetrange.Restriction) *liquid {
	return &liquid{end: rest.End, written: rest.Start, flights: map[*flight]struct{}{}}
}

// enable turns liquid splits on or leaves them off, before the run
// starts a batch.
func (l *liquid) enable(on bool, grace time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on, l.grace = on, grace
}

// counts returns the splits granted, and those that stopped a call.
func (l *liquid) counts() (splits, calls int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.splits, l.callSplits
}

// keeps says whether a claimed row is still the range's.
func (l *liquid) keeps(pos int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return pos < l.end
}

// admit says whether a row's outcome, written at once (a bad row's dead
// letter), is the range's, and if so marks it written.
func (l *liquid) admit(pos int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pos >= l.end {
		return false
	}
	l.written = max(l.written, pos+1)
	return true
}

// launch registers a batch whose elements' rows are at pos, keeping the
// ones before the end: it returns the batch's flight and how many lead
// elements it keeps (none: no flight). With liquid splits the positions
// ascend (no scenarios); without, every claimed row is before the end.
func (l *liquid) launch(pos []int64) (*flight, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(pos)
	if l.on {
		n, _ = slices.BinarySearch(pos, l.end)
	}
	if n == 0 {
		return nil, 0
	}
	fl := &flight{l: l, pos: pos[:n]}
	l.flights[fl] = struct{}{}
	return fl, n
}

// frontier is the first position no call has begun and no outcome is
// written at or past: everything after it may be handed on. l.mu is held.
func (l *liquid) frontier() int64 {
	f := l.written
	for fl := range l.flights {
		f = max(f, fl.settled)
		if fl.call == nil || fl.finished {
			continue
		}
		if els := fl.task.Elements; len(els) > 0 {
			// A binary streaming in batch order is on the element after
			// its last result.
			k := min(fl.call.Completed(), len(els)-1)
			f = max(f, fl.pos[els[k].Source.Index]+1)
		}
	}
	return f
}

// stop stops fl's call and, once the binary has said how many elements it
// began, takes the others out of it: they end without an outcome, and the
// run runs again those still the range's (land). l.mu is held.
func (l *liquid) stop(fl *flight) {
	fl.stopped = true
	c := fl.call
	c.Stop()
	fl.stops.Add(1)
	go func() {
		defer fl.stops.Done()
		t := time.NewTimer(l.grace)
		defer t.Stop()
		select {
		case <-c.Acked():
		case <-c.Exited(): // too late to take any: the executor runs again what it did not begin
		case <-t.C: // no answer: whatever runs past the end is dropped as it lands
		}
		n := len(c.Release())
		l.mu.Lock()
		fl.released += n
		l.mu.Unlock()
	}()
}

// land takes a batch that ran out of flight: it returns the outcomes to
// write (those of rows before the end, marked written), the elements to
// run again (handed back by a stopped call, rows before the end, with
// their positions), and the number of rows dropped (past the end: a
// residual's).
func (l *liquid) land(fl *flight, b Batch, outs []grid.Outcome) (kept []grid.Outcome, again []Element, againPos []int64, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.flights, fl)
	has := make([]bool, len(fl.pos))
	kept = outs[:0]
	for _, o := range outs {
		i := o.Source.Index
		has[i] = true
		if fl.pos[i] >= l.end {
			dropped++
			continue
		}
		l.written = max(l.written, fl.pos[i]+1)
		kept = append(kept, o)
	}
	for i, ok := range has {
		switch {
		case ok:
		case fl.pos[i] >= l.end:
			dropped++
		default:
			again = append(again, b.Elements[i])
			againPos = append(againPos, fl.pos[i])
		}
	}
	return kept, again, againPos, dropped
}

// flight is a batch of a range from its start until its outcomes are
// written.
type flight struct {
	l   *liquid
	pos []int64 // the row position of each element of the batch
	// Under l.mu:
	settled  int64           // one past the furthest row with an outcome
	call     wrapper.Running // the call running the batch's elements, or the last one
	task     *grid.Task      // the task call runs
	stopped  bool            // call has been stopped
	finished bool            // the batch's last call has ended
	released int             // elements stopped calls handed back: they have no outcome
	stops    sync.WaitGroup  // the goroutines that take them
}

// watch returns what tells the flight of each call that runs its
// elements, or nil when no split stops calls.
func (fl *flight) watch() func(*grid.Task, wrapper.Running) {
	if fl == nil || !fl.l.on {
		return nil
	}
	return func(t *grid.Task, c wrapper.Running) {
		l := fl.l
		l.mu.Lock()
		defer l.mu.Unlock()
		fl.call, fl.task, fl.stopped = c, t, false
		// A split while the call was being prepared (its join read, a
		// retry's backoff) may have cut the batch.
		if fl.holdsPast(l.end) {
			l.stop(fl)
		}
	}
}

// settle notes an outcome of the batch's i-th element.
func (fl *flight) settle(i int64) {
	if fl == nil {
		return
	}
	fl.l.mu.Lock()
	defer fl.l.mu.Unlock()
	fl.settled = max(fl.settled, fl.pos[i]+1)
}

// finish notes that the batch's calls have all ended, waits for what
// stopped them, and returns the number of elements they handed back.
func (fl *flight) finish() int {
	if fl == nil {
		return 0
	}
	fl.l.mu.Lock()
	fl.finished = true // no split stops a call of this batch from now on
	fl.l.mu.Unlock()
	fl.stops.Wait()
	fl.l.mu.Lock()
	defer fl.l.mu.Unlock()
	return fl.released
}

// holdsPast says whether the batch's running call has elements at or
// past p it has not finished, and has not been stopped. A call that has
// exited is left alone: what it did not finish runs in a call of its own,
// which is told of the end when it starts (watch). l.mu is held.
func (fl *flight) holdsPast(p int64) bool {
	if fl.call == nil || fl.stopped || fl.finished {
		return false
	}
	select {
	case <-fl.call.Exited():
		return false
	default:
	}
	els := fl.task.Elements
	return len(els) > 0 && fl.pos[els[len(els)-1].Source.Index] >= p && fl.call.Completed() < len(els)
}
