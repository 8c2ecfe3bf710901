package wrapper

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gridrunv1 "github.com/gridrun/gridrun/proto/gridrun/v1"
)

func run(t *testing.T, bin Binary, batch *gridrunv1.Batch, opts *Options) (*Outcome, error) {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	out, err := Run(context.Background(), bin, batch, opts)
	if out != nil {
		assertGone(t, out.PID)
	}
	return out, err
}

// assertGone fails the test if process pid still runs. A zombie left to a
// parent that does not reap counts as gone: it runs nothing.
func assertGone(t *testing.T, pid int) {
	t.Helper()
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(fields) > 0 && fields[0] != "Z" && fields[0] != "X" {
		t.Fatalf("process %d is still running (state %s)", pid, fields[0])
	}
}

func ids(rs []*gridrunv1.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.GetId())
	}
	return out
}

func TestEveryElementGetsItsResult(t *testing.T) {
	t.Parallel()
	batch := batchOf(100)
	out, err := run(t, fake(t, "ok"), batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Results) != 100 || len(out.Pending) != 0 {
		t.Fatalf("%d results, %d pending", len(out.Results), len(out.Pending))
	}
	for i, r := range out.Results {
		e := batch.Elements[i]
		if r.GetId() != e.GetId() || string(r.GetPayload()) != "out-"+string(e.GetPayload()) {
			t.Fatalf("result %d = %v for element %v", i, r, e)
		}
	}
	if out.Stdout.Path != "" || out.Stderr.Path != "" {
		t.Errorf("empty logs were kept: %+v %+v", out.Stdout, out.Stderr)
	}
}

func TestAnElementErrorIsOneResult(t *testing.T) {
	t.Parallel()
	out, err := run(t, fake(t, "fail-at:3"), batchOf(10), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Results) != 10 {
		t.Fatalf("%d results", len(out.Results))
	}
	if msg := out.Results[3].GetError().GetMessage(); msg != "bad trade" {
		t.Fatalf("element 3: error %q", msg)
	}
}

func TestACrashKeepsTheResultsFlushedBeforeIt(t *testing.T) {
	t.Parallel()
	out, err := run(t, fake(t, "die-at:40"), batchOf(100), nil)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Signal != syscall.SIGKILL || ee.Code != 128+9 {
		t.Fatalf("err = %v, want death by SIGKILL", err)
	}
	if len(out.Results) != 40 || len(out.Pending) != 60 || out.Pending[0] != 40 {
		t.Fatalf("%d results, pending %v", len(out.Results), out.Pending)
	}
}

func TestANonZeroExitCarriesTheStderrTail(t *testing.T) {
	t.Parallel()
	_, err := run(t, fake(t, "exit:7"), batchOf(3), nil)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 7 || ee.Signal != 0 {
		t.Fatalf("err = %v, want exit status 7", err)
	}
	if !strings.Contains(string(ee.Stderr), "exiting on purpose") {
		t.Fatalf("stderr tail %q", ee.Stderr)
	}
}

func TestProtocolViolationsAreOutputErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode    string
		results int
		id      string
		reason  string
	}{
		{"garbage", 0, "", "bad length prefix"},
		{"truncate", 1, "", "truncated"},
		{"unknown-id", 1, "nobody", "not in the batch"},
		{"dup-id", 0, "e000", "second result"}, // both results of e000 are dropped
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			out, err := run(t, fake(t, tc.mode), batchOf(5), nil)
			var oe *OutputError
			if !errors.As(err, &oe) || oe.ID != tc.id || !strings.Contains(oe.Reason, tc.reason) {
				t.Fatalf("err = %v, want an OutputError about %q", err, tc.reason)
			}
			if len(out.Results) != tc.results {
				t.Fatalf("%d results kept, want %d", len(out.Results), tc.results)
			}
		})
	}
}

