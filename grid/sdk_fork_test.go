package grid_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

// A process forked by an SDK binary does not inherit the SDK's blocked
// SIGTERM: a plain kill ends it, as it would any process. The element
// forks it and then sleeps, so that it is alive, its parent still there,
// while the test signals it.
func TestAForkedChildOfTheSDKDiesOnSIGTERM(t *testing.T) {
	t.Parallel()
	f := setup(t)
	state := t.TempDir()
	job := f.job(f.faulty, testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(1, map[int]string{0: "setsid-grandchild:120000"})...))
	job.Env = []string{"FAULTY_STATE_DIR=" + state}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := grid.Run(ctx, job, quiet)
		done <- err
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("the job did not end within 60s of its cancellation")
		}
	}()

	deadline := time.Now().Add(60 * time.Second)
	var pid int
	for pid == 0 {
		b, err := os.ReadFile(filepath.Join(state, "e000.grandchild"))
		switch {
		case err == nil:
			if pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
				t.Fatalf("pid file %q", b)
			}
		case !errors.Is(err, os.ErrNotExist):
			t.Fatal(err)
		case time.Now().After(deadline):
			t.Fatal("the element did not fork within 60s")
		default:
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Its parent, asleep in the element, does not reap it: it stays a
	// zombie, whose exit code (field 52 of stat) names the signal.
	for {
		st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			t.Fatalf("the forked child is gone before the test saw it die: %v", err)
		}
		fields := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
		if fields[0] == "Z" {
			if code, _ := strconv.Atoi(fields[len(fields)-1]); code&0x7f != int(syscall.SIGTERM) {
				t.Errorf("the forked child died with wait status %#x, want death by SIGTERM", code)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the forked child still runs 60s after SIGTERM: its SIGTERM is blocked or handled")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
