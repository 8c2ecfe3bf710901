package grid

import (
	"context"
	"sync"
	"time"
)

// queue hands tasks to the pool's workers: the follow-ups of earlier calls
// (suspects, the rest of failed calls, retries whose time has come, split
// remainders) before fresh batches, so that a batch's leftovers never wait
// behind the rest of the input. Workers pull; nothing is assigned ahead.
type queue struct {
	fresh <-chan *Task

	mu        sync.Mutex
	ready     []*Task
	delayed   int // retries waiting for their time
	active    int // tasks handed out and not finished
	receiving int // workers that may be receiving a fresh task
	waiting   int // workers blocked for want of a task
	freshDone bool
	wake      chan struct{} // closed and replaced to wake every waiter
	done      chan struct{}
	closed    bool
}

func newQueue(fresh <-chan *Task) *queue {
	return &queue{fresh: fresh, wake: make(chan struct{}), done: make(chan struct{})}
}

// next returns the next task, or false when every task is finished or ctx
// is done.
func (q *queue) next(ctx context.Context) (*Task, bool) {
	for {
		q.mu.Lock()
		if len(q.ready) > 0 {
			t := q.ready[0]
			q.ready = q.ready[1:]
			q.active++
			q.mu.Unlock()
			return t, true
		}
		q.maybeDone()
		fresh := q.fresh
		if q.freshDone {
			fresh = nil
		} else {
			// Counted until the task it may receive is counted as active:
			// a worker seeing the closed channel must not conclude that
			// nothing is left while another holds the last task.
			q.receiving++
		}
		wake := q.wake
		q.waiting++
		q.mu.Unlock()

		var (
			t            *Task
			gotFresh, ok bool
			stop         bool
		)
		select {
		case t, ok = <-fresh:
			gotFresh = true
		case <-wake:
		case <-q.done:
			stop = true
		case <-ctx.Done():
			stop = true
		}
		q.mu.Lock()
		q.waiting--
		if fresh != nil {
			q.receiving--
		}
		switch {
		case gotFresh && ok:
			q.active++
		case gotFresh:
			q.freshDone = true
			q.broadcast()
		}
		q.mu.Unlock()
		if gotFresh && ok {
			return t, true
		}
		if stop {
			return nil, false
		}
	}
}

// finish ends a task handed out by next and queues its follow-ups.
func (q *queue) finish(next []*Task) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.active--
	now := time.Now()
	for _, t := range next {
		if d := t.NotBefore.Sub(now); d > 0 {
			q.delayed++
			time.AfterFunc(d, func() {
				q.mu.Lock()
				defer q.mu.Unlock()
				q.delayed--
				q.ready = append(q.ready, t)
				q.broadcast()
			})
			continue
		}
		q.ready = append(q.ready, t)
	}
	q.broadcast()
}

// add queues tasks that did not come from a finished one: the remainder of
// a split, a backup.
func (q *queue) add(tasks []*Task) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ready = append(q.ready, tasks...)
	q.broadcast()
}

// idle returns how many workers wait with nothing to do and nothing to
// come: no task ready, no fresh batch to come. The scheduler splits running
// calls then.
func (q *queue) idle() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.freshDone || len(q.ready) > 0 {
		return 0
	}
	return q.waiting
}

func (q *queue) broadcast() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// maybeDone closes done when nothing is left anywhere. q.mu is held.
func (q *queue) maybeDone() {
	if !q.closed && q.freshDone && q.active == 0 && q.receiving == 0 && q.delayed == 0 && len(q.ready) == 0 {
		q.closed = true
		close(q.done)
	}
}
