package wrapper

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Limits constrain one call's binary. A zero field means no limit. A binary
// that exceeds a limit fails like any crash (a signal or an allocation
// failure), and the runner and its other calls go on unharmed.
//
// The limits are set with prlimit(2) on the binary's process right after it
// starts, so the first microseconds of its exec (the dynamic loader) run
// before them; everything the binary itself does runs under them, and so
// does every process it forks.
type Limits struct {
	// Memory caps the binary's address space (RLIMIT_AS), in bytes.
	Memory int64
	// CPU caps the binary's CPU time (RLIMIT_CPU); SIGXCPU, then SIGKILL.
	CPU time.Duration
	// Processes caps the processes of the binary's user (RLIMIT_NPROC).
	// Linux does not apply it to root.
	Processes int
	// OpenFiles caps the binary's file descriptors (RLIMIT_NOFILE).
	OpenFiles int
}

func (l *Limits) apply(pid int) error {
	set := func(res int, name string, v uint64) error {
		if v == 0 {
			return nil
		}
		if err := unix.Prlimit(pid, res, &unix.Rlimit{Cur: v, Max: v}, nil); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	cpu := uint64(0)
	if l.CPU > 0 {
		cpu = uint64(max(1, (l.CPU+time.Second-1)/time.Second))
	}
	for _, r := range []struct {
		res  int
		name string
		v    uint64
	}{
		{unix.RLIMIT_AS, "memory", uint64(max(l.Memory, 0))},
		{unix.RLIMIT_CPU, "cpu", cpu},
		{unix.RLIMIT_NPROC, "processes", uint64(max(l.Processes, 0))},
		{unix.RLIMIT_NOFILE, "open files", uint64(max(l.OpenFiles, 0))},
	} {
		if err := set(r.res, r.name, r.v); err != nil {
			return err
		}
	}
	return nil
}
