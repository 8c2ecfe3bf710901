package grid_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridrun/gridrun/binstage"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

// cachedCopy returns the path of the one binary staged in the cache dir.
func cachedCopy(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	hash := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for _, e := range ents {
		if hash.MatchString(e.Name()) {
			return filepath.Join(dir, e.Name())
		}
	}
	t.Fatalf("no staged binary in %s", dir)
	return ""
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// A cached binary replaced by a script while a job runs never runs: every
// later call, and every worker started again after a crash, runs the bytes
// verified when the job started, and the manifest's hash is theirs.
func TestACachedBinaryReplacedMidJobNeverRuns(t *testing.T) {
	t.Parallel()
	for _, persistent := range []bool{false, true} {
		t.Run(fmt.Sprintf("persistent=%v", persistent), func(t *testing.T) {
			t.Parallel()
			tamperCase(t, persistent)
		})
	}
}

func tamperCase(t *testing.T, persistent bool) {
	f := setup(t)
	const n, poison = 300, 280
	faults := map[int]string{poison: "segv"} // a crash after the swap: new processes
	for i := range n {
		if i != poison {
			faults[i] = "sleep:2"
		}
	}
	job := f.job(f.faulty, testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(n, faults)...))
	job.CacheDir = t.TempDir()
	job.Env = testbin.Own(job.Env, job.CacheDir)
	job.BatchSize, job.FixedBatchSize = 5, true
	job.Persistent = persistent

	marker := filepath.Join(t.TempDir(), "tampered")
	script := []byte("#!/bin/sh\ntouch " + marker + "\n")
	var once sync.Once
	var swappedAt *grid.Progress
	hooks := &grid.Hooks{
		Logger:           slog.New(slog.DiscardHandler),
		ProgressInterval: time.Millisecond,
		// Calls have started and most have not: swap the cached copy, as
		// another user writing into the cache would.
		OnProgress: func(p grid.Progress) {
			if p.Settled == 0 || p.Settled > n/2 {
				return
			}
			once.Do(func() {
				path := cachedCopy(t, job.CacheDir)
				tmp := path + ".evil"
				if err := os.WriteFile(tmp, script, 0o755); err != nil {
					t.Error(err)
					return
				}
				if err := os.Rename(tmp, path); err != nil {
					t.Error(err)
					return
				}
				swappedAt = &p
			})
		},
	}
	m, err := grid.Run(context.Background(), job, hooks)
	if err != nil {
		t.Fatal(err)
	}
	testbin.AssertNothingRuns(t, job.CacheDir)
	if swappedAt == nil {
		t.Fatal("the job ended before the cached copy was swapped")
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the swapped-in script ran")
	}
	if m.Calls-swappedAt.Calls < 10 {
		t.Fatalf("only %d calls after the swap", m.Calls-swappedAt.Calls)
	}
	o := readOutputs(t, job.Output)
	if len(o.results) != n-1 || len(o.dead) != 1 || o.dead[fmt.Sprintf("e%03d", poison)].Kind != grid.KindCrash {
		t.Fatalf("%d results, dead letters %v; want %d results and e%03d a crash", len(o.results), kinds(o), n-1, poison)
	}
	for id, raw := range o.results {
		var r struct{ Y float64 }
		x, _ := strconv.Atoi(strings.TrimPrefix(id, "e"))
		if err := json.Unmarshal(raw, &r); err != nil || r.Y != float64(2*x) {
			t.Fatalf("%s: result %s, want y = %d", id, raw, 2*x)
		}
	}
	if want := sha256File(t, f.faulty); m.Binary.SHA256 != want {
		t.Fatalf("manifest sha256 %s, the binary's is %s", m.Binary.SHA256, want)
	}
}

// A cache others can write, or a cached binary replaced by a symbolic link
// (whose target could be swapped at any time), is refused before anything
// runs.
func TestAnUnsafeCacheIsRefused(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for name, prepare := range map[string]func(t *testing.T, cache string) string{
		"world-writable": func(t *testing.T, cache string) string {
			if err := os.Chmod(cache, 0o777); err != nil {
				t.Fatal(err)
			}
			return "chmod go-w " + cache
		},
		"symlink": func(t *testing.T, cache string) string {
			s, err := binstage.Stage(context.Background(), f.faulty, &binstage.Options{CacheDir: cache})
			if err != nil {
				t.Fatal(err)
			}
			elsewhere := filepath.Join(t.TempDir(), "faulty")
			if err := os.Rename(s.Path, elsewhere); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(elsewhere, s.Path); err != nil {
				t.Fatal(err)
			}
			return "is a symbolic link"
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			job := f.job(f.faulty, testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(10, nil)...))
			job.CacheDir = t.TempDir()
			job.Env = testbin.Own(job.Env, job.CacheDir)
			want := prepare(t, job.CacheDir)
			m, err := grid.Run(context.Background(), job, quiet)
			var ce *grid.ConfigError
			var ue *binstage.UnsafeCacheError
			if !errors.As(err, &ce) || !errors.As(err, &ue) || !strings.Contains(err.Error(), want) || m != nil {
				t.Fatalf("err = %v, want a ConfigError saying %q", err, want)
			}
			if _, err := os.Stat(filepath.Join(job.Output, "results-00000.jsonl")); err == nil {
				t.Fatal("the refused job wrote results")
			}
		})
	}
}

// ps and pgrep show a running call as the binary it runs, not as its hash
// in the cache or a descriptor number.
func TestARunningCallBearsTheBinarysName(t *testing.T) {
	t.Parallel()
	f := setup(t)
	job := f.job(f.faulty, testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(1, map[int]string{0: "hang"})...))
	job.CacheDir = t.TempDir()
	job.Env = testbin.Own(job.Env, job.CacheDir)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := grid.Run(ctx, job, quiet)
		done <- err
	}()
	defer func() {
		cancel()
		<-done
		testbin.AssertNothingRuns(t, job.CacheDir)
	}()
	pid := waitForCall(t, job.CacheDir, done)
	comm, err := os.ReadFile(filepath.Join("/proc", pid, "comm"))
	if err != nil || strings.TrimSpace(string(comm)) != "faulty" {
		t.Fatalf("comm %q (%v), want faulty", comm, err)
	}
	if exe, err := os.Readlink(filepath.Join("/proc", pid, "exe")); err != nil || exe != "/memfd:faulty (deleted)" {
		t.Fatalf("exe %q (%v), want the sealed copy", exe, err)
	}
}

// waitForCall returns the pid of a call of the job whose processes Own
// marked with dir, once that call has become the binary (until its exec,
// a forked child is a copy of this test) with a batch to run.
func waitForCall(t *testing.T, dir string, done <-chan error) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	mark := []byte("GRIDRUN_TEST_CACHE=" + dir + "\x00")
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("the job ended (%v) before its call was seen", err)
		default:
		}
		procs, _ := os.ReadDir("/proc")
		for _, p := range procs {
			env, err := os.ReadFile(filepath.Join("/proc", p.Name(), "environ"))
			if err != nil || !strings.Contains(string(env), string(mark)) {
				continue
			}
			// A call, not the binary describing itself: that process ends
			// at once.
			cmd, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
			if !strings.Contains(string(cmd), "\x00--gridrun-batch\x00") && !strings.Contains(string(cmd), "\x00--gridrun-serve") {
				continue
			}
			if exe, err := os.Readlink(filepath.Join("/proc", p.Name(), "exe")); err == nil && exe != self {
				return p.Name()
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("no call of the job seen within 30s")
	return ""
}
