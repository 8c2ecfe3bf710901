package wrapper

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridrun/gridrun/internal/caplog"
)

// containments are the ways of killing escaped processes this machine
// offers: the subreaper always, a cgroup per call where allowed.
func containments(t *testing.T) []Containment {
	if DetectContainment() == ContainCgroup {
		return []Containment{ContainCgroup, ContainSubreaper}
	}
	t.Logf("no writable cgroup v2 here: testing the subreaper only")
	return []Containment{ContainSubreaper}
}

// A grandchild that makes a session of its own is out of reach of the
// group's SIGKILL, and keeps the binary's stdout and stderr open: the
// call still ends within its grace period, and the grandchild is killed.
func TestASetsidGrandchildIsKilledWithTheCall(t *testing.T) {
	t.Parallel()
	for _, c := range containments(t) {
		t.Run(string(c), func(t *testing.T) {
			t.Parallel()
			opts := &Options{Dir: t.TempDir(), LogDir: t.TempDir(), Grace: time.Second, Containment: c}
			type result struct {
				out *Outcome
				err error
			}
			done := make(chan result, 1)
			go func() {
				out, err := Run(context.Background(), fake(t, "setsid-grandchild"), batchOf(2), opts)
				done <- result{out, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the call did not end within 20s of a 1s grace period")
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			if len(r.out.Results) != 2 || r.out.Stdout.Cut || r.out.Stderr.Cut {
				t.Errorf("%d results, stdout cut %v, stderr cut %v; want 2 and no cut", len(r.out.Results), r.out.Stdout.Cut, r.out.Stderr.Cut)
			}
			assertGone(t, r.out.PID)
			assertGrandchildGone(t, r.out.Stderr.Path)
		})
	}
}

// The same for a persistent worker, killed when it is closed.
func TestASetsidGrandchildOfAWorkerIsKilled(t *testing.T) {
	t.Parallel()
	for _, c := range containments(t) {
		t.Run(string(c), func(t *testing.T) {
			t.Parallel()
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			w, err := StartWorker(Binary{Path: exe, Env: []string{"FAKE_BINARY=serve-setsid", "GORACE=atexit_sleep_ms=0"}},
				&Options{Grace: time.Second, Containment: c, LogDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			wc, err := w.Start(context.Background(), batchOf(2))
			if err != nil {
				t.Fatal(err)
			}
			out, err := wc.Wait()
			if err != nil {
				t.Fatal(err)
			}
			pid, err := strconv.Atoi(string(out.Results[0].GetPayload()))
			if err != nil {
				t.Fatalf("payload %q", out.Results[0].GetPayload())
			}
			closed := make(chan struct{})
			go func() { w.Close(false); close(closed) }()
			select {
			case <-closed:
			case <-time.After(20 * time.Second):
				t.Fatal("the worker did not close within 20s of a 1s grace period")
			}
			waitFor(t, func() bool {
				st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
				return err != nil || strings.Contains(string(st), ") Z")
			})
		})
	}
}

// Each pipe has a deadline of its own: with both held open by a process
// the runner could not kill, release returns after the grace period, and
// each log says where its output was cut.
func TestEachPipeDrainHasItsOwnDeadline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := &process{}
	var held []*os.File
	for i, name := range []string{"out", "err"} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, w)
		l, err := caplog.Create(filepath.Join(dir, name), 1<<10, 1<<10)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			p.stdout = l
		} else {
			p.stderr = l
		}
		p.drains = append(p.drains, startDrain(r, l))
	}
	defer closeFiles(held)
	released := make(chan struct{})
	go func() { p.release(50 * time.Millisecond); close(released) }()
	select {
	case <-released:
	case <-time.After(10 * time.Second):
		t.Fatal("release did not return within 10s of a 50ms bound")
	}
	for i, d := range p.drains {
		if !d.cut.Load() {
			t.Errorf("drain %d not marked cut", i)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "err"))
	if err != nil || !strings.Contains(string(b), "output cut here") {
		t.Errorf("stderr log %q (%v) does not say it was cut", b, err)
	}
}
