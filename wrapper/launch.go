package wrapper

import (
	"io"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gridrun/gridrun/internal/caplog"
)

// launchSpec says how to start a binary: for one call, or as a worker.
type launchSpec struct {
	bin Binary
	// args are the protocol's flags, passed before bin.Args.
	args []string
	// dir is the binary's working directory; empty means the runner's.
	dir string
	// logs is the path of the capped stdout and stderr logs, without their
	// ".stdout.log" and ".stderr.log" suffixes.
	logs       string
	head, tail int
	limits     *Limits
	// pipes are extra pipes, given to the binary as fds 3, 4, ... in order.
	pipes []pipeDir
	// contain says how descendants that leave the group are killed.
	contain Containment
}

// pipeDir says which way an extra pipe carries bytes.
type pipeDir int

const (
	toBinary   pipeDir = iota // the binary reads, the runner writes
	fromBinary                // the binary writes, the runner reads
)

// process is a started binary and the files the runner holds for it.
type process struct {
	cmd   *exec.Cmd
	pid   int
	start time.Time

	stdout, stderr *caplog.Writer
	// pipes are the runner's ends of launchSpec.pipes, in order.
	pipes  []*os.File
	drains []*drain

	// exited is closed when the binary has exited. It is not reaped until
	// reap, so that its group can still be signalled (see waitExited).
	exited  chan struct{}
	waitErr error // from waitExited; read it after exited

	jail *jail
}

// launch starts the binary in a process group of its own, its stdout and
// stderr drained into capped logs. It is all or nothing: if the binary does
// not start, every descriptor it opened is closed and the logs are removed,
// so that a runner failing to start binaries for hours does not run out of
// descriptors or fill its log directory with empty files.
func launch(s launchSpec) (_ *process, err error) {
	p := &process{exited: make(chan struct{})}
	// ours stay open while the binary runs; theirs are the binary's ends,
	// which it has once started, and which must not stay open here or the
	// runner would never see EOF on the pipes.
	var ours, theirs []*os.File
	defer func() {
		closeFiles(theirs)
		if err == nil {
			return
		}
		closeFiles(ours)
		for _, l := range []*caplog.Writer{p.stdout, p.stderr} {
			if l != nil {
				l.Close()
				os.Remove(l.Path())
			}
		}
	}()
	pipe := func(d pipeDir) (mine, its *os.File, err error) {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, nil, err
		}
		if d == toBinary {
			r, w = w, r
		}
		ours, theirs = append(ours, r), append(theirs, w)
		return r, w, nil
	}

	if p.stdout, err = caplog.Create(s.logs+".stdout.log", s.head, s.tail); err != nil {
		return nil, err
	}
	if p.stderr, err = caplog.Create(s.logs+".stderr.log", s.head, s.tail); err != nil {
		return nil, err
	}
	// Our own pipes rather than exec's: exec.Cmd.Wait would wait for the
	// copies to finish, which a grandchild holding the pipe can delay
	// forever; we reap first, kill the group, then drain with a bound.
	outR, outW, err := pipe(fromBinary)
	if err != nil {
		return nil, err
	}
	errR, errW, err := pipe(fromBinary)
	if err != nil {
		return nil, err
	}
	extra := make([]*os.File, len(s.pipes))
	p.pipes = make([]*os.File, len(s.pipes))
	for i, d := range s.pipes {
		if p.pipes[i], extra[i], err = pipe(d); err != nil {
			return nil, err
		}
	}
	args := slices.Concat(s.args, s.bin.Args)
	if p.jail, err = newJail(s.contain); err != nil {
		return nil, err
	}
	p.start = time.Now()
	cmd, err := startBinary(s.bin, s.limits, func(t execTarget) *exec.Cmd {
		cmd := exec.Command(t.path, args...)
		cmd.Args[0], cmd.Env, cmd.Dir = t.argv0, t.env, s.dir
		cmd.Stdout, cmd.Stderr = outW, errW
		cmd.ExtraFiles = extra
		cmd.SysProcAttr = sysProcAttr()
		p.jail.attach(cmd.SysProcAttr)
		return cmd
	})
	if err != nil {
		p.jail.abandon()
		return nil, err
	}
	p.cmd, p.pid = cmd, cmd.Process.Pid
	p.jail.started(p.pid)
	p.drains = []*drain{startDrain(outR, p.stdout), startDrain(errR, p.stderr)}
	go func() {
		p.waitErr = waitExited(p.pid)
		close(p.exited)
	}()
	return p, nil
}

// signal sends sig to the binary's process group.
func (p *process) signal(sig syscall.Signal) { signalGroup(p.pid, sig) }

// reap kills whatever the binary left in its group, and what left the
// group (see Containment), waiting at most bound for the latter, and reaps
// the binary. Call it once exited is closed.
func (p *process) reap(bound time.Duration) (*os.ProcessState, error) {
	signalGroup(p.pid, syscall.SIGKILL)
	p.jail.kill(p.pid, bound)
	defer p.jail.done(p.pid)
	return p.cmd.Process.Wait()
}

// release waits for the output already written to reach the logs, at most
// grace for each pipe, then closes the logs and the runner's ends of the
// pipes. Call it after reap; the logs stay on disk for their owner to keep
// or remove.
func (p *process) release(grace time.Duration) {
	var wg sync.WaitGroup
	for _, d := range p.drains {
		wg.Go(func() { d.wait(grace) })
	}
	wg.Wait()
	p.stdout.Close()
	p.stderr.Close()
	closeFiles(p.pipes)
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		f.Close() // os.ErrClosed for one its owner closed early
	}
}

// drain copies one of the binary's output pipes into its capped log.
type drain struct {
	r    *os.File
	w    io.Writer
	done chan struct{}
	cut  atomic.Bool // the runner stopped listening before EOF
}

func startDrain(r *os.File, w io.Writer) *drain {
	d := &drain{r: r, w: w, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		_, _ = io.Copy(w, r)
	}()
	return d
}

// cutNote ends a log whose pipe was still held open after the call ended.
const cutNote = "\n[gridrun: output cut here: a process that outlived the call held this pipe open]\n"

// wait waits for the pipe to reach EOF. The group has been killed, and the
// processes that left it, so EOF is immediate unless one of them could not
// be killed and still holds the pipe; after bound the runner stops
// listening to it and says so at the end of the log. Each pipe has a bound
// of its own: one timer shared by two drains fires once, and the second
// drain would then wait forever.
func (d *drain) wait(bound time.Duration) {
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-d.done:
	case <-t.C:
		d.r.Close()
		<-d.done
		d.cut.Store(true)
		_, _ = io.WriteString(d.w, cutNote)
	}
	d.r.Close()
}
