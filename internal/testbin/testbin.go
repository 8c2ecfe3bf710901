// Package testbin gives tests the project's real binaries (bin/pricer,
// bin/faulty, bin/gridrun), built by make on first use. Builds are
// serialized across the test processes of one `go test ./...` with a file
// lock, so packages tested in parallel do not race on the same outputs.
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

var (
	mu    sync.Mutex
	built = map[string]error{}
)

// Root returns the repository's root directory.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// Path returns the absolute path of bin/name, built with make once per test
// process.
func Path(t testing.TB, name string) string {
	t.Helper()
	root := Root(t)
	mu.Lock()
	defer mu.Unlock()
	err, ok := built[name]
	if !ok {
		err = build(root, name)
		built[name] = err
	}
	if err != nil {
		t.Fatalf("make bin/%s: %v", name, err)
	}
	return filepath.Join(root, "bin", name)
}

func build(root, name string) error {
	if err := os.MkdirAll(filepath.Join(root, "build"), 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(root, "build", ".make.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	cmd := exec.Command("make", "-s", "bin/"+name)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return &buildError{err: err, out: string(out)}
	}
	return nil
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }
