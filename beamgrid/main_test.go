package beamgrid_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"go.uber.org/goleak"

	"github.com/gridrun/gridrun/grid"
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
	scan(t, dir, "results-*.jsonl", func(where string, line []byte) {
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
	scan(t, dir, "dead-letters-*.jsonl", func(where string, line []byte) {
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

func scan(t *testing.T, dir, pattern string, fn func(where string, line []byte)) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 16<<20)
		for n := 1; sc.Scan(); n++ {
			fn(fmt.Sprintf("%s:%d", filepath.Base(f), n), sc.Bytes())
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// writeLines writes lines to a file in a temporary directory.
func writeLines(t *testing.T, name string, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tasks returns n faulty.Task lines, e000..; faults maps an index to
// "fault" or "fault:arg".
func tasks(n int, faults map[int]string) []string {
	lines := make([]string, n)
	for i := range n {
		task := map[string]any{"id": fmt.Sprintf("e%03d", i), "x": i}
		if f, ok := faults[i]; ok {
			name, arg, _ := strings.Cut(f, ":")
			task["fault"] = name
			if arg != "" {
				task["arg"], _ = strconv.Atoi(arg)
			}
		}
		b, _ := json.Marshal(task)
		lines[i] = string(b)
	}
	return lines
}

// assertNothingRuns fails if a process still runs a binary staged in dir.
// Zombies run nothing and count as gone.
func assertNothingRuns(t *testing.T, dir string) {
	t.Helper()
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", p.Name(), "exe"))
		if err != nil || !strings.HasPrefix(exe, dir+string(filepath.Separator)) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", p.Name(), "stat"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(fields) > 0 && fields[0] != "Z" {
			t.Errorf("process %s still runs %s", p.Name(), exe)
		}
	}
}
