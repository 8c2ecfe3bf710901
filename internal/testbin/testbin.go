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

func build(root, name string) error { return runMake(root, "bin/"+name) }

// Make runs make with args in the repository's root, under the same lock
// as the builds of Path: make install, make build.
func Make(t testing.TB, args ...string) {
	t.Helper()
	if err := runMake(Root(t), args...); err != nil {
		t.Fatalf("make %v: %v", args, err)
	}
}

func runMake(root string, args ...string) error {
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
	cmd := exec.Command("make", append([]string{"-s"}, args...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return &buildError{err: err, out: string(out)}
	}
	return nil
}

// Tool returns the path of a command the test needs that the build does
// not (cmake, installed by make test-deps). Absent, the test is skipped on
// a developer's machine and fails in CI (CI=true), where a skip would hide
// that the test never ran.
func Tool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (make test-deps installs it): %v", name, err)
	}
	t.Skipf("%s is not installed (make test-deps installs it)", name)
	return ""
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }
