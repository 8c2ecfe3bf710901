package beamgrid_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/beamgrid"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

// scenarioOutputs is what a job under scenarios wrote: results and dead
// letters keyed by their element (id, or FILE:LINE for a bad row) and
// scenario, each once.
type scenarioOutputs struct {
	results map[string]string
	dead    map[string]grid.DeadLetter
}

func readScenarioOutputs(t *testing.T, dir string) scenarioOutputs {
	t.Helper()
	o := scenarioOutputs{results: map[string]string{}, dead: map[string]grid.DeadLetter{}}
	testbin.ScanLines(t, dir, "results-*.jsonl", func(where string, line []byte) {
		var r struct {
			ID       string          `json:"id"`
			Scenario string          `json:"scenario"`
			Result   json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(line, &r); err != nil || r.ID == "" || r.Scenario == "" || r.Result == nil {
			t.Fatalf("%s: bad result line %q", where, line)
		}
		k := r.ID + " under " + r.Scenario
		if _, dup := o.results[k]; dup {
			t.Fatalf("%s: a second result for %s", where, k)
		}
		o.results[k] = string(line)
	})
	testbin.ScanLines(t, dir, "dead-letters-*.jsonl", func(where string, line []byte) {
		var d grid.DeadLetter
		if err := json.Unmarshal(line, &d); err != nil || d.Kind == "" || d.Scenario == "" {
			t.Fatalf("%s: bad dead letter %q", where, line)
		}
		el := d.ID
		if el == "" || d.Kind == grid.KindBadInput {
			el = fmt.Sprintf("%s:%d", filepath.Base(d.Input), d.Line)
		}
		k := el + " under " + d.Scenario
		if _, dup := o.dead[k]; dup {
			t.Fatalf("%s: a second dead letter for %s", where, k)
		}
		if _, res := o.results[k]; res {
			t.Fatalf("%s: %s has a result and a dead letter", where, k)
		}
		o.dead[k] = d
	})
	return o
}

// On prism, a job under scenarios gives the local engine's outcomes: every
// row under every scenario, once, though the input is cut into many
// ranges across more than one block of rows; a bad row and a duplicate id
// are a dead letter under each scenario; the aggregates by scenario are
// the same, byte for byte. A resume with the scenarios file changed is
// refused.
func TestScenariosGiveTheLocalEnginesOutcomes(t *testing.T) {
	closeWorkers(t)
	root := testbin.Root(t)
	trades, err := os.ReadFile(filepath.Join(root, "testdata/trades.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(trades), "\n"), "\n")
	// Past grid.ScenarioBlockRows rows (1,024): the second block of rows
	// runs under the scenarios after the first.
	for _, l := range lines[:40] {
		lines = append(lines, strings.Replace(l, `"id":"T`, `"id":"X`, 1))
	}
	lines = append(lines[:500], append([]string{`{"id":"broken",`, lines[7]}, lines[500:]...)...)
	rows := len(lines)
	input := testbin.WriteLines(t, "trades.jsonl", lines...)
	scenarios := []string{`{"id":"base"}`, `{"id":"spot-10%","spot_shift":-0.1}`, `{"id":"vol+2","vol_shift":0.02}`, `{"id":"rates+50bp","rate_shift":0.005}`}
	scenFile := testbin.WriteLines(t, "scenarios.jsonl", scenarios...)
	aggs := []string{"sum(value) by scenario", "count() by scenario, underlying"}
	job := grid.Job{
		Binary: testbin.Path(t, "pricer"), CacheDir: t.TempDir(), Inputs: []string{input}, Parallelism: 2,
		Join:      &grid.JoinSpec{Source: filepath.Join(root, "testdata/quotes.csv"), Key: "{underlying}"},
		Scenarios: scenFile, Aggregates: aggs,
	}
	job.Output = filepath.Join(t.TempDir(), "local")
	wantM, err := grid.Run(t.Context(), job, &grid.Hooks{Logger: slog.New(slog.DiscardHandler)})
	if wantM == nil {
		t.Fatal(err)
	}
	want := readScenarioOutputs(t, job.Output)
	if n := len(want.results) + len(want.dead); n != rows*len(scenarios) {
		t.Fatalf("the local engine settled %d (row, scenario), want %d", n, rows*len(scenarios))
	}

	job.Output = filepath.Join(t.TempDir(), "beam")
	m, err := runBeam(t, job, &beamgrid.BuildOptions{Shards: 3, SplitBytes: 16 << 10, Runner: "prism"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != wantM.Status || m.Elements != wantM.Elements || m.Inputs[0].Rows != int64(rows) {
		t.Errorf("the Beam manifest: status %s, %d elements, %d rows; the local engine's: %s, %d elements; %d rows in the input",
			m.Status, m.Elements, m.Inputs[0].Rows, wantM.Status, wantM.Elements, rows)
	}
	got := readScenarioOutputs(t, job.Output)
	if !maps.Equal(got.results, want.results) {
		for k, w := range want.results {
			if got.results[k] != w {
				t.Errorf("%s:\n beam  %s\n local %s", k, got.results[k], w)
				break
			}
		}
		t.Fatalf("%d results, the local engine %d", len(got.results), len(want.results))
	}
	if g, w := slices.Sorted(maps.Keys(got.dead)), slices.Sorted(maps.Keys(want.dead)); !slices.Equal(g, w) {
		t.Fatalf("dead letters %v, the local engine's %v", g, w)
	}
	if len(want.dead) != 2*len(scenarios) {
		t.Fatalf("the local engine wrote %d dead letters, want the bad row's and the duplicate's under each scenario", len(want.dead))
	}
	for k, w := range want.dead {
		g := got.dead[k]
		g.Batch, w.Batch, g.Log, w.Log, g.Attempts, w.Attempts = "", "", "", "", 0, 0
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n beam  %+v\n local %+v", k, g, w)
		}
	}
	if len(m.Aggregates) != len(aggs) {
		t.Fatalf("the Beam manifest lists %d aggregates", len(m.Aggregates))
	}
	for i, a := range wantM.Aggregates {
		w, err := os.ReadFile(filepath.Join(wantM.Options.Output, a.File))
		if err != nil {
			t.Fatal(err)
		}
		g, err := os.ReadFile(filepath.Join(job.Output, m.Aggregates[i].File))
		if err != nil {
			t.Fatal(err)
		}
		if string(g) != string(w) || m.Aggregates[i].Spec != a.Spec {
			t.Errorf("%s on prism:\n%s\nlocal engine:\n%s", a.Spec, g, w)
		}
		if strings.Count(string(w), "\n") < len(scenarios) {
			t.Errorf("%s has %q: fewer groups than scenarios", a.Spec, w)
		}
	}
	if s := m.Scenarios; s == nil || *s != *wantM.Scenarios {
		t.Errorf("the Beam manifest's scenarios %+v, the local engine's %+v", s, wantM.Scenarios)
	}

	// The scenarios file changed: a resume would mix results under two
	// sets of scenarios.
	if err := os.WriteFile(scenFile, []byte(strings.Join(scenarios[:3], "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	job.Resume = true
	_, err = runBeam(t, job, &beamgrid.BuildOptions{Shards: 3, Runner: "prism"})
	var ce *grid.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "scenarios_sha256") {
		t.Fatalf("resume with the scenarios file changed: %v, want a *grid.ConfigError naming scenarios_sha256", err)
	}
}

// A Step runs the elements it is given, one each: a job with scenarios is
// refused by Prepare, saying where scenarios run.
func TestPrepareRefusesScenarios(t *testing.T) {
	closeWorkers(t)
	job := grid.Job{
		Binary: testbin.Path(t, "pricer"), CacheDir: t.TempDir(),
		Scenarios: testbin.WriteLines(t, "s.jsonl", `{"id":"base"}`),
	}
	_, err := beamgrid.Prepare(t.Context(), job, nil)
	var ce *grid.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "the pipeline Build makes") {
		t.Fatalf("Prepare of a job with scenarios: %v, want a *grid.ConfigError", err)
	}
}
