package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gridrun/gridrun/internal/testbin"
)

// A call's private directory holds its batch file: input rows. A run
// killed with SIGKILL leaves them behind; they must be where its resume
// finds and removes them, never in $TMPDIR.
func TestAKilledRunLeavesNoBatchFilesBehind(t *testing.T) {
	t.Parallel()
	faulty := testbin.Path(t, "faulty")
	sleeps := map[int]string{}
	for i := range 40 {
		sleeps[i] = "sleep:200"
	}
	input := testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(40, sleeps)...)
	tmp, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	args := []string{"run", "--binary", faulty, "--input", input, "--output", out, "--batch-size", "5", "--parallelism", "2"}
	env := append(os.Environ(), "GRIDRUN_CACHE_DIR="+t.TempDir(), "TMPDIR="+tmp)

	cmd := exec.Command(testbin.Path(t, "gridrun"), args...)
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Killed once a call's directory exists, wherever it is made.
	callDirs := func() []string {
		a, _ := filepath.Glob(filepath.Join(tmp, "call-*"))
		b, _ := filepath.Glob(filepath.Join(out, "_gridrun", "*", "call-*"))
		return append(a, b...)
	}
	deadline := time.After(60 * time.Second)
	for len(callDirs()) == 0 {
		select {
		case err := <-exited:
			t.Fatalf("the run ended before a call started: %v", err)
		case <-deadline:
			cmd.Process.Kill()
			t.Fatal("no call started within 60s")
		case <-time.After(2 * time.Millisecond):
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	if left, _ := filepath.Glob(filepath.Join(tmp, "call-*")); len(left) > 0 {
		t.Fatalf("the killed run left call directories in $TMPDIR: %v", left)
	}

	resume := exec.Command(testbin.Path(t, "gridrun"), append(args, "--resume")...)
	resume.Env = env
	if b, err := resume.CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, b)
	}
	if left := callDirs(); len(left) > 0 {
		t.Fatalf("call directories left after the resume: %v", left)
	}
	if got := readResults(t, out); len(got) != 40 {
		t.Fatalf("%d results after the resume, want 40", len(got))
	}
}

// Mistakes that would price with missing data, or fail every element, are
// configuration errors: exit 2, naming the field and the columns there
// are, before any call.
func TestSchemaMistakesExitTwo(t *testing.T) {
	t.Parallel()
	pricer := testbin.Path(t, "pricer")
	quotes, err := os.ReadFile(filepath.Join(testbin.Root(t), "testdata", "quotes.csv"))
	if err != nil {
		t.Fatal(err)
	}
	div := filepath.Join(t.TempDir(), "quotes.csv")
	os.WriteFile(div, []byte(strings.Replace(string(quotes), "dividend", "div", 1)), 0o644)
	logFile := filepath.Join(t.TempDir(), "logs")
	os.WriteFile(logFile, nil, 0o644)
	run := func(extra ...string) []string {
		return append([]string{"run", "--binary", pricer, "--input", "testdata/trades.jsonl", "--join-key", "{underlying}",
			"--output", filepath.Join(t.TempDir(), "out")}, extra...)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"join column misnamed", run("--join", div), 2,
			"join " + div + ": no column fills field dividend of pricer.Quote (columns: underlying, spot, vol, rate, div); name it, map a column to it with --join-column, or list it in --join-optional"},
		{"join field optional", run("--join", div, "--join-optional", "dividend"), 0, "1000 results"},
		{"no such id field", run("--join", "testdata/quotes.csv", "--id-field", "nosuch"), 2, `has the id field "nosuch" (keys: `},
		{"log dir a file", run("--join", "testdata/quotes.csv", "--log-dir", logFile), 2, "--log-dir " + logFile + ": is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := gridrun(t, tc.args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Fatalf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, tc.code, tc.want, stdout, stderr)
			}
		})
	}
}
