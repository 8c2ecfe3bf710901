package beamgrid_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"go.uber.org/goleak"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

func TestMain(m *testing.M) {
	flag.Parse()
	beam.Init()
	goleak.VerifyTestMain(m,
		// The storage client's dependencies start this in an init.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		// prism.Execute starts its in-process job server and loopback
		// worker pool once per process, for every pipeline after the
		// first, and gives no way to stop them.
		goleak.IgnoreAnyFunction("github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism/internal/jobservices.(*Server).Serve"),
		// A job that fails leaves its bundle scheduler waiting for the
		// bundles it cancelled, and its data channel open.
		goleak.IgnoreAnyFunction("github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism/internal/engine.(*ElementManager).Bundles.func1"),
		goleak.IgnoreAnyFunction("github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/harness.(*DataChannel).read"),
	)
}

// outputs is what a job wrote, read back and checked for the guarantee
// that every element appears once.
type outputs struct {
	results map[string]string          // id -> the result line
	dead    map[string]grid.DeadLetter // by id; rows without an id by "FILE:LINE"
}

func readOutputs(t *testing.T, dir string) outputs {
	t.Helper()
	o := outputs{results: map[string]string{}, dead: map[string]grid.DeadLetter{}}
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
		o.results[r.ID] = string(line)
	})
	testbin.ScanLines(t, dir, "dead-letters-*.jsonl", func(where string, line []byte) {
		var d grid.DeadLetter
		if err := json.Unmarshal(line, &d); err != nil || d.Kind == "" || d.Message == "" {
			t.Fatalf("%s: bad dead letter %q", where, line)
		}
		key := d.ID
		if key == "" || d.Kind == grid.KindBadInput {
			key = fmt.Sprintf("%s:%d", filepath.Base(d.Input), d.Line)
		}
		once(key, where)
		o.dead[key] = d
	})
	return o
}
