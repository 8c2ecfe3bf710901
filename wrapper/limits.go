package wrapper

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Limits constrain one call's binary. A zero field means no limit. A binary
// that exceeds a limit fails like any crash (a signal, or an allocation that
// fails), and the runner and its other calls go on unharmed.
type Limits struct {
	// Memory caps the binary's address space (RLIMIT_AS), in bytes.
	Memory int64 `json:"memory,omitempty"`
	// CPU caps the binary's CPU time (RLIMIT_CPU): SIGXCPU, then SIGKILL.
	CPU time.Duration `json:"cpu,omitempty"`
	// Processes caps the processes of the binary's user (RLIMIT_NPROC).
	// Linux does not apply it to root.
	Processes int `json:"processes,omitempty"`
	// OpenFiles caps the binary's file descriptors (RLIMIT_NOFILE).
	OpenFiles int `json:"open_files,omitempty"`
}

// Go cannot set resource limits between fork and exec, and setting them on
// a running binary (prlimit) leaves a window in which a fast binary works
// unlimited. So a call with limits starts the runner's own executable with
// trampolineEnv set: this package's init sees it, sets the limits on its
// own process and execs the binary, which starts under them. It costs one
// start of the runner's executable per call, and only calls with limits.
const trampolineEnv = "GRIDRUN_LIMITS_TRAMPOLINE"

// trampolineExecEnv, beside trampolineEnv, says that the binary is an
// Image: "KEEP;FROM:TO,FROM:TO;PATH" moves the image's descriptors,
// received as extra files FROM, back to the numbers TO that PATH names,
// close-on-exec unless KEEP is "inherit" (a script's interpreter opens
// PATH itself), and the trampoline execs PATH instead of os.Args[0]. The
// limits may then be empty.
const trampolineExecEnv = "GRIDRUN_LIMITS_EXEC"

func init() {
	spec, ok := os.LookupEnv(trampolineEnv)
	if !ok {
		return
	}
	err := trampoline(spec)
	fmt.Fprintf(os.Stderr, "gridrun: cannot start %s under limits: %v\n", os.Args[0], err)
	os.Exit(127)
}

// trampoline applies the limits in spec and execs os.Args[0] with the
// environment minus trampolineEnv. It returns only on failure.
func trampoline(spec string) error {
	for _, kv := range strings.Split(spec, ",") {
		if kv == "" {
			continue // an Image started without limits
		}
		name, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("bad limit %q", kv)
		}
		res, ok := rlimits[name]
		if !ok {
			return fmt.Errorf("unknown limit %q", name)
		}
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: n, Max: n}); err != nil {
			return fmt.Errorf("limit %s: %w", name, err)
		}
	}
	path := os.Args[0]
	if moves, ok := os.LookupEnv(trampolineExecEnv); ok {
		var err error
		if path, err = placeImage(moves); err != nil {
			return err
		}
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, trampolineEnv+"=") && !strings.HasPrefix(kv, trampolineExecEnv+"=") {
			env = append(env, kv)
		}
	}
	return syscall.Exec(path, os.Args, env)
}

// placeImage moves the image's descriptors where the exec path expects
// them and returns the path.
func placeImage(spec string) (string, error) {
	parts := strings.SplitN(spec, ";", 3)
	if len(parts) != 3 || (parts[0] != "cloexec" && parts[0] != "inherit") {
		return "", fmt.Errorf("bad %s %q", trampolineExecEnv, spec)
	}
	flags := unix.O_CLOEXEC
	if parts[0] == "inherit" {
		flags = 0
	}
	moves, path := parts[1], parts[2]
	for _, m := range strings.Split(moves, ",") {
		a, b, _ := strings.Cut(m, ":")
		from, err1 := strconv.Atoi(a)
		to, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil || to < imageFD {
			return "", fmt.Errorf("bad %s %q", trampolineExecEnv, spec)
		}
		if err := unix.Dup3(from, to, flags); err != nil {
			return "", fmt.Errorf("image descriptor: %w", err)
		}
		unix.Close(from)
	}
	return path, nil
}

var rlimits = map[string]int{
	"as":     unix.RLIMIT_AS,
	"cpu":    unix.RLIMIT_CPU,
	"nproc":  unix.RLIMIT_NPROC,
	"nofile": unix.RLIMIT_NOFILE,
}

// spec encodes the limits for the trampoline; "" when there are none.
func (l *Limits) spec() string {
	if l == nil {
		return ""
	}
	var parts []string
	add := func(name string, v int64) {
		if v > 0 {
			parts = append(parts, name+"="+strconv.FormatInt(v, 10))
		}
	}
	add("as", l.Memory)
	if l.CPU > 0 {
		add("cpu", int64(max(1, (l.CPU+time.Second-1)/time.Second)))
	}
	add("nproc", int64(l.Processes))
	add("nofile", int64(l.OpenFiles))
	return strings.Join(parts, ",")
}
