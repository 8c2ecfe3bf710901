package wrapper

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A start that fails at any point of the launch, or a binary that cannot be
// exec'd, leaves no descriptor open and no file behind, for calls and for
// workers alike; neither does a start that succeeds, once its call ends.
// Running out of descriptors is provoked by lowering RLIMIT_NOFILE, which is
// process-wide: the starts run in a process of their own (launchLeaks).
func TestAFailedStartLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, t.TempDir())
	cmd.Env = []string{"FAKE_BINARY=launch-leaks", "GORACE=atexit_sleep_ms=0"}
	out, err := cmd.CombinedOutput()
	t.Logf("launch-leaks:\n%s", out)
	if err != nil {
		t.Fatalf("launch-leaks: %v", err)
	}
	// Each kind of start must have failed at every step that opens
	// something: both logs, a pipe, the exec itself.
	for _, kind := range []string{"call", "worker"} {
		var seen []string
		for _, line := range strings.Split(string(out), "\n") {
			if msg, ok := strings.CutPrefix(line, kind+" failed: "); ok {
				seen = append(seen, msg)
			}
		}
		for _, step := range []string{".stdout.log", ".stderr.log", "pipe2", "fork/exec", "no-such-binary"} {
			if !slices.ContainsFunc(seen, func(msg string) bool { return strings.Contains(msg, step) }) {
				t.Errorf("no %s start failed at %q", kind, step)
			}
		}
		if !strings.Contains(string(out), kind+" started after ") {
			t.Errorf("no %s start succeeded", kind)
		}
	}
}

// launchLeaks is the fake binary behind TestAFailedStartLeavesNothingBehind.
// For calls and then workers, it starts with the descriptor limit just above
// the descriptors open, then one higher, and so on until a start succeeds,
// so that each start fails one step further into the launch; then it starts
// a binary that does not exist. It prints each failure as "KIND failed:
// ERROR" and returns 1 if any start, failed or finished, left a descriptor
// open or a file in dir.
func launchLeaks(dir string) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Println(err)
		return 2
	}
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		fmt.Println(err)
		return 2
	}
	opts := &Options{Dir: filepath.Join(dir, "calls"), LogDir: filepath.Join(dir, "logs")}
	for _, d := range []string{opts.Dir, opts.LogDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			fmt.Println(err)
			return 2
		}
	}
	// start starts one call or worker, and returns how to end it.
	start := map[string]func(Binary) (func() error, error){
		"call": func(bin Binary) (func() error, error) {
			c, err := Start(context.Background(), bin, batchOf(3), opts)
			if err != nil {
				return nil, err
			}
			return func() error { _, err := c.Wait(); return err }, nil
		},
		"worker": func(bin Binary) (func() error, error) {
			w, err := StartWorker(bin, opts)
			if err != nil {
				return nil, err
			}
			return func() error {
				c, err := w.Start(context.Background(), batchOf(3))
				if err == nil {
					_, err = c.Wait()
				}
				return errors.Join(err, w.Close(false))
			}, nil
		},
	}
	binary := func(mode string) Binary {
		return Binary{Path: self, Env: []string{"FAKE_BINARY=" + mode, "GORACE=atexit_sleep_ms=0"}}
	}
	leaked := false
	// try starts with room descriptors free (room < 0: no limit), ends what started, and reports what was
	// left behind. It says whether the start succeeded.
	try := func(kind string, bin Binary, room int) bool {
		before, files := openFDs(), filesIn(dir)
		if room >= 0 {
			lim := orig
			lim.Cur = uint64(limitLeaving(before, room))
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
				fmt.Println(err)
				leaked = true
				return true
			}
		}
		end, err := start[kind](bin)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
			fmt.Println(err)
			leaked = true
			return true
		}
		var se *StartError
		switch {
		case err == nil:
			if err := end(); err != nil {
				fmt.Printf("%s: %v\n", kind, err)
				leaked = true
			}
		case errors.As(err, &se):
			fmt.Printf("%s failed: %v\n", kind, err)
		default:
			fmt.Printf("%s: not a StartError: %v\n", kind, err)
			leaked = true
		}
		for fd, target := range openFDs() {
			if before[fd] != target {
				fmt.Printf("%s: LEAK: descriptor %d (%s) left open\n", kind, fd, target)
				leaked = true
			}
		}
		for _, path := range filesIn(dir) {
			if !slices.Contains(files, path) {
				fmt.Printf("%s: LEAK: %s left behind\n", kind, path)
				leaked = true
			}
		}
		return err == nil
	}

	for _, kind := range []string{"call", "worker"} {
		mode := map[string]string{"call": "ok", "worker": "serve"}[kind]
		// The first start opens what the runtime opens once (the poller,
		// pidfd probes): it must not count as a leak.
		end, err := start[kind](binary(mode))
		if err != nil {
			fmt.Println(err)
			return 2
		}
		if err := end(); err != nil {
			fmt.Println(err)
			return 2
		}
		failures := 0
		for room := 0; !try(kind, binary(mode), room); room++ {
			if failures++; failures > 100 {
				fmt.Printf("%s: never started\n", kind)
				return 1
			}
		}
		fmt.Printf("%s started after %d failed starts\n", kind, failures)
		if try(kind, Binary{Path: filepath.Join(dir, "no-such-binary")}, -1) {
			fmt.Printf("%s: a binary that does not exist started\n", kind)
			leaked = true
		}
	}
	if leaked {
		return 1
	}
	return 0
}

// openFDs maps each descriptor of this process to what it refers to.
func openFDs() map[int]string {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		panic(err)
	}
	fds := map[int]string{}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// The directory's own descriptor is closed by now: no target.
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil {
			fds[fd] = target
		}
	}
	return fds
}

// filesIn lists the files and directories under dir.
func filesIn(dir string) []string {
	var paths []string
	filepath.WalkDir(dir, func(path string, _ fs.DirEntry, _ error) error {
		paths = append(paths, path)
		return nil
	})
	return paths
}

// limitLeaving returns a descriptor limit under which exactly room
// descriptors can be opened besides the open ones: the kernel hands out the
// lowest free numbers, and open ones may leave holes below high ones.
func limitLeaving(open map[int]string, room int) int {
	limit, free := 0, 0
	for ; free < room || open[limit] != ""; limit++ {
		if open[limit] == "" {
			free++
		}
	}
	return limit
}
