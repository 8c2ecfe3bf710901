package wrapper

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/gridrun/gridrun/internal/caplog"
	gridrunv1 "github.com/gridrun/gridrun/proto/gridrun/v1"
)

// Running is a call in progress: one of its own (Start), or one served by a
// Worker.
type Running interface {
	// Wait waits for the call to end; see Call.Wait.
	Wait() (*Outcome, error)
	// Stop asks the binary to finish the element it is on and stop.
	Stop()
	// Kill ends the call at once; it counts as stopped, not failed.
	Kill()
	// Acked is closed when the binary answers Stop with how far it got.
	Acked() <-chan struct{}
	// Exited is closed when the call has ended.
	Exited() <-chan struct{}
	// Release hands over the elements the binary will not begin.
	Release() []int
	// Completed counts the results so far.
	Completed() int
	// Current is the element the binary is probably on, and since when.
	Current() (int, time.Time)
	// Started is when the call began.
	Started() time.Time
}

var (
	_ Running = (*Call)(nil)
	_ Running = (*WorkerCall)(nil)
)

// ErrWorkerGone reports a call given to a Worker that has ended, or is
// ending, and ErrWorkerBusy one given while it serves another.
var (
	ErrWorkerGone = errors.New("worker has ended")
	ErrWorkerBusy = errors.New("worker is serving another call")
)

// Worker is a binary running as a persistent worker (`--gridrun-serve`):
// one process serves batch after batch over two pipes, so that a call costs
// a write and a read instead of a process start. It serves one call at a
// time. A call that fails, times out or is stopped ends the worker (a
// crashed process cannot be trusted with the next batch); start another.
//
// Its stdout and stderr go to one capped log each for its whole life,
// named worker-N; the calls' Outcomes point at them.
type Worker struct {
	opts Options
	proc *process
	req  *os.File // requests, fd 3 of the binary
	resp *os.File // results, fd 4 of the binary

	exited   chan struct{} // closed when the binary has exited and is reaped
	readDone chan struct{}
	state    *os.ProcessState

	mu sync.Mutex
	// sentCommon says a batch has gone to the process: Options.Common
	// went with it, and goes with no other.
	sentCommon bool
	cur        *WorkerCall // the call being served
	broken     error       // a protocol violation: the worker is done for
	closing    bool
	// streamEnded says the results stream has ended and its reader has
	// taken the call it was serving: no later call could ever end, even
	// while the process, not yet reaped, lives on.
	streamEnded bool
}

var workerSeq atomic.Int64

// StartWorker starts bin as a persistent worker. opts are those of calls:
// Grace, LogHead, LogTail, LogDir, Limits, OnResult (KeepDir does not
// apply).
func StartWorker(bin Binary, opts *Options) (*Worker, error) {
	w := &Worker{exited: make(chan struct{}), readDone: make(chan struct{})}
	if opts != nil {
		w.opts = *opts
	}
	w.opts.Grace = cmp.Or(w.opts.Grace, 5*time.Second)
	w.opts.LogHead = cmp.Or(w.opts.LogHead, 64<<10)
	w.opts.LogTail = cmp.Or(w.opts.LogTail, 64<<10)
	if err := w.launch(bin); err != nil {
		return nil, &StartError{Path: bin.Path, Err: err}
	}
	return w, nil
}

func (w *Worker) launch(bin Binary) (err error) {
	dir, name := w.opts.LogDir, fmt.Sprintf("worker-%d", workerSeq.Add(1))
	if dir == "" {
		dir = os.TempDir()
		name += fmt.Sprintf("-%d", os.Getpid())
	}
	w.proc, err = launch(launchSpec{
		bin:     bin,
		args:    []string{"--gridrun-serve"},
		logs:    filepath.Join(dir, name),
		head:    w.opts.LogHead,
		tail:    w.opts.LogTail,
		limits:  w.opts.Limits,
		pipes:   []pipeDir{toBinary, fromBinary}, // fds 3 and 4
		contain: w.opts.Containment,
	})
	if err != nil {
		return err
	}
	w.req, w.resp = w.proc.pipes[0], w.proc.pipes[1]
	go w.read()
	go func() {
		<-w.proc.exited
		w.state, _ = w.proc.reap(w.opts.Grace) // what it left behind dies with it
		close(w.exited)
	}()
	return nil
}

// Alive reports whether the worker can take another call.
func (w *Worker) Alive() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.aliveLocked()
}

