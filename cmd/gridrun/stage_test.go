package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/fakegcs"
)

// lockedBuffer collects output that log handlers may write from several
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// gridrun runs the CLI in process and returns its exit code and output.
func gridrun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errs lockedBuffer
	code = run(context.Background(), args, &out, &errs)
	return code, out.String(), errs.String()
}

// repoRoot is where the Makefile is; the tests use the example pricer
// and the demo's inputs.
const repoRoot = "../.."

// pricer returns the example pricer, built by make when missing.
func pricer(t *testing.T) string {
	t.Helper()
	path := filepath.Join(repoRoot, "bin", "pricer")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if out, err := exec.Command("make", "-C", repoRoot, "bin/pricer").CombinedOutput(); err != nil {
			t.Skipf("the example pricer cannot be built here (make build): %v\n%s", err, out)
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
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

func lines(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte("\n"))
}

// The commands of the issue, end to end, against fake-gcs-server through
// STORAGE_EMULATOR_HOST, as a user would run them. Not parallel: the
// emulator is named by the environment.
func TestStageCommands(t *testing.T) {
	gcs := fakegcs.Start(t, "demo")
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host())
	cache := filepath.Join(t.TempDir(), "cache")
	t.Setenv("GRIDRUN_CACHE_DIR", cache)
	bin := pricer(t)
	sum := sha256File(t, bin)
	const ref = "gs://demo/bins/pricer@1.0.0"

	code, out, errs := gridrun(t, "stage", "push", bin, ref)
	if code != 0 || out != sum+"  "+ref+"\n" {
		t.Fatalf("push: exit %d, %q, %s", code, out, errs)
	}
	code, _, errs = gridrun(t, "stage", "push", bin, ref)
	if code != exitFailed || !strings.Contains(errs, "already exists") {
		t.Errorf("second push: exit %d, %s", code, errs)
	}

	code, out, errs = gridrun(t, "stage", "list", "gs://demo/bins/pricer")
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(rows) != 2 || !strings.HasPrefix(rows[0], "VERSION") ||
		!strings.HasPrefix(rows[1], "1.0.0") || !strings.Contains(rows[1], sum) || !strings.Contains(rows[1], "linux/") {
		t.Errorf("list: exit %d, %q, %s", code, out, errs)
	}

	code, out, errs = gridrun(t, "stage", "fetch", ref)
	if want := filepath.Join(cache, sum) + "\n"; code != 0 || out != want {
		t.Errorf("fetch: exit %d, %q, want %q; %s", code, out, want, errs)
	}

	t.Run("run", func(t *testing.T) {
		output := filepath.Join(t.TempDir(), "out")
		code, out, errs := gridrun(t, "run", "--binary", ref, "--sha256", sum,
			"--input", filepath.Join(repoRoot, "testdata/trades.jsonl"),
			"--join", filepath.Join(repoRoot, "testdata/quotes.csv"), "--join-key", "{underlying}",
			"--output", output)
		if code != 0 {
			t.Fatalf("run: exit %d\n%s\n%s", code, out, errs)
		}
		m, err := grid.ReadManifest(output)
		if err != nil {
			t.Fatal(err)
		}
		b := m.Binary
		if b.URI != ref || b.Version != "1.0.0" || b.SHA256 != sum || b.Path != filepath.Join(cache, sum) {
			t.Errorf("manifest binary %+v", b)
		}
		if want := lines(filepath.Join(repoRoot, "testdata/trades.jsonl")); m.Results != int64(want) {
			t.Errorf("%d results for %d trades", m.Results, want)
		}
	})

	t.Run("tampered", func(t *testing.T) {
		// A binary that would leave a mark if anything ran it.
		marker := filepath.Join(t.TempDir(), "ran")
		evil := []byte("#!/bin/sh\ntouch " + marker + "\n")
		gcs.Put("demo", "bins/pricer/1.0.0/pricer", evil)
		if err := os.RemoveAll(cache); err != nil { // the cached copy would be right
			t.Fatal(err)
		}
		h := sha256.Sum256(evil)
		evilSum := hex.EncodeToString(h[:])
		output := filepath.Join(t.TempDir(), "out")
		code, _, errs := gridrun(t, "run", "--binary", ref,
			"--input", filepath.Join(repoRoot, "testdata/trades.jsonl"), "--output", output)
		if code != exitUsage || !strings.Contains(errs, sum) || !strings.Contains(errs, evilSum) {
			t.Errorf("run: exit %d, %s", code, errs)
		}
		if _, err := os.Stat(marker); !errors.Is(err, fs.ErrNotExist) {
			t.Error("the tampered binary ran")
		}
		if _, err := os.Stat(filepath.Join(output, "manifest.json")); !errors.Is(err, fs.ErrNotExist) {
			t.Error("a job started")
		}
	})

	t.Run("pin", func(t *testing.T) {
		pin := strings.Repeat("ab", 32)
		code, _, errs := gridrun(t, "stage", "fetch", "--sha256", pin, ref)
		if code != exitUsage || !strings.Contains(errs, pin) || !strings.Contains(errs, sum) {
			t.Errorf("fetch: exit %d, %s", code, errs)
		}
	})

	t.Run("not found", func(t *testing.T) {
		code, _, errs := gridrun(t, "stage", "fetch", "gs://demo/bins/pricer@9.9.9")
		if code != exitUsage || !strings.Contains(errs, "version 9.9.9 is not published") {
			t.Errorf("fetch: exit %d, %s", code, errs)
		}
		code, _, errs = gridrun(t, "stage", "fetch", "gs://demo/bins/pricer")
		if code != exitUsage || !strings.Contains(errs, "@VERSION") {
			t.Errorf("fetch without a version: exit %d, %s", code, errs)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := l.Addr().String()
		l.Close()
		t.Setenv("STORAGE_EMULATOR_HOST", closed)
		start := time.Now()
		code, _, errs := gridrun(t, "stage", "list", "gs://demo/bins/pricer")
		if code != exitFailed || !strings.Contains(errs, "unreachable") || !strings.Contains(errs, closed) {
			t.Errorf("list: exit %d, %s", code, errs)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %v", d)
		}
	})
}

// A local directory works as a store, with the same commands.
func TestStageLocalDirectory(t *testing.T) {
	t.Parallel()
	bin := pricer(t)
	sum := sha256File(t, bin)
	ref := "file://" + filepath.Join(t.TempDir(), "bins", "pricer") + "@2.0"
	if code, out, errs := gridrun(t, "stage", "push", "--revision", "r1", bin, ref); code != 0 || !strings.HasPrefix(out, sum) {
		t.Fatalf("push: exit %d, %q, %s", code, out, errs)
	}
	code, out, errs := gridrun(t, "stage", "list", strings.TrimSuffix(ref, "@2.0"))
	if code != 0 || !strings.Contains(out, sum) || !strings.Contains(out, "r1") {
		t.Errorf("list: exit %d, %q, %s", code, out, errs)
	}
	cache := t.TempDir()
	code, out, errs = gridrun(t, "stage", "fetch", "--cache-dir", cache, ref)
	if code != 0 || out != filepath.Join(cache, sum)+"\n" {
		t.Errorf("fetch: exit %d, %q, %s", code, out, errs)
	}
	if code, _, errs := gridrun(t, "stage", "push", bin, "relative/pricer@1"); code != exitUsage {
		t.Errorf("push to a plain path: exit %d, %s", code, errs)
	}
}
