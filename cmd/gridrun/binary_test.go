package main_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gridrun/gridrun/internal/testbin"
)

// gitRevision is the revision git says the work tree is at, and
// whether it has changes, as make build records them.
func gitRevision(t *testing.T) (rev string, modified bool) {
	t.Helper()
	root := testbin.Root(t)
	out, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("no git here: %v", err)
	}
	status, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
	if err != nil {
		t.Skipf("git status: %v", err)
	}
	return strings.TrimSpace(string(out)), len(strings.TrimSpace(string(status))) > 0
}

// bin/gridrun as make builds it names its revision, whether or not the
// go command stamped one (CI builds with GOFLAGS=-buildvcs=false).
func TestVersionNamesTheRevision(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := gridrun(t, "version")
	rev, modified := gitRevision(t)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := "gridrun (devel) " + rev
	if modified {
		want += " (modified)"
	}
	first, rest, _ := strings.Cut(stdout, "\n")
	if first != want || !strings.Contains(rest, "  built     ") || !strings.Contains(rest, "  protocol  gridrun.v1") {
		t.Errorf("version:\n%s\nwant the first line %q, and the build time and protocol", stdout, want)
	}
	code, flag, _ := gridrun(t, "--version")
	if code != 0 || flag != stdout {
		t.Errorf("--version: exit %d\n%s\nwant what version prints", code, flag)
	}
}

// A program that is no gridrun binary is named as the user gave it, with
// what to do, not by its cached copy's path nor a temporary file.
func TestABinaryThatDoesNotSpeakTheProtocolGetsAHint(t *testing.T) {
	t.Parallel()
	const hint = "binary /bin/echo does not speak the gridrun protocol: --gridrun-describe failed: it exited 0 and wrote no description; build it with the gridrun C++ SDK"
	for _, args := range [][]string{
		{"run", "--binary", "/bin/echo", "--input", "testdata/trades.jsonl", "--output", filepath.Join(t.TempDir(), "out")},
		{"describe", "--binary", "/bin/echo"},
	} {
		code, stdout, stderr := gridrun(t, args...)
		if code != 2 || !strings.Contains(stderr, hint) || !strings.Contains(stderr, "--proto, --input-type and --result-type") {
			t.Errorf("%s: exit %d, want 2 with %q\nstdout: %s\nstderr: %s", args[0], code, hint, stdout, stderr)
		}
		if strings.Contains(stderr, "description.pb") || strings.Contains(stderr, "/bin/") && strings.Count(stderr, "/bin/echo") != strings.Count(stderr, "/bin/") {
			t.Errorf("%s: the message names another file:\n%s", args[0], stderr)
		}
	}
}

// A binary that takes side rows, run without --join, stops before any
// call with a hint, rather than failing each element.
func TestSideRowsWithoutAJoinStopBeforeAnyCall(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := gridrun(t, "run", "--binary", "bin/pricer", "--input", "testdata/trades.jsonl", "--output", out)
	want := "binary bin/pricer takes side rows of type pricer.Quote (market data joined per batch), and no join is given: give the table with --join"
	if code != 2 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "--join-key '{underlying}'") {
		t.Fatalf("exit %d, want 2 with %q\nstdout: %s\nstderr: %s", code, want, stdout, stderr)
	}
	if m, _ := filepath.Glob(filepath.Join(out, "*-*.jsonl")); len(m) > 0 || stdout != "" {
		t.Errorf("the refused job wrote %v, printed %q", m, stdout)
	}
}

// ps and pgrep show a running call by the name of the user's binary, not
// by its cached copy's hash nor a descriptor number.
func TestPsShowsTheBinarysName(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := os.ReadFile(testbin.Path(t, "faulty"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "my-model")
	os.WriteFile(bin, b, 0o755)
	in := testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(1, map[int]string{0: "hang"})...)
	cmd := exec.Command(testbin.Path(t, "gridrun"), "run", "--binary", bin, "--input", in,
		"--output", filepath.Join(dir, "out"), "--progress", "none", "--parallelism", "1")
	cmd.Env = append(os.Environ(), "GRIDRUN_CACHE_DIR="+t.TempDir())
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	// The call is the runner's child that has exec'd the image (until
	// then a child is a copy of the runner, named like it) with a batch:
	// the binary also runs, briefly, to describe itself.
	var pid string
	deadline := time.Now().Add(30 * time.Second)
	for pid == "" {
		if time.Now().After(deadline) {
			t.Fatal("no child of gridrun named my-model within 30s")
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", cmd.Process.Pid))
		for _, task := range tasks {
			kids, _ := os.ReadFile(task)
			for _, k := range strings.Fields(string(kids)) {
				comm, _ := os.ReadFile("/proc/" + k + "/comm")
				cmdline, _ := os.ReadFile("/proc/" + k + "/cmdline")
				if strings.TrimSpace(string(comm)) == "my-model" && strings.Contains(string(cmdline), "\x00--gridrun-batch\x00") {
					pid = k
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The hanging call stays until gridrun is stopped, below.
	cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
	if argv0, _, _ := strings.Cut(string(cmdline), "\x00"); argv0 != "my-model" {
		t.Errorf("argv[0] %q, want my-model", argv0)
	}
	out, err := exec.Command("pgrep", "-x", "my-model").Output()
	if err == nil && !strings.Contains(" "+strings.Join(strings.Fields(string(out)), " ")+" ", " "+pid+" ") {
		t.Errorf("pgrep -x my-model found %q, not %s", out, pid)
	}
}
