package wrapper

import (
	"errors"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts the binary in a process group of its own, so that one
// signal reaches it and everything it forked, and has the kernel kill it if
// the runner dies, so that a killed job leaves no binary running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// waitExited blocks until process pid has exited without reaping it. While
// the exited leader is not reaped its pid, which is also the group's id,
// cannot be reused, so signalling the group afterwards cannot hit a stranger.
func waitExited(pid int) error {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// signalGroup sends sig to every process in the group led by pid.
func signalGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig) // ESRCH: the group is already gone
}

// startRetryingBusy starts the command newCmd makes, retrying with a fresh
// one while exec fails with ETXTBSY. A freshly staged binary can be "busy"
// for a moment after it was written and closed: a process forked
// concurrently by this runner may still hold the write descriptor between
// its fork and its exec (golang/go#22315).
func startRetryingBusy(newCmd func() *exec.Cmd) (*exec.Cmd, error) {
	wait := 100 * time.Microsecond
	for try := 0; ; try++ {
		cmd := newCmd()
		err := cmd.Start()
		if err == nil || !errors.Is(err, syscall.ETXTBSY) || try == 20 {
			return cmd, err
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
}
