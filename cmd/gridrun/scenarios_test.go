package main_test

import (
	"bufio"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridrun/gridrun/internal/testbin"
)

// A scenario run killed with SIGKILL at any moment and resumed ends with
// the clean run's results and aggregates: every (trade, scenario) once,
// the same payloads, the same totals to the bit, and what was committed
// before a kill not computed again.
func TestAKilledScenarioRunResumesToTheCleanRunsOutput(t *testing.T) {
	t.Parallel()
	root := testbin.Root(t)
	pricer := testbin.Path(t, "pricer")
	scenarios := filepath.Join(root, "testdata", "scenarios.jsonl")
	// The European trades, cheap, and enough of them for several commits
	// per scenario block.
	input := filepath.Join(t.TempDir(), "trades.jsonl")
	var lines []string
	for _, l := range strings.Split(string(must(os.ReadFile(filepath.Join(root, "testdata", "trades.jsonl")))), "\n") {
		if strings.Contains(l, `"EUROPEAN"`) {
			lines = append(lines, l)
		}
	}
	os.WriteFile(input, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	args := func(out string) []string {
		return []string{"run", "--binary", pricer, "--input", input, "--output", out,
			"--join", filepath.Join(root, "testdata", "quotes.csv"), "--join-key", "{underlying}",
			"--scenarios", scenarios, "--batch-size", "200", "--fixed-batch-size", "--parallelism", "2", "--commit-interval", "40ms",
			"--aggregate", "sum(value, delta) by scenario", "--aggregate", "quantile(0.99, value) over scenario by underlying"}
	}
	clean := filepath.Join(t.TempDir(), "clean")
	if code, _, stderr := gridrun(t, args(clean)...); code != 0 {
		t.Fatalf("clean run: exit %d: %s", code, stderr)
	}
	want := readScenarioResults(t, clean)
	nScen := len(strings.Split(strings.TrimSpace(string(must(os.ReadFile(scenarios)))), "\n"))
	total := len(lines) * nScen
	if len(want) != total {
		t.Fatalf("clean run: %d results, want %d", len(want), total)
	}
	// The clean run's totals by scenario, against sums of its results.
	sums := map[string]float64{}
	for k, r := range want {
		var p struct{ Value float64 }
		if err := json.Unmarshal([]byte(r), &p); err != nil {
			t.Fatal(err)
		}
		sums[k.scenario] += p.Value
	}
	testbin.ScanLines(t, clean, "aggregates-1.jsonl", func(where string, line []byte) {
		var a struct {
			Scenario string  `json:"scenario"`
			Sum      float64 `json:"sum_value"`
			Results  int     `json:"results"`
		}
		if err := json.Unmarshal(line, &a); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if a.Results != len(lines) || math.Abs(a.Sum-sums[a.Scenario]) > 1e-12*math.Abs(sums[a.Scenario]) {
			t.Errorf("%s: scenario %s: sum %v of %d results; the results add up to %v over %d", where, a.Scenario, a.Sum, a.Results, sums[a.Scenario], len(lines))
		}
		delete(sums, a.Scenario)
	})
	if len(sums) != 0 {
		t.Errorf("aggregates-1.jsonl has no row for scenarios %v", sums)
	}

	r := rand.New(rand.NewPCG(16, 16))
	out := filepath.Join(t.TempDir(), "killed")
	for runs := range 3 {
		a := args(out)
		if runs > 0 {
			a = append(a, "--resume")
		}
		killAfter := journalLines(t, out) + 1 + r.IntN(4)
		if done := killAt(t, a, out, killAfter, time.Duration(r.IntN(30))*time.Millisecond); done {
			break
		}
	}
	code, _, stderr := gridrun(t, append(args(out), "--resume")...)
	if code != 0 {
		t.Fatalf("final resume: exit %d: %s", code, stderr)
	}
	got := readScenarioResults(t, out)
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for k, p := range want {
		if got[k] != p {
			t.Fatalf("%v = %s, clean run %s", k, got[k], p)
		}
	}
	for _, name := range []string{"aggregates-1.jsonl", "aggregates-2.jsonl"} {
		if g, w := must(os.ReadFile(filepath.Join(out, name))), must(os.ReadFile(filepath.Join(clean, name))); string(g) != string(w) {
			t.Errorf("%s after kills and resumes:\n%s\nclean run:\n%s", name, g, w)
		}
	}
	m := readManifest(t, out)
	if m.Runs < 2 {
		t.Errorf("manifest says %d runs: no kill landed", m.Runs)
	}
	if computed := elementsCalled(t, out, m.Runs); computed != int64(total)-m.Resumed {
		t.Errorf("last run computed %d elements, but %d of %d were committed before it", computed, m.Resumed, total)
	}
	assertNoTmpLeft(t, out)
	if code, stdout, stderr := gridrun(t, "verify", out); code != 0 {
		t.Fatalf("verify: exit %d: %s%s", code, stdout, stderr)
	}
}

// A bad scenarios file exits 2 before any call, naming the file, the line
// and the field.
func TestBadScenariosExit2(t *testing.T) {
	t.Parallel()
	root := testbin.Root(t)
	scen := testbin.WriteLines(t, "s.jsonl", `{"id":"base"}`, `{"id":"up","vol_shift":"high"}`)
	out := filepath.Join(t.TempDir(), "out")
	code, _, stderr := gridrun(t, "run", "--binary", testbin.Path(t, "pricer"), "--input", filepath.Join(root, "testdata", "trades.jsonl"),
		"--join", filepath.Join(root, "testdata", "quotes.csv"), "--join-key", "{underlying}", "--scenarios", scen, "--output", out)
	if code != 2 || !strings.Contains(stderr, "s.jsonl:2") || !strings.Contains(stderr, "field vol_shift") {
		t.Fatalf("exit %d: %s; want 2 naming s.jsonl:2 and field vol_shift", code, stderr)
	}
}

type scenarioKey struct{ id, scenario string }

func readScenarioResults(t *testing.T, dir string) map[scenarioKey]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "results-*.jsonl"))
	out := map[scenarioKey]string{}
	for _, name := range files {
		f, _ := os.Open(name)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var r struct {
				ID       string          `json:"id"`
				Scenario string          `json:"scenario"`
				Result   json.RawMessage `json:"result"`
			}
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Scenario == "" {
				t.Fatalf("%s: %q: %v", name, sc.Bytes(), err)
			}
			k := scenarioKey{r.ID, r.Scenario}
			if _, dup := out[k]; dup {
				t.Fatalf("%v appears twice", k)
			}
			out[k] = string(r.Result)
		}
		f.Close()
	}
	return out
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
