package beamgrid_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/beamgrid"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

// On prism, the shards' partial aggregates merged in the manifest step
// give aggregates files identical, byte for byte, to the local engine's:
// sums are exact, so neither the batching nor the order of the merges
// shows. Dead letters count in their element's group on both engines,
// a duplicate id's too; a row that does not decode counts in no element's.
func TestAggregatesEqualTheLocalEngines(t *testing.T) {
	closeWorkers(t)
	root := testbin.Root(t)
	var tasks []string
	for i := range 400 {
		fault := ""
		if i%9 == 4 {
			fault = "throw"
		}
		tasks = append(tasks, fmt.Sprintf(`{"id":"e%03d","fault":%q,"arg":%d,"x":%v}`, i, fault, i%4, float64(i)*0.37-11.3+1e-7*float64(i*i)))
	}
	// A row that never became an element, and a second row of an id:
	// both dead letters, the second in its element's group.
	tasks = append(tasks, `{"id":"broken",`, `{"id":"e010","fault":"","arg":3,"x":1000.5}`)
	input := testbin.WriteLines(t, "tasks.jsonl", tasks...)
	for _, c := range []struct {
		name  string
		job   grid.Job
		specs []string
	}{
		{"pricer", grid.Job{
			Binary: testbin.Path(t, "pricer"), Inputs: []string{filepath.Join(root, "testdata/trades.jsonl")},
			Join: &grid.JoinSpec{Source: filepath.Join(root, "testdata/quotes.csv"), Key: "{underlying}"},
		}, []string{"sum(value, delta, vega) by underlying", "quantile(0.99, value) over underlying", "mean(price) by method, type", "count() by style"}},
		{"faulty", grid.Job{Binary: testbin.Path(t, "faulty"), Inputs: []string{input}},
			[]string{"sum(y, x) by arg", "max(x) by fault", "count() by y"}},
	} {
		job := c.job
		job.CacheDir, job.Parallelism, job.Aggregates = t.TempDir(), 2, c.specs
		want, _ := local(t, job)
		if len(want.Aggregates) != len(c.specs) {
			t.Fatalf("%s: local engine wrote %d aggregates", c.name, len(want.Aggregates))
		}
		job.Output = filepath.Join(t.TempDir(), "beam")
		m, err := runBeam(t, job, &beamgrid.BuildOptions{Shards: 3, OutputShards: 2, Runner: "prism"})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(m.Aggregates) != len(c.specs) {
			t.Fatalf("%s: the Beam manifest lists %d aggregates", c.name, len(m.Aggregates))
		}
		for i, a := range want.Aggregates {
			wantB, err := os.ReadFile(filepath.Join(want.Options.Output, a.File))
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(job.Output, m.Aggregates[i].File))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(wantB) || m.Aggregates[i].Spec != a.Spec || m.Aggregates[i].Groups != a.Groups {
				t.Errorf("%s: %s on prism:\n%s\nlocal engine:\n%s", c.name, a.Spec, got, wantB)
			}
			if strings.Contains(a.Spec, " by ") && strings.Count(string(got), "\n") < 2 {
				t.Errorf("%s: %s has %q: too few groups to show anything", c.name, a.Spec, got)
			}
		}
	}
}