func TestAStderrFloodCostsBoundedDisk(t *testing.T) {
	t.Parallel()
	logs := t.TempDir()
	out, err := run(t, fake(t, "flood"), batchOf(2), &Options{LogDir: logs, LogHead: 4 << 10, LogTail: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if out.Stderr.Size != 8<<20 {
		t.Errorf("stderr size %d, want the whole stream's 8 MiB", out.Stderr.Size)
	}
	st, err := os.Stat(out.Stderr.Path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 9<<10 {
		t.Fatalf("stderr file is %d bytes", st.Size())
	}
	if filepath.Dir(out.Stderr.Path) != logs || filepath.Base(out.Stderr.Path) != "b1-a1.stderr.log" {
		t.Errorf("stderr kept as %s", out.Stderr.Path)
	}
}

func TestStdoutIsALogNotAChannel(t *testing.T) {
	t.Parallel()
	out, err := run(t, fake(t, "stdout"), batchOf(2), &Options{LogDir: t.TempDir()})
	if err != nil || len(out.Results) != 2 {
		t.Fatalf("err %v, %d results", err, len(out.Results))
	}
	b, err := os.ReadFile(out.Stdout.Path)
	if err != nil || string(b) != "chatter on stdout\n" {
		t.Fatalf("stdout log %q, %v", b, err)
	}
}

func TestCancelTerminatesThenKillsTheGroup(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := Start(ctx, fake(t, "hang"), batchOf(3), &Options{Dir: t.TempDir(), Grace: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return c.Completed() == 1 })
	cancel()
	out, err := c.Wait()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(out.Results) != 1 || !slices.Equal(out.Pending, []int{1, 2}) {
		t.Fatalf("results %v, pending %v", ids(out.Results), out.Pending)
	}
	assertGone(t, out.PID)
}

func TestStopEndsTheCallBetweenElements(t *testing.T) {
	t.Parallel()
	c, err := Start(context.Background(), fake(t, "slow"), batchOf(50), &Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return c.Completed() >= 3 })
	c.Stop()
	out, err := c.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !out.Stopped || len(out.Results) < 3 || len(out.Results)+len(out.Pending) != 50 {
		t.Fatalf("stopped %v, %d results, %d pending", out.Stopped, len(out.Results), len(out.Pending))
	}
	if out.Pending[0] != len(out.Results) {
		t.Fatalf("pending starts at %d after %d results", out.Pending[0], len(out.Results))
	}
}

func TestAGrandchildDiesWithTheCall(t *testing.T) {
	t.Parallel()
	out, err := run(t, fake(t, "grandchild"), batchOf(2), &Options{LogDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	assertGrandchildGone(t, out.Stderr.Path)
}

// assertGrandchildGone waits until the grandchild whose pid the fake
// binary wrote to its stderr ("grandchild PID") is dead or a zombie.
func assertGrandchildGone(t *testing.T, stderr string) {
	t.Helper()
	b, err := os.ReadFile(stderr)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(string(b), "grandchild")))
	if err != nil {
		t.Fatalf("stderr %q", b)
	}
	waitFor(t, func() bool {
		st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		return err != nil || strings.Contains(string(st), ") Z")
	})
}

func TestTheEnvironmentIsOnlyWhatIsGiven(t *testing.T) {
	t.Parallel()
	out, err := run(t, fake(t, "env", "A=1"), batchOf(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Not even PATH or HOME of the runner reach the binary.
	if got := string(out.Results[0].GetPayload()); got != "FAKE_BINARY=env\nGORACE=atexit_sleep_ms=0\nA=1" {
		t.Fatalf("environment %q", got)
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notExec := filepath.Join(dir, "data")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	for _, tc := range []struct {
		path string
		want error
	}{
		{filepath.Join(dir, "missing"), fs.ErrNotExist},
		{notExec, fs.ErrPermission},
	} {
		_, err := Run(context.Background(), Binary{Path: tc.path}, batchOf(1), &Options{Dir: dir})
		var se *StartError
		if !errors.As(err, &se) || !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want a StartError wrapping %v", tc.path, err, tc.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("failed starts left files: %v", entries)
	}
}

func TestTheCallDirectoryIsPrivateAndRemoved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, err := run(t, fake(t, "ok"), batchOf(1), &Options{Dir: dir, KeepDir: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(out.Dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("call dir %v mode %v", err, st.Mode())
	}
	for _, f := range []string{"batch.pb", "results.pb"} {
		if _, err := os.Stat(filepath.Join(out.Dir, f)); err != nil {
			t.Errorf("kept dir lacks %s: %v", f, err)
		}
	}
	if _, err := run(t, fake(t, "ok"), batchOf(1), &Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("a call left files behind: %d entries", len(entries))
	}
}

// waitFor waits for cond with a deadline, for things signalled only through
// the file system or /proc.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(time.Millisecond)
	}
}

// Limits hold from the binary's first instruction: it sees them at once.
func TestLimitsApplyFromTheStart(t *testing.T) {
	t.Parallel()
	out, err := run(t, fake(t, "rlimit"), batchOf(1), &Options{Limits: &Limits{OpenFiles: 77}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out.Results[0].GetPayload()); got != "77" {
		t.Fatalf("the binary saw RLIMIT_NOFILE %s, want 77", got)
	}
}

func TestACPULimitKillsASpinningBinary(t *testing.T) {
	t.Parallel()
	_, err := run(t, fake(t, "spin"), batchOf(1), &Options{Limits: &Limits{CPU: time.Second}})
	var ee *ExitError
	if !errors.As(err, &ee) || (ee.Signal != syscall.SIGXCPU && ee.Signal != syscall.SIGKILL) {
		t.Fatalf("err = %v, want death by SIGXCPU or SIGKILL", err)
	}
}