// Start sends batch to the worker. Cancelling ctx stops the worker (SIGTERM,
// then SIGKILL after the grace period) and with it the call.
func (w *Worker) Start(ctx context.Context, batch *gridrunv1.Batch) (*WorkerCall, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := &WorkerCall{
		w:         w,
		ctx:       ctx,
		tracker:   newTracker(batch, w.opts.OnResult),
		startedAt: time.Now(),
		stopCh:    make(chan struct{}),
		ended:     make(chan struct{}),
	}
	w.mu.Lock()
	switch {
	case !w.aliveLocked():
		w.mu.Unlock()
		return nil, ErrWorkerGone
	case w.cur != nil:
		w.mu.Unlock()
		return nil, ErrWorkerBusy
	}
	w.cur = c
	var common []byte
	if !w.sentCommon {
		common, w.sentCommon = w.opts.Common, true
	}
	w.mu.Unlock()
	data, err := marshalBatch(batch, common)
	if err == nil {
		frame := protowire.AppendVarint(make([]byte, 0, len(data)+10), uint64(len(data)))
		_, err = w.req.Write(append(frame, data...))
	}
	if err != nil {
		// The worker is gone or going: the call ends with what the reader
		// sees of its end.
		w.kill()
	}
	go c.supervise()
	return c, nil
}

func (w *Worker) aliveLocked() bool {
	select {
	case <-w.exited:
		return false
	default:
		return w.broken == nil && !w.closing && !w.streamEnded
	}
}

// read reads the results stream for the worker's whole life and hands
// each result to the call being served.
func (w *Worker) read() {
	defer close(w.readDone)
	br := bufio.NewReaderSize(w.resp, 64<<10)
	var off int64
	for {
		size, err := readUvarint(br)
		switch {
		case errors.Is(err, io.EOF):
			w.end(nil) // the worker has exited
			return
		case err != nil:
			w.end(&OutputError{Offset: off, Reason: "bad length prefix: " + err.Error()})
			return
		}
		if size > maxResultSize {
			w.end(&OutputError{Offset: off, Reason: fmt.Sprintf("result of %d bytes exceeds the %d-byte limit", size, maxResultSize)})
			return
		}
		data := make([]byte, size)
		if _, err := io.ReadFull(br, data); err != nil {
			w.end(&OutputError{Offset: off, Reason: fmt.Sprintf("truncated: %v", err)})
			return
		}
		res, err := parseResult(data)
		if err != nil {
			w.end(&OutputError{Offset: off, Reason: "not a gridrun.v1.Result: " + err.Error()})
			return
		}
		w.mu.Lock()
		c := w.cur
		w.mu.Unlock()
		switch {
		case c == nil:
			w.end(&OutputError{Offset: off, Reason: "result outside a batch"})
			return
		case res.GetId() == "" && res.GetDone():
			w.mu.Lock()
			w.cur = nil
			w.mu.Unlock()
			c.finish(nil)
		default:
			if err := c.accept(res, off); err != nil {
				w.end(err)
				return
			}
		}
		off += int64(protowire.SizeVarint(size)) + int64(size)
	}
}

// end records why the stream ended and ends the call being served. A
// protocol violation kills the worker.
func (w *Worker) end(err error) {
	w.mu.Lock()
	c := w.cur
	w.cur, w.streamEnded = nil, true
	if err != nil && w.broken == nil {
		w.broken = err
	}
	w.mu.Unlock()
	if err != nil {
		w.kill()
	}
	if c != nil {
		// The results stream ends before the process does; a process that
		// closed it and lingers is killed.
		t := time.NewTimer(w.opts.Grace)
		defer t.Stop()
		select {
		case <-w.exited:
		case <-t.C:
			w.kill()
			<-w.exited
		}
		c.finish(err)
	}
}

func (w *Worker) kill() { w.proc.signal(syscall.SIGKILL) }

// Close ends the worker: it exits when its request pipe closes, or is
// killed after the grace period. Its logs are removed unless keep.
func (w *Worker) Close(keep bool) error {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	w.req.Close()
	t := time.NewTimer(w.opts.Grace)
	defer t.Stop()
	select {
	case <-w.exited:
	case <-t.C:
		w.kill()
		<-w.exited
	}
	<-w.readDone
	w.proc.release(w.opts.Grace)
	for _, l := range []*caplog.Writer{w.proc.stdout, w.proc.stderr} {
		if !keep || l.Size() == 0 {
			os.Remove(l.Path())
		}
	}
	return nil
}

