package beamgrid_test

import (
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/gridrun/gridrun/beamgrid"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/fakegcs"
	"github.com/gridrun/gridrun/internal/testbin"
)

// The common data, read from Cloud Storage when the pipeline is built,
// reaches the binary on the workers as it does on the local engine: the
// same curve, the same prices, the same digest in the manifest.
func TestCommonDataFromCloudStorageGivesTheLocalEnginesResults(t *testing.T) {
	closeWorkers(t)
	root := testbin.Root(t)
	curve, err := os.ReadFile(filepath.Join(root, "testdata", "common.json"))
	if err != nil {
		t.Fatal(err)
	}
	gcs := fakegcs.Start(t, "cfg")
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host())
	gcs.Put("cfg", "curves/usd.json", curve)
	job := grid.Job{
		Binary:      testbin.Path(t, "pricer"),
		CacheDir:    t.TempDir(),
		Inputs:      []string{filepath.Join(root, "testdata", "trades.jsonl")},
		Join:        &grid.JoinSpec{Source: filepath.Join(root, "testdata", "quotes.csv"), Key: "{underlying}"},
		Common:      "gs://cfg/curves/usd.json",
		Parallelism: 2,
	}
	lm, want := local(t, job)
	if len(want.results) != 1000 || lm.Common == nil {
		t.Fatalf("local engine: %d results, common %+v", len(want.results), lm.Common)
	}
	flat := job
	flat.Common = ""
	if _, other := local(t, flat); maps.Equal(other.results, want.results) {
		t.Fatal("the curve changed no price")
	}

	job.Output = filepath.Join(t.TempDir(), "beam")
	m, err := runBeam(t, job, &beamgrid.BuildOptions{Shards: 3, OutputShards: 2, Runner: "prism"})
	if err != nil {
		t.Fatal(err)
	}
	got := readOutputs(t, job.Output)
	if !maps.Equal(got.results, want.results) || len(got.dead) != 0 {
		t.Errorf("beam: %d results, %d dead letters; differ from the local engine's", len(got.results), len(got.dead))
	}
	if m.Common == nil || *m.Common != *lm.Common {
		t.Errorf("beam manifest's common data %+v, local %+v", m.Common, lm.Common)
	}
}
