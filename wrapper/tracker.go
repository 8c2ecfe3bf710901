package wrapper

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	gridrunv1 "github.com/gridrun/gridrun/proto/gridrun/v1"
)

// tracker checks the results a binary writes for one batch against it and
// keeps them: which elements are done, which the binary said it would not
// begin after a stop, which were handed to other calls. A call of its own
// and a call served by a Worker share it.
type tracker struct {
	ids      []string           // the batch's element ids
	scens    []uint32           // their Element.scenario: (id, scenario) is unique
	index    map[elementKey]int // (id, scenario) -> index in batch, built at the first result out of order
	next     int                // the index a binary streaming in batch order answers next
	done     []bool
	results  []*gridrunv1.Result
	indexes  []int // indexes[k] is the batch index of results[k]
	onResult func(*gridrunv1.Result)
	count    atomic.Int64
	last     atomic.Int64 // unix nanos of the last result, or of the start

	// The binary's answer to SIGTERM: it began started elements and will
	// begin no more (Result.stopping).
	acked chan struct{}

	mu       sync.Mutex
	started  int
	released []bool // handed to other calls after the stop record
	settled  bool   // pending has been reported
}

func newTracker(batch *gridrunv1.Batch, onResult func(*gridrunv1.Result)) *tracker {
	n := len(batch.GetElements())
	t := &tracker{
		ids:      make([]string, n),
		scens:    make([]uint32, n),
		done:     make([]bool, n),
		released: make([]bool, n),
		onResult: onResult,
		acked:    make(chan struct{}),
	}
	for i, e := range batch.GetElements() {
		t.ids[i], t.scens[i] = e.GetId(), e.GetScenario()
	}
	t.last.Store(time.Now().UnixNano())
	return t
}

// accept checks one result against the batch. Results arrive from one
// goroutine.
func (t *tracker) accept(res *gridrunv1.Result, off int64) error {
	if res.GetId() == "" && res.GetStopping() {
		return t.ack(int(res.GetStarted()), off)
	}
	i, ok := t.lookup(res.GetId(), res.GetScenario())
	switch {
	case !ok:
		return &OutputError{Offset: off, ID: res.GetId(), Reason: "result for an id that is not in the batch"}
	case t.done[i]:
		// Neither result can be trusted: the element goes back to pending,
		// where it is the suspect.
		t.done[i] = false
		k := slices.Index(t.indexes, i)
		t.results = slices.Delete(t.results, k, k+1)
		t.indexes = slices.Delete(t.indexes, k, k+1)
		t.count.Add(-1)
		return &OutputError{Offset: off, ID: res.GetId(), Reason: "second result for the same id"}
	case res.GetOutcome() == nil:
		return &OutputError{Offset: off, ID: res.GetId(), Reason: "result has neither a payload nor an error"}
	case t.isAcked() && i >= t.started:
		return &OutputError{Offset: off, ID: res.GetId(), Reason: "result for an element the binary said it would not begin"}
	}
	t.done[i] = true
	t.next = i + 1
	t.results = append(t.results, res)
	t.indexes = append(t.indexes, i)
	t.count.Add(1)
	t.last.Store(time.Now().UnixNano())
	if t.onResult != nil {
		t.onResult(res)
	}
	return nil
}

// elementKey names an element of a batch: an element runs once per
// scenario, and each run has a result of its own.
type elementKey struct {
	id       string
	scenario uint32
}

// lookup finds (id, scenario) in the batch: most binaries answer in batch
// order, so the element after the last answered one is tried before any
// map.
func (t *tracker) lookup(id string, scenario uint32) (int, bool) {
	if t.next < len(t.ids) && t.ids[t.next] == id && t.scens[t.next] == scenario {
		return t.next, true
	}
	if t.index == nil {
		t.index = make(map[elementKey]int, len(t.ids))
		for i, id := range t.ids {
			t.index[elementKey{id, t.scens[i]}] = i
		}
	}
	i, ok := t.index[elementKey{id, scenario}]
	return i, ok
}

func (t *tracker) ack(started int, off int64) error {
	if t.isAcked() {
		return &OutputError{Offset: off, Reason: "second stop record"}
	}
	if started > len(t.done) {
		return &OutputError{Offset: off, Reason: fmt.Sprintf("stop record says %d elements begun of %d", started, len(t.done))}
	}
	t.mu.Lock()
	t.started = started
	t.mu.Unlock()
	close(t.acked)
	return nil
}

func (t *tracker) isAcked() bool {
	select {
	case <-t.acked:
		return true
	default:
		return false
	}
}

// Acked is closed when the binary has answered Stop with the number of
// elements it began; Release then hands over the others.
func (t *tracker) Acked() <-chan struct{} { return t.acked }

// Release returns the indexes of the elements the binary said it will not
// begin, once it has acknowledged Stop, and takes them out of the call:
// they are not in the Outcome's Pending. Before the acknowledgement, and
// once Wait has reported the call's Pending, it returns nil: an element is
// either released or pending, never both.
func (t *tracker) Release() []int {
	if !t.isAcked() {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.settled {
		return nil
	}
	var out []int
	for i := t.started; i < len(t.released); i++ {
		if !t.released[i] {
			t.released[i] = true
			out = append(out, i)
		}
	}
	return out
}

// pending returns the elements without a result and not released, once:
// from then on they are the caller's to re-run, and Release hands over
// nothing more.
func (t *tracker) pending() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int
	for i, d := range t.done {
		if !d && !t.released[i] {
			out = append(out, i)
		}
	}
	t.settled = true
	return out
}

// Current returns the index of the element the binary is probably on (the
// first without a result, for a binary that streams in batch order) and
// when it began it, that is when the previous result arrived.
func (t *tracker) Current() (int, time.Time) {
	return int(t.count.Load()), time.Unix(0, t.last.Load())
}

// Completed returns the number of results read so far; safe to call while
// the binary runs.
func (t *tracker) Completed() int { return int(t.count.Load()) }
