package wrapper

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/gridrun/gridrun/internal/caplog"
	gridrunv1 "github.com/gridrun/gridrun/proto/gridrun/v1"
)

// Binary is an executable that speaks the gridrun protocol.
type Binary struct {
	// Path is the executable. It is exec'd directly, never through a shell.
	Path string
	// Args are passed after the protocol's own flags.
	Args []string
	// Env is the binary's whole environment; nil means an empty one, never
	// the runner's.
	Env []string
	// Image, when set, holds the binary's verified bytes: every process is
	// started from it (see Image), and Path only names the binary in
	// messages. A runner that verified a binary sets it, so that the bytes
	// it checked are the bytes that run.
	Image *Image
}

// Options configure calls. The zero value is usable.
type Options struct {
	// Dir is where each call's private directory (mode 0700) is made.
	// Defaults to os.TempDir().
	Dir string
	// Grace is how long a binary has to exit after SIGTERM before SIGKILL
	// goes to its process group. Defaults to 5s.
	Grace time.Duration
	// LogHead and LogTail are the bytes of each of stdout and stderr kept,
	// from the start and from the end of the stream. Default to 64 KiB each.
	LogHead, LogTail int
	// LogDir receives the stdout and stderr files of each call, named after
	// the batch id and attempt. Empty means the call's private directory,
	// removed with it.
	LogDir string
	// KeepDir keeps the call's private directory, with its batch and
	// results files, for inspection.
	KeepDir bool
	// Limits constrain the binary's resources. Nil means none.
	Limits *Limits
	// MaxPoll is the longest wait between two reads of the results file
	// while the binary runs. Defaults to 20ms.
	MaxPoll time.Duration
	// OnResult, when set, sees each valid result as soon as it is read,
	// from the goroutine reading the results file; it must not block.
	OnResult func(*gridrunv1.Result)
	// Containment says how processes that left the binary's group are
	// killed when the call ends. Defaults to DetectContainment().
	Containment Containment
	// Common is the job's common data, serialized (the binary's
	// Description.common_type). It goes in Batch.common of the first batch
	// each process receives: every call's, since each call is a process of
	// its own, and a Worker's first only. A batch whose Common is already
	// set keeps it. Nil sends none.
	Common []byte
}

// Outcome is what a call produced, whether or not it failed.
type Outcome struct {
	// Results holds the valid results in the order the binary wrote them.
	Results []*gridrunv1.Result
	// Indexes holds the batch index of each result: Indexes[k] is Results[k]'s.
	Indexes []int
	// Pending holds the indexes, in batch order, of the elements that got no
	// result.
	Pending []int
	// Stopped reports that Stop was called.
	Stopped bool
	// PID is the binary's process id.
	PID        int
	Start, End time.Time
	UserCPU    time.Duration
	SysCPU     time.Duration
	// MaxRSS is the peak resident set size of the binary, in bytes.
	MaxRSS int64
	// Stdout and Stderr are the captured streams; a Path is empty when the
	// binary wrote nothing there or the file was removed with the call's
	// directory.
	Stdout, Stderr Log
	// Dir is the call's directory when Options.KeepDir kept it.
	Dir string
	// Shared says the logs are a Worker's, shared with its other calls:
	// the Worker removes them, not the caller.
	Shared bool
}

// Log is one captured output stream.
type Log struct {
	Path string
	// Size is the length of the whole stream, including dropped bytes.
	Size int64
	// Cut says the runner stopped reading the stream before its end: a
	// process that outlived the call held it open past the grace period.
	Cut bool
}

// Call is one running invocation of a binary over one batch.
type Call struct {
	bin   Binary
	batch *gridrunv1.Batch
	opts  Options
	ctx   context.Context
	dir   string
	proc  *process

	*tracker

	stopOnce sync.Once
	stopped  atomic.Bool
	killed   atomic.Bool
	stop     chan struct{}
	readDone chan struct{}

	mu     sync.Mutex
	outErr error // first protocol violation seen in the results file
}

// Run is Start followed by Wait.
func Run(ctx context.Context, bin Binary, batch *gridrunv1.Batch, opts *Options) (*Outcome, error) {
	c, err := Start(ctx, bin, batch, opts)
	if err != nil {
		return nil, err
	}
	return c.Wait()
}

