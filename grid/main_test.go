package grid_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The storage client's dependencies start this in an init.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// fixture is what a test needs to run jobs: the real binaries and a
// private cache, so that the staged copies (the paths that actually run)
// belong to this test alone.
type fixture struct {
	t      *testing.T
	root   string
	pricer string
	faulty string
	cache  string
}

func setup(t *testing.T) *fixture {
	t.Helper()
	return &fixture{
		t:      t,
		root:   testbin.Root(t),
		pricer: testbin.Path(t, "pricer"),
		faulty: testbin.Path(t, "faulty"),
		cache:  t.TempDir(),
	}
}

// job returns a job of binary over input, writing to a new directory.
func (f *fixture) job(binary string, inputs ...string) grid.Job {
	return grid.Job{
		Binary:      binary,
		Inputs:      inputs,
		Output:      filepath.Join(f.t.TempDir(), "out"),
		CacheDir:    f.cache,
		Parallelism: 2,
		Grace:       grid.Duration(200e6),
	}
}

// quiet are the hooks of a test's job: its log is not the test's.
var quiet = &grid.Hooks{Logger: slog.New(slog.DiscardHandler)}

func (f *fixture) testdata(name string) string { return filepath.Join(f.root, "testdata", name) }

// outputs is what a job wrote, read back and checked for the guarantee
// that every element appears once.
type outputs struct {
	results map[string]json.RawMessage
	dead    map[string]grid.DeadLetter // by id; bad rows without id by "line N"
}

func readOutputs(t *testing.T, dir string) outputs {
	t.Helper()
	o := outputs{results: map[string]json.RawMessage{}, dead: map[string]grid.DeadLetter{}}
	seen := map[string]string{}
	once := func(key, where string) {
		if prev, dup := seen[key]; dup {
			t.Fatalf("element %s is in %s and in %s", key, prev, where)
		}
		seen[key] = where
	}
	testbin.ScanLines(t, dir, "results-*.jsonl", func(where string, line []byte) {
		var r struct {
			ID     string          `json:"id"`
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(line, &r); err != nil || r.ID == "" || r.Result == nil {
			t.Fatalf("%s: bad result line %q", where, line)
		}
		once(r.ID, where)
		o.results[r.ID] = r.Result
	})
	testbin.ScanLines(t, dir, "dead-letters-*.jsonl", func(where string, line []byte) {
		var d grid.DeadLetter
		if err := json.Unmarshal(line, &d); err != nil || d.Kind == "" || d.Message == "" {
			t.Fatalf("%s: bad dead letter %q", where, line)
		}
		key := d.ID
		if key == "" || d.Kind == grid.KindBadInput {
			key = fmt.Sprintf("line %d", d.Line)
		}
		once(key, where)
		o.dead[key] = d
	})
	return o
}

func kinds(o outputs) map[string]int {
	k := map[string]int{}
	for _, d := range o.dead {
		k[d.Kind]++
	}
	return k
}
