package wrapper

import (
	"io"
	"os"
	"os/exec"
	"slices"
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
	p.start = time.Now()
	cmd, err := startBinary(s.bin, s.limits, func(t execTarget) *exec.Cmd {
		cmd := exec.Command(t.path, args...)
		cmd.Args[0], cmd.Env, cmd.Dir = t.argv0, t.env, s.dir
		cmd.Stdout, cmd.Stderr = outW, errW
		cmd.ExtraFiles = extra
		cmd.SysProcAttr = sysProcAttr()
		return cmd
	})
	if err != nil {
		return nil, err
	}
	p.cmd, p.pid = cmd, cmd.Process.Pid
	p.drains = []*drain{startDrain(outR, p.stdout), startDrain(errR, p.stderr)}
	go func() {
		p.waitErr = waitExited(p.pid)
		close(p.exited)
	}()
	return p, nil
}

// signal sends sig to the binary's process group.
func (p *process) signal(sig syscall.Signal) { signalGroup(p.pid, sig) }

// reap kills whatever the binary left in its group and reaps it. Call it
// once exited is closed.
func (p *process) reap() (*os.ProcessState, error) {
	signalGroup(p.pid, syscall.SIGKILL)
	return p.cmd.Process.Wait()
}

// release waits, for at most grace, for the output already written to
// reach the logs, then closes the logs and the runner's ends of the pipes.
// Call it after reap; the logs stay on disk for their owner to keep or
// remove.
func (p *process) release(grace time.Duration) {
	waitDrains(p.drains, grace)
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
	done chan struct{}
}

func startDrain(r *os.File, w io.Writer) *drain {
	d := &drain{r: r, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		_, _ = io.Copy(w, r)
	}()
	return d
}

// waitDrains waits for the output pipes to reach EOF. The group has been
// killed, so EOF is immediate unless a process escaped the group (setsid)
// and still holds a pipe; after the grace period we stop listening to it.
func waitDrains(drains []*drain, grace time.Duration) {
	t := time.NewTimer(grace)
	defer t.Stop()
	for _, d := range drains {
		select {
		case <-d.done:
		case <-t.C:
			d.r.Close()
			<-d.done
		}
		d.r.Close()
	}
}