// Start writes the batch file and starts the binary. Cancelling ctx stops
// the binary: SIGTERM to its process group, SIGKILL after the grace period.
func Start(ctx context.Context, bin Binary, batch *gridrunv1.Batch, opts *Options) (*Call, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := &Call{
		bin:      bin,
		batch:    batch,
		ctx:      ctx,
		stop:     make(chan struct{}),
		readDone: make(chan struct{}),
	}
	if opts != nil {
		c.opts = *opts
	}
	c.tracker = newTracker(batch, c.opts.OnResult)
	c.opts.Grace = cmp.Or(c.opts.Grace, 5*time.Second)
	c.opts.LogHead = cmp.Or(c.opts.LogHead, 64<<10)
	c.opts.LogTail = cmp.Or(c.opts.LogTail, 64<<10)
	c.opts.MaxPoll = cmp.Or(c.opts.MaxPoll, 20*time.Millisecond)
	if err := c.launch(); err != nil {
		c.cleanup()
		return nil, &StartError{Path: bin.Path, Err: err}
	}
	return c, nil
}

func (c *Call) launch() (err error) {
	if c.dir, err = os.MkdirTemp(c.opts.Dir, "call-*"); err != nil {
		return err
	}
	// The binary runs in its call's directory and is handed the files'
	// paths: a relative Dir would name them from the wrong place.
	if c.dir, err = filepath.Abs(c.dir); err != nil {
		return err
	}
	batchPath := filepath.Join(c.dir, "batch.pb")
	resultsPath := filepath.Join(c.dir, "results.pb")
	defer func() {
		if err != nil {
			// By name, which takes no descriptor: running out of them
			// may be why the call did not start, and os.RemoveAll opens
			// a directory that is not empty.
			os.Remove(batchPath)
			os.Remove(resultsPath)
		}
	}()
	data, err := marshalBatch(c.batch, c.opts.Common)
	if err != nil {
		return err
	}
	if err := os.WriteFile(batchPath, data, 0o600); err != nil {
		return err
	}
	results, err := os.OpenFile(resultsPath, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	logDir, logName := c.dir, "call"
	if c.opts.LogDir != "" {
		logDir, logName = c.opts.LogDir, logBaseName(c.batch)
	}
	c.proc, err = launch(launchSpec{
		bin:     c.bin,
		args:    []string{"--gridrun-batch", batchPath, "--gridrun-results", resultsPath},
		dir:     c.dir,
		logs:    filepath.Join(logDir, logName),
		head:    c.opts.LogHead,
		tail:    c.opts.LogTail,
		limits:  c.opts.Limits,
		contain: c.opts.Containment,
	})
	if err != nil {
		results.Close()
		return err
	}
	go c.supervise()
	go c.readResults(results)
	return nil
}

// logBaseName names a call's log files after its batch id and attempt. Ids
// are the runner's own, never input values, but are still reduced to a
// safe alphabet.
func logBaseName(b *gridrunv1.Batch) string {
	safe := []byte(b.GetBatchId())
	for i, ch := range safe {
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '.' || ch == '_') {
			safe[i] = '_'
		}
	}
	return fmt.Sprintf("%s-a%d", safe, b.GetAttempt())
}

// supervise turns cancellation into signals: SIGTERM to the group, and
// SIGKILL if the binary is still there after the grace period.
func (c *Call) supervise() {
	select {
	case <-c.proc.exited:
		return
	case <-c.stop:
		// A split: the binary finishes its element and exits on its own.
		c.proc.signal(syscall.SIGTERM)
		select {
		case <-c.proc.exited:
			return
		case <-c.ctx.Done():
		}
	case <-c.ctx.Done():
	}
	c.proc.signal(syscall.SIGTERM)
	t := time.NewTimer(c.opts.Grace)
	defer t.Stop()
	select {
	case <-c.proc.exited:
	case <-t.C:
		c.proc.signal(syscall.SIGKILL)
	}
}

func (c *Call) readResults(f *os.File) {
	defer close(c.readDone)
	defer f.Close()
	r := newResultReader(f)
	const minPoll = time.Millisecond
	wait := minPoll
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		exited := false
		select {
		case <-c.proc.exited:
			exited = true
		default:
		}
		n, err := r.poll(c.accept)
		if err == nil && exited {
			err = r.finish()
		}
		if err != nil {
			c.mu.Lock()
			c.outErr = err
			c.mu.Unlock()
			// Nothing after a protocol violation can be trusted.
			c.proc.signal(syscall.SIGKILL)
			return
		}
		if exited {
			return
		}
		if n > 0 {
			wait = minPoll
		} else {
			wait = min(2*wait, c.opts.MaxPoll)
		}
		t.Reset(wait)
		select {
		case <-t.C:
		case <-c.proc.exited:
		}
	}
}

// Exited is closed when the binary has exited.
func (c *Call) Exited() <-chan struct{} { return c.proc.exited }

// Kill ends the call at once: SIGKILL to its group. The call counts as
// stopped, not failed; what it did not finish is Pending.
func (c *Call) Kill() {
	c.stopped.Store(true)
	c.killed.Store(true)
	c.proc.signal(syscall.SIGKILL)
}

// Started returns when the binary was started.
func (c *Call) Started() time.Time { return c.proc.start }

// Stop asks the binary to finish the element it is on and exit: SIGTERM to
// its group. The elements it did not start are Pending in the Outcome, and
// no error is reported for stopping.
func (c *Call) Stop() {
	c.stopOnce.Do(func() {
		c.stopped.Store(true)
		close(c.stop)
	})
}

// Wait waits for the binary to exit and returns what it produced. The
// Outcome is never nil: results flushed before a failure are in it. The
// error is the context's error if the call was cancelled, an *OutputError
// if the results file broke the protocol, an *ExitError if the binary
// failed, or nil.
func (c *Call) Wait() (*Outcome, error) {
	<-c.proc.exited
	// Whatever the binary left behind dies with it.
	state, werr := c.proc.reap(c.opts.Grace)
	end := time.Now()
	<-c.readDone
	c.proc.release(c.opts.Grace)

	out := &Outcome{
		Results: c.results,
		Indexes: c.indexes,
		Stopped: c.stopped.Load(),
		PID:     c.proc.pid,
		Start:   c.proc.start,
		End:     end,
	}
	out.Pending = c.pending()
	if state != nil {
		out.UserCPU, out.SysCPU = state.UserTime(), state.SystemTime()
		if ru, ok := state.SysUsage().(*syscall.Rusage); ok {
			out.MaxRSS = ru.Maxrss * 1024
		}
	}
	out.Stdout = c.keepLog(c.proc.stdout)
	out.Stderr = c.keepLog(c.proc.stderr)
	out.Stdout.Cut, out.Stderr.Cut = c.proc.drains[0].cut.Load(), c.proc.drains[1].cut.Load()
	err := c.verdict(state, werr)
	if c.opts.KeepDir {
		out.Dir = c.dir
	} else {
		c.cleanup()
		if c.opts.LogDir == "" {
			out.Stdout.Path, out.Stderr.Path = "", ""
		}
	}
	return out, err
}

func (c *Call) verdict(state *os.ProcessState, werr error) error {
	c.mu.Lock()
	outErr := c.outErr
	c.mu.Unlock()
	if err := c.ctx.Err(); err != nil {
		return err
	}
	if outErr != nil {
		return outErr
	}
	if werr != nil {
		return werr
	}
	if err := c.proc.waitErr; err != nil {
		return err
	}
	ws, _ := state.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled():
		if c.stopped.Load() && ws.Signal() == syscall.SIGTERM || c.killed.Load() && ws.Signal() == syscall.SIGKILL {
			return nil // stopped as asked: a binary without a SIGTERM handler, or killed
		}
		return &ExitError{Code: 128 + int(ws.Signal()), Signal: ws.Signal(), Stderr: c.proc.stderr.Tail(stderrTail)}
	case ws.ExitStatus() != 0:
		return &ExitError{Code: ws.ExitStatus(), Stderr: c.proc.stderr.Tail(stderrTail)}
	}
	return nil
}

// stderrTail is how much of stderr an ExitError carries.
const stderrTail = 2 << 10

func (c *Call) keepLog(w *caplog.Writer) Log {
	if w.Size() == 0 {
		os.Remove(w.Path())
		return Log{}
	}
	return Log{Path: w.Path(), Size: w.Size()}
}

func (c *Call) cleanup() {
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

// marshalBatch serializes b with common in its Batch.common field unless b
// has one. The field is appended to the encoding rather than set on b,
// which belongs to the caller and may be shared by goroutines: a field may
// come in any order on the wire, and every parser takes it there.
func marshalBatch(b *gridrunv1.Batch, common []byte) ([]byte, error) {
	data, err := proto.Marshal(b)
	if err != nil || len(common) == 0 || len(b.GetCommon()) > 0 {
		return data, err
	}
	data = protowire.AppendTag(data, batchCommonField, protowire.BytesType)
	return protowire.AppendBytes(data, common), nil
}

// batchCommonField is Batch.common's field number.
const batchCommonField = 8
