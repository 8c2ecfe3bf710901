package beamgrid_test

import (
	"maps"
	"path/filepath"
	"testing"

	"github.com/gridrun/gridrun/beamgrid"
)

// On Beam the Executor consults the same cache, in Cloud Storage: the
// second run makes no call and writes the first run's result lines.
func TestBeamRerunIsServedFromACloudStorageCache(t *testing.T) {
	job := demo(t)
	job.ResultCache = "gs://trades/gridrun-cache"
	// Without splits among claimed rows, each element is looked up once:
	// a split that stops a call may have a row looked up, and computed,
	// in the primary and again in the residual (written once), which
	// would make the counts depend on prism's timing.
	job.NoSplit = true
	opts := &beamgrid.BuildOptions{Shards: 3, OutputShards: 2, Runner: "prism"}

	job.Output = filepath.Join(t.TempDir(), "first")
	m1, err := runBeam(t, job, opts)
	if err != nil {
		t.Fatal(err)
	}
	first := readOutputs(t, job.Output)
	if c := m1.ResultCache; c == nil || c.Misses != 1000 || c.Stored != 1000 || c.Hits != 0 || m1.Results != 1000 {
		t.Fatalf("first run: %d results, cache %+v", m1.Results, m1.ResultCache)
	}

	job.Output = filepath.Join(t.TempDir(), "second")
	m2, err := runBeam(t, job, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c := m2.ResultCache; c.Hits != 1000 || c.Misses != 0 || m2.Calls != 0 || c.IndexEntries != 1000 {
		t.Fatalf("second run: %d calls, cache %+v; want 1000 hits and no call", m2.Calls, c)
	}
	if got := readOutputs(t, job.Output); !maps.Equal(got.results, first.results) || len(got.dead) != 0 {
		t.Fatalf("second run: %d results, %d dead letters, not the first run's", len(got.results), len(got.dead))
	}
}
