package beamgrid_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

// Scenarios run on the local engine only: a Beam job with them is refused
// before the pipeline runs or anything is written, saying so.
func TestBeamRefusesScenarios(t *testing.T) {
	closeWorkers(t)
	input := testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(3, nil)...)
	job := grid.Job{
		Binary: testbin.Path(t, "faulty"), CacheDir: t.TempDir(), Inputs: []string{input},
		Output: filepath.Join(t.TempDir(), "beam"), Scenarios: testbin.WriteLines(t, "s.jsonl", `{"id":"base"}`),
	}
	_, err := runBeam(t, job, nil)
	var ce *grid.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "local engine only") {
		t.Fatalf("a Beam job with scenarios: %v, want a *grid.ConfigError", err)
	}
	if _, err := os.Stat(job.Output); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused job made its output: %v", err)
	}
}
