package outdir_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/jobspec"
	"github.com/gridrun/gridrun/outdir"
)

// A held directory is refused, naming its holder; once released it is
// taken again. (Two processes, and a holder killed, are the CLI's tests.)
func TestTheLockExcludesAndNamesItsHolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	l, err := outdir.TakeLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A second open file description of the same file is excluded too,
	// as another process's would be.
	_, err = outdir.TakeLock(dir)
	var in *outdir.InUseError
	var je *jobspec.Error
	if !errors.As(err, &in) || !errors.As(err, &je) || in.Holder.PID != os.Getpid() {
		t.Fatalf("second lock: %v, want an *InUseError naming pid %d inside a *jobspec.Error", err, os.Getpid())
	}
	host, _ := os.Hostname()
	if !strings.Contains(err.Error(), "is in use by gridrun pid") || !strings.Contains(err.Error(), " on "+host+" since ") {
		t.Errorf("message: %v", err)
	}
	l.Unlock()
	l2, err := outdir.TakeLock(dir)
	if err != nil {
		t.Fatalf("after Unlock: %v", err)
	}
	l2.Unlock()
	// The lock file alone is a new directory still.
	if err := outdir.CheckNew(dir, false); err != nil {
		t.Errorf("a directory holding its lock only: %v", err)
	}
}

// A new job that cannot start leaves its directory as it found it.
func TestAbandonLeavesTheDirectoryAsFound(t *testing.T) {
	absent := filepath.Join(t.TempDir(), "out")
	l, err := outdir.TakeLock(absent)
	if err != nil {
		t.Fatal(err)
	}
	l.Abandon()
	if _, err := os.Stat(absent); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a directory the lock created stays: %v", err)
	}
	empty := t.TempDir()
	l, err = outdir.TakeLock(empty)
	if err != nil {
		t.Fatal(err)
	}
	l.Abandon()
	if entries, err := os.ReadDir(empty); err != nil || len(entries) != 0 {
		t.Errorf("an empty directory holds %v (%v)", entries, err)
	}
}
