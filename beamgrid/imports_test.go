package beamgrid_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/internal/testbin"
)

// The core packages, and the CLI that runs jobs locally, do not link Beam:
// layers point one way, and the local path stays light. Only beamgrid and
// what uses it (cmd/gridrun-beam) do.
func TestCoreDoesNotImportBeam(t *testing.T) {
	t.Parallel()
	core := []string{"grid", "wrapper", "binstage", "batcher", "codec", "join", "join/bigtable", "report", "cmd/gridrun"}
	args := []string{"list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}"}
	for _, p := range core {
		args = append(args, "github.com/gridrun/gridrun/"+p)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = testbin.Root(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const beam = "github.com/apache/beam/"
	seen := 0
	for line := range strings.Lines(string(out)) {
		pkg, imports, _ := strings.Cut(strings.TrimSpace(line), " ")
		seen++
		if strings.HasPrefix(pkg, beam) {
			continue // reported through its importer below
		}
		for _, imp := range strings.Fields(imports) {
			if strings.HasPrefix(imp, beam) {
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
	}
	if seen < len(core) {
		t.Fatalf("go list listed %d packages", seen)
	}
}
