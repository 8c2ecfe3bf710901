package wrapper

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Containment is how the runner finds the processes a binary started that
// left its process group (setsid, setpgid): the group signal does not reach
// them, and one that keeps the binary's stdout open would hold its call.
type Containment string

const (
	// ContainAuto chooses ContainCgroup where the machine allows it, else
	// ContainSubreaper. ContainmentEnv set to "subreaper" forces the latter.
	ContainAuto Containment = ""
	// ContainCgroup starts each binary in a cgroup v2 of its own, made
	// under the runner's cgroup, and kills the whole cgroup (cgroup.kill)
	// when the call ends: nothing the binary started can leave it.
	ContainCgroup Containment = "cgroup"
	// ContainSubreaper makes the runner a child subreaper: a process whose
	// parent exits is reparented to the runner instead of init. When a
	// call ends, the runner kills and reaps the reparented processes of
	// its group and those that made a session of their own.
	ContainSubreaper Containment = "subreaper"
)

// ContainmentEnv, set to "subreaper" in the runner's environment, forces
// the subreaper on a machine that would allow cgroups.
const ContainmentEnv = "GRIDRUN_CONTAINMENT"

var (
	detectOnce sync.Once
	detected   Containment
	cgroupDir  string // the runner's own cgroup, where calls' cgroups are made

	subreaperOnce sync.Once
	subreaperErr  error

	// binaries holds the pids of the binaries launched and not yet reaped:
	// the subreaper's scan never takes one of them for an orphan, even one
	// that made a session of its own, since os/exec reaps them.
	binaries sync.Map
)

// DetectContainment returns the containment calls get when their Options
// leave it to ContainAuto. It probes the machine once per process.
func DetectContainment() Containment {
	detectOnce.Do(func() {
		detected = ContainSubreaper
		if os.Getenv(ContainmentEnv) == string(ContainSubreaper) {
			return
		}
		if dir, err := probeCgroup(); err == nil {
			detected, cgroupDir = ContainCgroup, dir
			sweepCgroups(dir)
		}
	})
	return detected
}

func (c Containment) resolve() Containment {
	if c == ContainCgroup && DetectContainment() != ContainCgroup {
		return ContainSubreaper // asked for, not available
	}
	if c == ContainAuto {
		return DetectContainment()
	}
	return c
}

// probeCgroup finds the runner's own cgroup on the cgroup v2 hierarchy and
// checks that a call's cgroup can be made there and killed as a whole.
func probeCgroup() (string, error) {
	mount, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	var rel string
	found := false
	for _, line := range strings.Split(string(self), "\n") {
		if r, ok := strings.CutPrefix(line, "0::"); ok {
			rel, found = r, true
		}
	}
	if !found {
		return "", errors.New("no cgroup v2 membership in /proc/self/cgroup")
	}
	dir := filepath.Join(mount, rel)
	probe := filepath.Join(dir, fmt.Sprintf("gridrun-%d-probe", os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil {
		return "", err
	}
	defer os.Remove(probe)
	if _, err := os.Stat(filepath.Join(probe, "cgroup.kill")); err != nil {
		return "", err // before Linux 5.14
	}
	for _, f := range []string{filepath.Join(probe, "cgroup.procs"), filepath.Join(dir, "cgroup.procs")} {
		if err := unix.Access(f, unix.W_OK); err != nil {
			return "", fmt.Errorf("%s: %w", f, err)
		}
	}
	return dir, nil
}

// sweepCgroups removes the empty call cgroups that runners no longer
// running left in dir (killed before they could remove them). A cgroup
// that still holds a process, or whose runner lives, is left alone.
func sweepCgroups(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "gridrun-")
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if !ok || !e.IsDir() || err != nil || pid == os.Getpid() || unix.Kill(pid, 0) == nil {
			continue
		}
		os.Remove(filepath.Join(dir, e.Name())) // fails, harmlessly, on a cgroup with processes
	}
}

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted: at
// /sys/fs/cgroup on most machines, at /sys/fs/cgroup/unified beside the
// v1 controllers on hybrid ones.
func cgroup2Mount() (string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
		pre, post, ok := strings.Cut(line, " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		f := strings.Fields(pre)
		if len(f) >= 5 && f[3] == "/" {
			return f[4], nil
		}
	}
	return "", errors.New("no cgroup v2 hierarchy mounted")
}

// jail holds one binary's containment from its start to its reaping.
type jail struct {
	mode Containment
	dir  string // the call's cgroup
	fd   int    // its descriptor, for clone into it; -1 when closed
}

