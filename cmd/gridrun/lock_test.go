package main_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gridrun/gridrun/internal/testbin"
)

// startGridrun starts the CLI and returns it with a channel that yields
// its exit code.
func startGridrun(t *testing.T, stdin io.Reader, args ...string) (*exec.Cmd, <-chan int, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(testbin.Path(t, "gridrun"), args...)
	cmd.Dir = testbin.Root(t)
	cmd.Env = append(os.Environ(), "GRIDRUN_CACHE_DIR="+t.TempDir())
	cmd.Stdin = stdin
	stderr := new(strings.Builder)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan int, 1)
	go func() {
		cmd.Wait()
		exited <- cmd.ProcessState.ExitCode()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, exited, stderr
}

// waitForFile waits until path exists and ok accepts its bytes, failing if
// the process watched exits first or a minute passes.
func waitForFile(t *testing.T, path string, exited <-chan int, ok func([]byte) bool) {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		if b, err := os.ReadFile(path); err == nil && ok(b) {
			return
		}
		select {
		case code := <-exited:
			t.Fatalf("exited %d while waiting for %s", code, path)
		case <-deadline:
			t.Fatalf("no %s within a minute", path)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// heldBy reports whether a lock file names pid as its holder.
func heldBy(pid int) func([]byte) bool {
	return func(b []byte) bool {
		var h struct {
			PID int `json:"pid"`
		}
		return json.Unmarshal(b, &h) == nil && h.PID == pid
	}
}

// A job refuses an output directory another job is using, naming it, and
// the job using it is not disturbed.
func TestASecondJobOnABusyOutputIsRefused(t *testing.T) {
	t.Parallel()
	faulty := testbin.Path(t, "faulty")
	out := filepath.Join(t.TempDir(), "out")
	// The first job holds the directory while it saves its standard input:
	// it stays there until the test closes the pipe.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	first, exited, firstErr := startGridrun(t, pr, "run", "--binary", faulty, "--input", "-", "--output", out)
	pr.Close()
	waitForFile(t, filepath.Join(out, "_gridrun", "lock"), exited, heldBy(first.Process.Pid))

	for _, extra := range [][]string{nil, {"--resume"}} {
		args := append([]string{"run", "--binary", faulty, "--input", testbin.WriteLines(t, "other.jsonl", testbin.FaultyTasks(5, nil)...), "--output", out}, extra...)
		code, _, stderr := gridrun(t, args...)
		want := fmt.Sprintf("output directory %s is in use by gridrun pid %d on ", out, first.Process.Pid)
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("second job %v: exit %d, want 2 and %q:\n%s", extra, code, want, stderr)
		}
	}

	io.WriteString(pw, strings.Join(testbin.FaultyTasks(300, nil), "\n")+"\n")
	pw.Close()
	if code := <-exited; code != 0 {
		t.Fatalf("first job: exit %d:\n%s", code, firstErr)
	}
	if got := readResults(t, out); len(got) != 300 {
		t.Fatalf("first job: %d results, want 300", len(got))
	}
}

// Two new jobs started at the same instant on one output: exactly one
// runs, the other is refused naming it, and the output is exactly a clean
// run's.
func TestTwoNewJobsAtOnceOneRuns(t *testing.T) {
	t.Parallel()
	faulty := testbin.Path(t, "faulty")
	// A second of calls: the job that wins is still running when the other
	// starts.
	faults := map[int]string{}
	for i := range 400 {
		faults[i] = "sleep:5"
	}
	input := testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(400, faults)...)
	args := func(out string) []string {
		return []string{"run", "--binary", faulty, "--input", input, "--output", out,
			"--batch-size", "20", "--fixed-batch-size", "--parallelism", "2", "--commit-interval", "20ms"}
	}
	clean := filepath.Join(t.TempDir(), "clean")
	if code, _, stderr := gridrun(t, args(clean)...); code != 0 {
		t.Fatalf("clean run: exit %d: %s", code, stderr)
	}
	want := readResults(t, clean)

	for range 3 {
		out := filepath.Join(t.TempDir(), "out")
		a, aExit, aErr := startGridrun(t, nil, args(out)...)
		b, bExit, bErr := startGridrun(t, nil, args(out)...)
		codes := []int{<-aExit, <-bExit}
		winner, refused := a, bErr
		switch {
		case codes[0] == 0 && codes[1] == 2:
		case codes[0] == 2 && codes[1] == 0:
			winner, refused = b, aErr
		default:
			t.Fatalf("exits %v, want one 0 and one 2:\n%s\n%s", codes, aErr, bErr)
		}
		if w := fmt.Sprintf("is in use by gridrun pid %d on ", winner.Process.Pid); !strings.Contains(refused.String(), w) {
			t.Errorf("the refused job does not say %q:\n%s", w, refused)
		}
		if got := readResults(t, out); !maps.Equal(got, want) {
			t.Fatalf("%d results, want the clean run's %d", len(got), len(want))
		}
	}
}

