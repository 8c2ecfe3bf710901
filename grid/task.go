package grid

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gridrun/gridrun/join"
	"github.com/gridrun/gridrun/wrapper"
)

// Task is a set of elements to run in one call.
type Task struct {
	// Batch is the batch id: "b000017" for a batch of input, with a
	// suffix for the calls that re-run part of it.
	Batch    string
	Elements []*Element
	// Attempt counts the calls these elements have been in, from 1.
	Attempt int
	// NotBefore delays a retry.
	NotBefore time.Time

	reason  string
	retried int  // transient failures retried so far
	alone   bool // a suspect being isolated
	// backup, for a backup call, is the call it backs up.
	backup wrapper.Running
	rows   map[string]join.Row
	joined bool
	// cached says the elements were looked up in the result cache: the
	// misses remain, each with its key.
	cached bool
	subseq *atomic.Int32 // names sub-tasks of the same batch
}

// NewTask makes the task of a fresh batch.
func NewTask(batch string, elems []*Element) *Task {
	return &Task{Batch: batch, Elements: elems, Attempt: 1, reason: "batch", subseq: new(atomic.Int32)}
}

func (t *Task) sub(elems []*Element, reason string) *Task {
	n := t.subseq.Add(1)
	return &Task{
		Batch:    fmt.Sprintf("%s.%d", strings.SplitN(t.Batch, ".", 2)[0], n),
		Elements: elems,
		Attempt:  t.Attempt,
		reason:   reason,
		retried:  t.retried,
		rows:     t.rows,
		joined:   t.joined,
		cached:   t.cached,
		subseq:   t.subseq,
	}
}