// newJail prepares the containment of a binary about to start.
func newJail(c Containment) (*jail, error) {
	j := &jail{mode: c.resolve(), fd: -1}
	if j.mode == ContainSubreaper {
		subreaperOnce.Do(func() {
			subreaperErr = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
		})
		return j, subreaperErr
	}
	// A name of its own, never reused: a runner killed before it removed
	// its calls' cgroups leaves them behind, and a later runner may get
	// its pid.
	dir, err := os.MkdirTemp(cgroupDir, fmt.Sprintf("gridrun-%d-", os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("cgroup for the call: %w", err)
	}
	j.dir = dir
	fd, err := unix.Open(j.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		os.Remove(j.dir)
		return nil, fmt.Errorf("cgroup for the call: %w", &os.PathError{Op: "open", Path: j.dir, Err: err})
	}
	j.fd = fd
	return j, nil
}

// attach makes the binary start inside the jail.
func (j *jail) attach(a *syscall.SysProcAttr) {
	if j.fd >= 0 {
		a.UseCgroupFD, a.CgroupFD = true, j.fd
	}
}

// started records the binary once it runs; abandon undoes newJail for a
// binary that did not start.
func (j *jail) started(pid int) {
	binaries.Store(pid, true)
	j.closeFD()
}

func (j *jail) abandon() {
	j.closeFD()
	if j.dir != "" {
		os.Remove(j.dir)
	}
}

func (j *jail) closeFD() {
	if j.fd >= 0 {
		unix.Close(j.fd)
		j.fd = -1
	}
}

// kill kills what the binary with pid left behind outside its group, and
// waits at most bound for it to be gone. Call it after the group's
// SIGKILL and before the binary is reaped: until then its pid, the group's
// id, cannot name another group.
func (j *jail) kill(pid int, bound time.Duration) {
	deadline := time.Now().Add(bound)
	if j.mode == ContainCgroup {
		j.killCgroup(deadline)
		return
	}
	killOrphans(pid, deadline)
}

// done forgets the binary once it is reaped.
func (j *jail) done(pid int) { binaries.Delete(pid) }

func (j *jail) killCgroup(deadline time.Time) {
	// ENOENT: nothing left to kill, or a kernel without cgroup.kill, which
	// the probe ruled out.
	_ = os.WriteFile(filepath.Join(j.dir, "cgroup.kill"), []byte("1"), 0)
	for wait := time.Millisecond; ; wait = min(2*wait, 20*time.Millisecond) {
		// A cgroup can be removed once no live process is in it; the
		// exited binary, a zombie until reaped, no longer counts.
		err := os.Remove(j.dir)
		if err == nil || errors.Is(err, os.ErrNotExist) || !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return
		}
		time.Sleep(wait)
	}
}

// killOrphans kills and reaps the children of the runner that a call with
// binary pid left behind: those still in its process group (reparented
// here when their parent exited) and those in a session of their own,
// which no group signal reaches. A killed orphan's own children are
// reparented here in turn, so the scan repeats until none is left. Only
// the runner's own children are signalled and reaped, by pid: until
// reaped, such a pid cannot be reused, and os/exec's children (in the
// runner's session and outside the group) are never touched.
func killOrphans(pid int, deadline time.Time) {
	self := os.Getpid()
	sid, err := unix.Getsid(0)
	if err != nil {
		return
	}
	for wait := time.Millisecond; ; wait = min(2*wait, 20*time.Millisecond) {
		var orphans []int
		for _, p := range scanProcs() {
			if _, ours := binaries.Load(p.pid); p.ppid != self || ours {
				continue
			}
			if p.pgrp == pid || p.session != sid {
				orphans = append(orphans, p.pid)
			}
		}
		if len(orphans) == 0 {
			return
		}
		for _, o := range orphans {
			_ = unix.Kill(o, unix.SIGKILL)
		}
		for _, o := range orphans {
			var info unix.Siginfo
			_ = unix.Waitid(unix.P_PID, o, &info, unix.WEXITED|unix.WNOHANG, nil)
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(wait)
	}
}

type procStat struct{ pid, ppid, pgrp, session int }

// scanProcs reads the parent, group and session of every process.
func scanProcs() []procStat {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	out := make([]procStat, 0, len(names))
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + n + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// PID (COMM) STATE PPID PGRP SESSION ...; COMM may hold spaces
		// and parentheses, so fields are counted after the last ')'.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(data[i+1:]))
		sc.Split(bufio.ScanWords)
		var f [4]string
		k := 0
		for k < len(f) && sc.Scan() {
			f[k] = sc.Text()
			k++
		}
		if k < len(f) {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		pgrp, _ := strconv.Atoi(f[2])
		session, _ := strconv.Atoi(f[3])
		out = append(out, procStat{pid, ppid, pgrp, session})
	}
	return out
}
