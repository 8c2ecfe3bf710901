package beamgrid_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

// A Beam job's output is locked while the pipeline runs and released when
// it ends; a job on a locked output, or a resume whose input was rewritten
// in place, is refused before the pipeline runs, saying why.
func TestBeamLockAndResumeFingerprint(t *testing.T) {
	closeWorkers(t)
	input := testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(30, nil)...)
	job := grid.Job{
		Binary: testbin.Path(t, "faulty"), CacheDir: t.TempDir(), Inputs: []string{input},
		Output: filepath.Join(t.TempDir(), "beam"), Parallelism: 2, BatchSize: 10,
	}
	lock := filepath.Join(job.Output, "_gridrun", "lock")
	os.MkdirAll(filepath.Dir(lock), 0o755)
	os.WriteFile(lock, []byte(`{"pid":4242,"host":"elsewhere","started":"2026-01-02T03:04:05Z"}`+"\n"), 0o644)
	_, err := runBeam(t, job, nil)
	var ce *grid.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "is in use by gridrun pid 4242 on elsewhere since 2026-01-02T03:04:05Z") {
		t.Fatalf("a locked output: %v", err)
	}
	os.Remove(lock)

	if m, err := runBeam(t, job, nil); err != nil || m.Status != "ok" {
		t.Fatalf("first run: %v, %+v", err, m)
	}
	if _, err := os.Stat(lock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the lock stays after the pipeline: %v", err)
	}
	sum := func() string {
		b, _ := os.ReadFile(input)
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:])
	}
	old := sum()
	b, _ := os.ReadFile(input)
	os.WriteFile(input, []byte(strings.ReplaceAll(string(b), `"id":"e`, `"id":"n`)), 0o644)
	job.Resume = true
	_, err = runBeam(t, job, nil)
	want := fmt.Sprintf("input %s: sha256 was %s, is %s", input, old, sum())
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) {
		t.Fatalf("resume with the input rewritten: %v\nwant a *grid.ConfigError saying %q", err, want)
	}
	os.WriteFile(input, b, 0o644)
	if m, err := runBeam(t, job, nil); err != nil || m.Runs != 2 {
		t.Fatalf("resume with the input as it was: %v, %+v", err, m)
	}
}
