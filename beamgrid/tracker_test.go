package beamgrid

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/wrapper"
)

// The split logic of a range's tracker, played without a runner or a
// binary: rows at positions 0, 10, ..., 990 of the range [0, 1000),
// batches registered as the run registers them, and calls that stand for
// the binary's: each is on the element after its results, and answers a
// stop at once, counting that element as begun.

func rows(from, to int64) []int64 {
	var pos []int64
	for p := from; p < to; p += 10 {
		pos = append(pos, p)
	}
	return pos
}

// liquidRange returns a tracker of [0, 1000) with liquid splits on that
// has claimed the rows before upTo, and has claimed the end if all.
func liquidRange(t *testing.T, upTo int64) *liquidTracker {
	t.Helper()
	tr := newLiquidTracker(offsetrange.Restriction{Start: 0, End: 1000})
	tr.l.enable(true, 10*time.Second)
	for _, p := range rows(0, upTo) {
		if !tr.TryClaim(p) {
			t.Fatalf("claim %d refused", p)
		}
	}
	if upTo >= 1000 && tr.TryClaim(int64(1000)) {
		t.Fatal("the end claimed")
	}
	return tr
}

// fakeCall is a running call that has results for its first elements.
type fakeCall struct {
	n         int
	completed atomic.Int64
	stops     atomic.Int32
	acked     chan struct{}
	exited    chan struct{}
	once      sync.Once
	mu        sync.Mutex
	begun     int // at the stop: the elements begun
	released  bool
}

func newFakeCall(n, completed int) *fakeCall {
	c := &fakeCall{n: n, acked: make(chan struct{}), exited: make(chan struct{})}
	c.completed.Store(int64(completed))
	return c
}

func (c *fakeCall) Stop() {
	c.stops.Add(1)
	c.once.Do(func() {
		c.mu.Lock()
		c.begun = min(int(c.completed.Load())+1, c.n)
		c.mu.Unlock()
		close(c.acked)
	})
}

func (c *fakeCall) Release() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.begun == 0 || c.released {
		return nil
	}
	c.released = true
	var idx []int
	for i := c.begun; i < c.n; i++ {
		idx = append(idx, i)
	}
	return idx
}

func (c *fakeCall) Wait() (*wrapper.Outcome, error) { <-c.exited; return &wrapper.Outcome{}, nil }
func (c *fakeCall) Kill()                           {}
func (c *fakeCall) Acked() <-chan struct{}          { return c.acked }
func (c *fakeCall) Exited() <-chan struct{}         { return c.exited }
func (c *fakeCall) Completed() int                  { return int(c.completed.Load()) }
func (c *fakeCall) Current() (int, time.Time)       { return c.Completed(), time.Now() }
func (c *fakeCall) Started() time.Time              { return time.Now() }

// batchOf is the batch of the rows at pos, and the task of its first
// call.
func batchOf(pos []int64) (Batch, *grid.Task) {
	b := Batch{ID: "b"}
	elems := make([]*grid.Element, len(pos))
	for i, p := range pos {
		b.Elements = append(b.Elements, Element{ID: fmt.Sprintf("row%d", p)})
		elems[i] = &grid.Element{Source: grid.Position{Index: int64(i)}}
	}
	return b, grid.NewTask("b", elems)
}

// outcomes are the outcomes of a batch's elements [from, to).
func outcomes(from, to int) []grid.Outcome {
	var outs []grid.Outcome
	for i := from; i < to; i++ {
		outs = append(outs, grid.Outcome{Source: grid.Position{Index: int64(i)}})
	}
	return outs
}

// The last batch's call is slow on its 11th element: a split at half of
// what can be handed on falls among the 39 elements it has not begun. The
// call is stopped; of the elements it hands back, the 19 before the split
// point run again here, the 20 past it are the residual's.
func TestASplitStopsTheCallHoldingItsPoint(t *testing.T) {
	tr := liquidRange(t, 1000)
	l := tr.l
	first, n := l.launch(rows(0, 500))
	if n != 50 {
		t.Fatalf("launched %d of 50", n)
	}
	b, _ := batchOf(rows(0, 500))
	l.land(first, b, outcomes(0, 50))

	tail := rows(500, 1000)
	fl, _ := l.launch(tail)
	b, task := batchOf(tail)
	call := newFakeCall(50, 10) // on the element of row 600
	fl.watch()(task, call)
	if call.stops.Load() != 0 || tr.IsDone() {
		t.Fatalf("stops %d, done %v before any split", call.stops.Load(), tr.IsDone())
	}
	// Rows 0..600 are begun or written; 601..990 can go.
	if done, rest := tr.GetProgress(); done != 601 || rest != 991-601 {
		t.Fatalf("progress %v done, %v remaining", done, rest)
	}
	p, r, err := tr.TrySplit(0.5)
	if err != nil || r == nil {
		t.Fatalf("no split: %v", err)
	}
	res := r.(offsetrange.Restriction)
	// Half of the 39 rows not begun: the residual starts after row 790
	// and holds row 800.
	if res.Start <= 790 || res.Start > 800 || res.End != 1000 || p.(offsetrange.Restriction) != (offsetrange.Restriction{Start: 0, End: res.Start}) {
		t.Fatalf("primary %v, residual %v", p, res)
	}
	if call.stops.Load() != 1 {
		t.Fatalf("the call was stopped %d times", call.stops.Load())
	}
	if s, c := l.counts(); s != 1 || c != 1 {
		t.Fatalf("%d splits, %d of them stopped a call", s, c)
	}
	// The binary finishes the element it was on, and ends.
	call.completed.Store(11)
	close(call.exited)
	if released := fl.finish(); released != 39 {
		t.Fatalf("%d elements handed back, want 39", released)
	}
	kept, again, againPos, dropped := l.land(fl, b, outcomes(0, 11))
	if len(kept) != 11 || dropped != 20 || !reflect.DeepEqual(againPos, rows(610, 800)) || len(again) != len(againPos) {
		t.Fatalf("kept %d outcomes, again %v, dropped %d", len(kept), againPos, dropped)
	}
	if again[0].ID != b.Elements[11].ID {
		t.Fatalf("ran again %q first, want %q", again[0].ID, b.Elements[11].ID)
	}
	if !tr.IsDone() {
		t.Fatal("not done with every batch landed")
	}
	// The elements to run again are the range's still.
	if _, n := l.launch(againPos); n != 19 {
		t.Fatalf("%d of 19 elements run again", n)
	}
}

// A row whose outcome is written (a bad row's dead letter, written as it
// is read) is never handed on: the split falls past it, and rows past the
// split that were claimed but not yet in a batch are dropped.
func TestASplitNeverFallsBeforeAWrittenOutcome(t *testing.T) {
	tr := liquidRange(t, 1000-10) // still reading: row 990 not claimed
	l := tr.l
	fl, _ := l.launch(rows(0, 200))
	_, task := batchOf(rows(0, 200))
	call := newFakeCall(20, 0)
	fl.watch()(task, call)
	if !l.admit(200) {
		t.Fatal("row 200's dead letter refused")
	}
	_, r, err := tr.TrySplit(0)
	if err != nil || r == nil {
		t.Fatalf("no split: %v", err)
	}
	if res := r.(offsetrange.Restriction); res.Start <= 200 {
		t.Fatalf("residual %v holds row 200, written here", res)
	}
	if call.stops.Load() != 0 {
		t.Fatal("a call holding no row past the split was stopped")
	}
	if s, c := l.counts(); s != 1 || c != 0 {
		t.Fatalf("%d splits, %d of them stopped a call", s, c)
	}
	if l.keeps(210) || l.admit(300) {
		t.Fatal("rows past the split kept")
	}
	if fl2, n := l.launch(rows(210, 400)); fl2 != nil || n != 0 {
		t.Fatalf("a batch past the split launched %d elements", n)
	}
	if tr.TryClaim(int64(990)) || tr.GetError() != nil {
		t.Fatalf("row 990 claimed past the split, or an error: %v", tr.GetError())
	}
	close(call.exited)
}

// A split among rows not yet claimed stops nothing, and the range reads
// on up to it.
func TestASplitAmongUnclaimedRowsStopsNothing(t *testing.T) {
	tr := liquidRange(t, 300)
	l := tr.l
	fl, _ := l.launch(rows(0, 300))
	_, task := batchOf(rows(0, 300))
	call := newFakeCall(30, 5)
	fl.watch()(task, call)
	_, r, err := tr.TrySplit(0.5)
	if err != nil || r == nil {
		t.Fatalf("no split: %v", err)
	}
	if res := r.(offsetrange.Restriction); res.Start <= 290 {
		t.Fatalf("residual %v holds claimed rows", res)
	}
	if call.stops.Load() != 0 {
		t.Fatal("a call was stopped")
	}
	if !tr.TryClaim(int64(300)) {
		t.Fatal("row 300 refused")
	}
	close(call.exited)
}

// A call on its last element has nothing to hand on: no split.
func TestACallOnItsLastElementIsNotSplit(t *testing.T) {
	tr := liquidRange(t, 1000)
	fl, _ := tr.l.launch(rows(0, 1000))
	_, task := batchOf(rows(0, 1000))
	call := newFakeCall(100, 99)
	fl.watch()(task, call)
	if _, r, _ := tr.TrySplit(0.5); r != nil || call.stops.Load() != 0 {
		t.Fatalf("residual %v, %d stops", r, call.stops.Load())
	}
	close(call.exited)
}

// Without liquid splits (scenarios, a binary that does not stop between
// elements, --no-split), the tracker claims, splits and reports progress
// as offsetrange's does.
func TestWithoutLiquidSplitsTheTrackerIsOffsetranges(t *testing.T) {
	for _, fraction := range []float64{0, 0.25, 0.5, 1} {
		for _, upTo := range []int64{0, 10, 300, 990, 1000} {
			rest := offsetrange.Restriction{Start: 0, End: 1000}
			got, want := newLiquidTracker(rest), offsetrange.NewTracker(rest)
			got.l.enable(false, time.Second)
			for _, p := range rows(0, upTo) {
				if got.TryClaim(p) != want.TryClaim(p) {
					t.Fatalf("claim %d", p)
				}
			}
			gd, gr := got.GetProgress()
			wd, wr := want.GetProgress()
			if gd != wd || gr != wr || got.IsDone() != want.IsDone() {
				t.Fatalf("claimed to %d: progress %v/%v done %v, offsetrange %v/%v %v", upTo, gd, gr, got.IsDone(), wd, wr, want.IsDone())
			}
			gp, gres, gerr := got.TrySplit(fraction)
			wp, wres, werr := want.TrySplit(fraction)
			if gp != wp || (gres == nil) != (wres == nil) || gres != nil && gres != wres || (gerr == nil) != (werr == nil) {
				t.Fatalf("claimed to %d, split at %v: %v %v, offsetrange %v %v", upTo, fraction, gp, gres, wp, wres)
			}
		}
	}
}

// A call that has exited is not stopped: the elements it did not finish
// run in a call of their own, which is stopped as it starts if it holds
// rows past the split.
func TestAnExitedCallIsNotStoppedButItsFollowUpIs(t *testing.T) {
	tr := liquidRange(t, 1000)
	tail := rows(500, 1000)
	fl, _ := tr.l.launch(tail)
	_, task := batchOf(tail)
	crashed := newFakeCall(50, 10)
	fl.watch()(task, crashed)
	close(crashed.exited)
	if _, r, _ := tr.TrySplit(0.5); r == nil {
		t.Fatal("no split")
	}
	if crashed.stops.Load() != 0 {
		t.Fatal("an exited call was stopped")
	}
	_, rest := batchOf(tail[11:])
	for i, e := range rest.Elements {
		e.Source.Index = int64(11 + i) // the batch's elements, not the follow-up's
	}
	next := newFakeCall(len(rest.Elements), 0)
	fl.watch()(rest, next)
	if next.stops.Load() != 1 {
		t.Fatalf("the follow-up holding rows past the split was stopped %d times", next.stops.Load())
	}
	close(next.exited)
	fl.finish()
}