// WorkerCall is a call served by a Worker.
type WorkerCall struct {
	w   *Worker
	ctx context.Context
	*tracker
	startedAt time.Time

	stopOnce sync.Once
	stopped  atomic.Bool
	killed   atomic.Bool
	stopCh   chan struct{}

	endOnce sync.Once
	ended   chan struct{}
	endErr  error
	endedAt time.Time
}

// supervise turns cancellation and Stop into signals to the worker.
func (c *WorkerCall) supervise() {
	select {
	case <-c.ended:
		return
	case <-c.stopCh:
		c.signal(syscall.SIGTERM)
		select {
		case <-c.ended:
			return
		case <-c.ctx.Done():
		}
	case <-c.ctx.Done():
	}
	c.signal(syscall.SIGTERM)
	t := time.NewTimer(c.w.opts.Grace)
	defer t.Stop()
	select {
	case <-c.ended:
	case <-t.C:
		c.signal(syscall.SIGKILL)
	}
}

// signal signals the worker while it serves this call, and not after: a
// call's context is cancelled once the call has ended, when the worker may
// be serving the next one (select picks either of two ready cases), and
// that call must not be stopped for this one's sake.
func (c *WorkerCall) signal(sig syscall.Signal) {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	if c.w.cur == c {
		c.w.proc.signal(sig)
	}
}

func (c *WorkerCall) finish(err error) {
	c.endOnce.Do(func() {
		c.endErr, c.endedAt = err, time.Now()
		close(c.ended)
	})
}

// Stop asks the worker to finish the element it is on and stop; the worker
// ends with the call.
func (c *WorkerCall) Stop() {
	c.stopOnce.Do(func() {
		c.stopped.Store(true)
		close(c.stopCh)
	})
}

// Kill ends the call and its worker at once.
func (c *WorkerCall) Kill() {
	c.stopped.Store(true)
	c.killed.Store(true)
	c.w.kill()
}

// Exited is closed when the call has ended.
func (c *WorkerCall) Exited() <-chan struct{} { return c.ended }

// Started returns when the call began.
func (c *WorkerCall) Started() time.Time { return c.startedAt }

// Wait waits for the call to end, as Call.Wait does. A call that ended
// any other way than with its batch done leaves the worker ended.
func (c *WorkerCall) Wait() (*Outcome, error) {
	<-c.ended
	out := &Outcome{
		Results: c.results,
		Indexes: c.indexes,
		Pending: c.pending(),
		Stopped: c.stopped.Load(),
		PID:     c.w.proc.pid,
		Start:   c.startedAt,
		End:     c.endedAt,
		Stdout:  sharedLog(c.w.proc.stdout),
		Stderr:  sharedLog(c.w.proc.stderr),
		Shared:  true,
	}
	if err := c.ctx.Err(); err != nil {
		return out, err
	}
	if c.endErr != nil {
		return out, c.endErr
	}
	select {
	case <-c.w.exited:
	default:
		return out, nil // the batch is done; the worker serves on
	}
	// The worker exited during the call.
	ws, _ := c.w.state.Sys().(syscall.WaitStatus)
	switch {
	case c.stopped.Load() && (ws.Exited() && ws.ExitStatus() == 0 || ws.Signaled() && ws.Signal() == syscall.SIGTERM):
		return out, nil
	case c.killed.Load() && ws.Signaled() && ws.Signal() == syscall.SIGKILL:
		return out, nil
	case ws.Signaled():
		return out, &ExitError{Code: 128 + int(ws.Signal()), Signal: ws.Signal(), Stderr: c.w.proc.stderr.Tail(stderrTail)}
	case ws.ExitStatus() != 0:
		return out, &ExitError{Code: ws.ExitStatus(), Stderr: c.w.proc.stderr.Tail(stderrTail)}
	}
	return out, &OutputError{Reason: "worker exited in the middle of a batch"}
}

// sharedLog names a worker's log, once it has something in it.
func sharedLog(w *caplog.Writer) Log {
	if w.Size() == 0 {
		return Log{}
	}
	return Log{Path: w.Path(), Size: w.Size()}
}

// readUvarint reads a varint length, io.EOF at a clean end.
func readUvarint(br *bufio.Reader) (uint64, error) {
	var v uint64
	for shift := 0; ; shift += 7 {
		b, err := br.ReadByte()
		if err != nil {
			if shift > 0 && err == io.EOF {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if shift > 63 {
			return 0, errors.New("varint overflows")
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, nil
		}
	}
}
