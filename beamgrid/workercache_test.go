package beamgrid_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/gridrun/gridrun/beamgrid"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

// staged returns the files under dir whose bytes hash to sha.
func staged(t *testing.T, dir, sha string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		if h := sha256.Sum256(b); hex.EncodeToString(h[:]) == sha {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// With BuildOptions.WorkerCacheDir, the workers stage the binary there,
// and this machine in the job's cache directory: on prism both are this
// machine, so each holds a copy, and the manifest records the workers'.
func TestWorkersStageInTheirOwnCacheDir(t *testing.T) {
	closeWorkers(t)
	input := testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(20, nil)...)
	workers := filepath.Join(t.TempDir(), "workers")
	job := grid.Job{
		Binary: testbin.Path(t, "faulty"), CacheDir: t.TempDir(), Inputs: []string{input},
		Output: filepath.Join(t.TempDir(), "beam"), Parallelism: 2, BatchSize: 10,
	}
	m, err := runBeam(t, job, &beamgrid.BuildOptions{Shards: 1, OutputShards: 1, WorkerCacheDir: workers})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(job.Binary)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	sha := hex.EncodeToString(h[:])
	if here, there := staged(t, job.CacheDir, sha), staged(t, workers, sha); len(here) != 1 || len(there) != 1 {
		t.Errorf("staged copies: %v in the job's cache, %v in the workers'; want one each", here, there)
	}
	if m.Results != 20 || m.Options.CacheDir != workers {
		t.Errorf("manifest: %d results, options.cache_dir %q; want 20 and %s", m.Results, m.Options.CacheDir, workers)
	}
}