// The lock of a job killed with SIGKILL is the kernel's to release: its
// resume takes the directory with no cleaning by hand.
func TestAKilledJobsLockIsTakenOverByItsResume(t *testing.T) {
	t.Parallel()
	faulty := testbin.Path(t, "faulty")
	input := testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(40, map[int]string{0: "hang"})...)
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"run", "--binary", faulty, "--input", input, "--output", out, "--batch-size", "1", "--retries", "0"}
	first, exited, _ := startGridrun(t, nil, append(args, "--timeout", "10m")...)
	// The state is written once the directory is prepared, just before the
	// calls start; the hanging element keeps the job running.
	waitForFile(t, filepath.Join(out, "_gridrun", "job.json"), exited, func([]byte) bool { return true })
	if b, _ := os.ReadFile(filepath.Join(out, "_gridrun", "lock")); !heldBy(first.Process.Pid)(b) {
		t.Fatalf("lock file: %s", b)
	}
	first.Process.Signal(syscall.SIGKILL)
	<-exited

	code, stdout, stderr := gridrun(t, append(args, "--resume", "--timeout", "1s")...)
	if code != 3 || !strings.Contains(stdout, "40 elements: 39 results, 1 dead letters") {
		t.Fatalf("resume: exit %d, want 3 (the hanging element timed out)\n%s\n%s", code, stdout, stderr)
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// A resume that would mix two jobs in one output is refused with exit 2,
// saying what changed: an input rewritten in place, another join table,
// a join table changed, an option that changes results. Options that do
// not change results may change.
func TestResumeRefusesAChangedJob(t *testing.T) {
	t.Parallel()
	pricer := testbin.Path(t, "pricer")
	dir := t.TempDir()
	trades := filepath.Join(dir, "trades.jsonl")
	b, err := os.ReadFile(filepath.Join(testbin.Root(t), "testdata", "trades.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(trades, b, 0o644)
	quotes := filepath.Join(dir, "quotes.csv")
	q, err := os.ReadFile(filepath.Join(testbin.Root(t), "testdata", "quotes.csv"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(quotes, q, 0o644)
	other := filepath.Join(dir, "other.csv")
	os.WriteFile(other, q, 0o644)

	out := filepath.Join(dir, "out")
	args := func(extra ...string) []string {
		return append([]string{"run", "--binary", pricer, "--input", trades, "--join", quotes, "--join-key", "{underlying}", "--output", out}, extra...)
	}
	if code, _, stderr := gridrun(t, args()...); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	if code, _, stderr := gridrun(t, args("--resume", "--parallelism", "3", "--batch-size", "7", "--timeout", "1m")...); code != 0 {
		t.Fatalf("resume with other parallelism, batch size and timeout: exit %d: %s", code, stderr)
	}
	refused := func(name, want string, a []string) {
		t.Helper()
		code, _, stderr := gridrun(t, a...)
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit %d, want 2 and %q:\n%s", name, code, want, stderr)
		}
	}
	refused("another join table", fmt.Sprintf("join: was %s, is %s", quotes, other),
		[]string{"run", "--binary", pricer, "--input", trades, "--join", other, "--join-key", "{underlying}", "--output", out, "--resume"})
	refused("an option", `option ignore_unknown_fields: was false, is true`, args("--resume", "--ignore-unknown-fields"))
	refused("a join column mapping", `option join.layout: was`, args("--resume", "--join-column", "spot=spot"))

	// The join table rewritten in place, one spot changed, same size.
	oldQuotes := fileSHA256(t, quotes)
	os.WriteFile(quotes, []byte(strings.Replace(string(q), "AAPL,50.06,", "AAPL,51.06,", 1)), 0o644)
	refused("the join table rewritten", fmt.Sprintf("join %s: sha256 was %s, is %s", quotes, oldQuotes, fileSHA256(t, quotes)), args("--resume"))
	os.WriteFile(quotes, q, 0o644)

	// The input rewritten in place: same path, size and rows, new ids.
	oldTrades := fileSHA256(t, trades)
	os.WriteFile(trades, []byte(strings.ReplaceAll(string(b), `"id":"T`, `"id":"N`)), 0o644)
	refused("the input rewritten", fmt.Sprintf("input %s: sha256 was %s, is %s", trades, oldTrades, fileSHA256(t, trades)), args("--resume"))
}
