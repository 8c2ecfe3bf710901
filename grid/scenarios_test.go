package grid_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
	"github.com/gridrun/gridrun/outdir"
	gridrunv1 "github.com/gridrun/gridrun/proto/gridrun/v1"
)

// The pricer's messages as the test reads them from testdata and results.
type (
	testTrade struct {
		ID         string  `json:"id"`
		Underlying string  `json:"underlying"`
		Type       string  `json:"type"`
		Style      string  `json:"style"`
		Strike     float64 `json:"strike"`
		Expiry     float64 `json:"expiry"`
		Quantity   float64 `json:"quantity"`
		Paths      uint32  `json:"paths"`
		Fixings    uint32  `json:"fixings"`
	}
	testQuote    struct{ spot, vol, rate, div float64 }
	testScenario struct {
		ID        string  `json:"id"`
		SpotShift float64 `json:"spot_shift"`
		VolShift  float64 `json:"vol_shift"`
		RateShift float64 `json:"rate_shift"`
	}
	testPrice struct {
		Price    float64 `json:"price"`
		Value    float64 `json:"value"`
		Delta    float64 `json:"delta"`
		Gamma    float64 `json:"gamma"`
		Vega     float64 `json:"vega"`
		StdError float64 `json:"std_error"`
		Paths    uint32  `json:"paths"`
		Method   string  `json:"method"`
	}
)

// scenarioKey is a result's identity in a job with scenarios.
type scenarioKey struct{ id, scenario string }

// Every demo trade is priced under every demo scenario, once, and each
// price is Black-Scholes (or the Monte Carlo of the pricer's own method,
// replayed here with the seed the protocol defines) on the quote the
// scenario shocks; the base scenario's prices are those of a run without
// scenarios, bar Monte Carlo, whose seed includes the scenario.
func TestScenariosPriceEveryTradeUnderEveryScenario(t *testing.T) {
	t.Parallel()
	f := setup(t)
	trades := readJSONLines[testTrade](t, f.testdata("trades.jsonl"))
	scens := readJSONLines[testScenario](t, f.testdata("scenarios.jsonl"))
	quotes := readQuotes(t, f.testdata("quotes.csv"))
	// One trade without a quote: a dead letter under every scenario.
	input := filepath.Join(t.TempDir(), "trades.jsonl")
	b, _ := os.ReadFile(f.testdata("trades.jsonl"))
	b = append(b, `{"id":"NOQUOTE","underlying":"NOPE","type":"CALL","style":"EUROPEAN","strike":50,"expiry":1,"quantity":1}`+"\n"...)
	os.WriteFile(input, b, 0o644)

	job := f.job(f.pricer, input)
	job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
	job.Scenarios = f.testdata("scenarios.jsonl")
	m, err := grid.Run(context.Background(), job, quiet)
	if m == nil || m.Status != "dead_letters" {
		t.Fatalf("status %v, err %v", m, err)
	}
	n := len(trades) * len(scens)
	if m.Results != int64(n) || m.DeadLetters != int64(len(scens)) || m.Elements != int64(n+len(scens)) {
		t.Fatalf("manifest: %d elements, %d results, %d dead letters; want %d results and %d dead letters",
			m.Elements, m.Results, m.DeadLetters, n, len(scens))
	}
	if s := m.Scenarios; s == nil || s.Count != len(scens) || s.Type != "pricer.Scenario" || len(s.SHA256) != 64 {
		t.Fatalf("manifest scenarios %+v", m.Scenarios)
	}
	got := readScenarioResults(t, job.Output)
	if len(got) != n {
		t.Fatalf("%d results, want %d", len(got), n)
	}
	// gridrun verify counts an id once per scenario.
	if v, err := outdir.Verify(context.Background(), job.Output); err != nil || !v.OK() || v.Results != int64(n) || v.DeadLetters != int64(len(scens)) {
		t.Fatalf("verify: %v, %+v", err, v)
	}
	dead := map[string]bool{}
	testbin.ScanLines(t, job.Output, "dead-letters-*.jsonl", func(where string, line []byte) {
		var d grid.DeadLetter
		json.Unmarshal(line, &d)
		if d.ID != "NOQUOTE" || d.Kind != grid.KindMissingJoin || d.Scenario == "" || dead[d.Scenario] {
			t.Fatalf("%s: dead letter %s", where, line)
		}
		dead[d.Scenario] = true
	})
	if len(dead) != len(scens) {
		t.Fatalf("dead letters under %d scenarios, want %d", len(dead), len(scens))
	}

	for _, sc := range scens {
		for _, tr := range trades {
			p, ok := got[scenarioKey{tr.ID, sc.ID}]
			if !ok {
				t.Fatalf("no result for %s under %s", tr.ID, sc.ID)
			}
			q := quotes[tr.Underlying]
			q = testQuote{spot: q.spot * (1 + sc.SpotShift), vol: q.vol + sc.VolShift, rate: q.rate + sc.RateShift, div: q.div}
			checkPrice(t, tr, sc.ID, q, p)
		}
	}

	// The base scenario against a run without scenarios.
	plain := f.job(f.pricer, f.testdata("trades.jsonl"))
	plain.Join = job.Join
	if _, err := grid.Run(context.Background(), plain, quiet); err != nil {
		t.Fatal(err)
	}
	without := readOutputs(t, plain.Output)
	for _, tr := range trades {
		var p testPrice
		json.Unmarshal(without.results[tr.ID], &p)
		checkPrice(t, tr, "", quotes[tr.Underlying], p)
		if tr.Style == "EUROPEAN" && p != got[scenarioKey{tr.ID, "base"}] {
			t.Fatalf("%s: base scenario %+v, without scenarios %+v", tr.ID, got[scenarioKey{tr.ID, "base"}], p)
		}
	}
}

// checkPrice checks a result against an independent price on quote q:
// Black-Scholes for a European trade, the pricer's Monte Carlo replayed
// with the protocol's seed of (trade, scenario) for an Asian one.
func checkPrice(t *testing.T, tr testTrade, scenario string, q testQuote, p testPrice) {
	t.Helper()
	var want testPrice
	switch tr.Style {
	case "EUROPEAN":
		want = blackScholes(tr, q)
	case "ASIAN":
		want = asianMonteCarlo(tr, q, seed(tr.ID, scenario))
	default:
		t.Fatalf("%s: style %q", tr.ID, tr.Style)
	}
	want.Value = want.Price * tr.Quantity
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"price", p.Price, want.Price}, {"value", p.Value, want.Value}, {"delta", p.Delta, want.Delta},
		{"gamma", p.Gamma, want.Gamma}, {"vega", p.Vega, want.Vega}, {"std_error", p.StdError, want.StdError}} {
		if !near(c.got, c.want, 1e-9) {
			t.Fatalf("%s under %q: %s = %.17g, want %.17g", tr.ID, scenario, c.name, c.got, c.want)
		}
	}
	if p.Method != want.Method || p.Paths != want.Paths {
		t.Fatalf("%s under %q: method %s with %d paths, want %s with %d", tr.ID, scenario, p.Method, p.Paths, want.Method, want.Paths)
	}
}

func near(got, want, rel float64) bool {
	return got == want || math.Abs(got-want) <= rel*math.Max(math.Abs(want), 1e-300)
}

func normCdf(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }
func normPdf(x float64) float64 { return math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi) }

func blackScholes(tr testTrade, q testQuote) testPrice {
	s, k, T, v, r, d := q.spot, tr.Strike, tr.Expiry, q.vol, q.rate, q.div
	d1 := (math.Log(s/k) + (r-d+v*v/2)*T) / (v * math.Sqrt(T))
	d2 := d1 - v*math.Sqrt(T)
	df, dq := math.Exp(-r*T), math.Exp(-d*T)
	p := testPrice{Method: "black-scholes"}
	if tr.Type == "CALL" {
		p.Price = s*dq*normCdf(d1) - k*df*normCdf(d2)
		p.Delta = dq * normCdf(d1)
	} else {
		p.Price = k*df*normCdf(-d2) - s*dq*normCdf(-d1)
		p.Delta = -dq * normCdf(-d1)
	}
	p.Gamma = dq * normPdf(d1) / (s * v * math.Sqrt(T))
	p.Vega = s * dq * normPdf(d1) * math.Sqrt(T)
	return p
}

// seed is the protocol's seed of an (element, scenario), computed here
// from its definition: the first 8 bytes, big-endian, of
// sha256("gridrun.seed.v1" 0x00 element 0x00 scenario).
func seed(element, scenario string) uint64 {
	sum := sha256.Sum256([]byte("gridrun.seed.v1\x00" + element + "\x00" + scenario))
	return binary.BigEndian.Uint64(sum[:8])
}

// asianMonteCarlo is the example pricer's documented method: xoshiro256**
// seeded by splitmix64 from the seed, normals by Marsaglia's polar method,
// an arithmetic average of equally spaced fixings.
func asianMonteCarlo(tr testTrade, q testQuote, seed uint64) testPrice {
	paths := cmpOr(tr.Paths, 10000)
	fixings := cmpOr(tr.Fixings, 12)
	var s [4]uint64
	x := seed
	for i := range s {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		s[i] = z ^ (z >> 31)
	}
	rotl := func(x uint64, k uint) uint64 { return x<<k | x>>(64-k) }
	next := func() uint64 {
		out := rotl(s[1]*5, 7) * 9
		t := s[1] << 17
		s[2] ^= s[0]
		s[3] ^= s[1]
		s[1] ^= s[2]
		s[0] ^= s[3]
		s[2] ^= t
		s[3] = rotl(s[3], 45)
		return out
	}
	var spare float64
	hasSpare := false
	normal := func() float64 {
		if hasSpare {
			hasSpare = false
			return spare
		}
		var u, v, w float64
		for {
			u = float64(next()>>11)*0x1p-52 - 1
			v = float64(next()>>11)*0x1p-52 - 1
			w = u*u + v*v
			if w < 1 && w != 0 {
				break
			}
		}
		m := math.Sqrt(-2 * math.Log(w) / w)
		spare, hasSpare = v*m, true
		return u * m
	}
	dt := tr.Expiry / float64(fixings)
	drift := (q.rate - q.div - 0.5*q.vol*q.vol) * dt
	diffusion := q.vol * math.Sqrt(dt)
	df := math.Exp(-q.rate * tr.Expiry)
	var sum, sumSq float64
	for range paths {
		spot, total := q.spot, 0.0
		for range fixings {
			spot *= math.Exp(drift + diffusion*normal())
			total += spot
		}
		avg := total / float64(fixings)
		payoff := tr.Strike - avg
		if tr.Type == "CALL" {
			payoff = avg - tr.Strike
		}
		payoff = df * math.Max(payoff, 0)
		sum += payoff
		sumSq += payoff * payoff
	}
	n := float64(paths)
	mean := sum / n
	variance := (sumSq - n*mean*mean) / (n - 1)
	return testPrice{Price: mean, StdError: math.Sqrt(math.Max(variance, 0) / n), Paths: paths, Method: "monte-carlo"}
}

func cmpOr(v, d uint32) uint32 {
	if v == 0 {
		return d
	}
	return v
}

func readJSONLines[T any](t *testing.T, path string) []T {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []T
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	return out
}

func readQuotes(t *testing.T, path string) map[string]testQuote {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]testQuote{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
		c := strings.Split(line, ",")
		num := func(i int) float64 {
			v, err := strconv.ParseFloat(c[i], 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", path, line, err)
			}
			return v
		}
		out[c[0]] = testQuote{spot: num(1), vol: num(2), rate: num(3), div: num(4)}
	}
	return out
}

// readScenarioResults reads the results of a job with scenarios by
// (id, scenario), failing on any twice.
func readScenarioResults(t *testing.T, dir string) map[scenarioKey]testPrice {
	t.Helper()
	out := map[scenarioKey]testPrice{}
	testbin.ScanLines(t, dir, "results-*.jsonl", func(where string, line []byte) {
		var r struct {
			ID       string    `json:"id"`
			Scenario string    `json:"scenario"`
			Result   testPrice `json:"result"`
		}
		if err := json.Unmarshal(line, &r); err != nil || r.ID == "" || r.Scenario == "" {
			t.Fatalf("%s: bad result line %q", where, line)
		}
		// The scenario comes right after the id.
		if !strings.HasPrefix(string(line), `{"id":`+strconv.Quote(r.ID)+`,"scenario":`) {
			t.Fatalf("%s: %q: want the scenario right after the id", where, line)
		}
		k := scenarioKey{r.ID, r.Scenario}
		if _, dup := out[k]; dup {
			t.Fatalf("%s: %v twice", where, k)
		}
		out[k] = r.Result
	})
	return out
}

// A scenarios file is checked whole before the first call: a binary
// without a scenario type, a row without an id, an id twice, a field of
// the wrong type or unknown, a misspelt column, each refused naming the
// file, the line and the field.
func TestBadScenariosAreRefusedBeforeAnyCall(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, c := range []struct {
		name, file, content string
		binary              string
		want                []string
	}{
		{"no scenario type", "s.jsonl", `{"id":"base"}`, f.faulty, []string{"s.jsonl", "takes no scenarios"}},
		{"no id", "s.jsonl", "{\"id\":\"base\"}\n{\"spot_shift\":0.1}", "", []string{"s.jsonl:2", "field id", "missing id"}},
		{"duplicate", "s.jsonl", "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"a\",\"vol_shift\":0.1}", "", []string{"s.jsonl:3", "field id", `duplicate scenario id "a"`, "line 1"}},
		{"bad value", "s.jsonl", "{\"id\":\"a\"}\n{\"id\":\"b\",\"spot_shift\":\"ten\"}", "", []string{"s.jsonl:2", "field spot_shift"}},
		{"unknown field", "s.jsonl", `{"id":"a","spot_shfit":0.1}`, "", []string{"s.jsonl:1", "spot_shfit"}},
		{"misspelt column", "s.csv", "id,spot_shfit\na,0.1", "", []string{"s.csv", `column "spot_shfit"`, "spot_shift"}},
		{"empty", "s.jsonl", "", "", []string{"s.jsonl", "no scenarios"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), c.file)
			os.WriteFile(path, []byte(c.content), 0o644)
			bin := f.pricer
			if c.binary != "" {
				bin = c.binary
			}
			job := f.job(bin, f.testdata("trades.jsonl"))
			if bin == f.pricer {
				job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
			}
			job.Scenarios = path
			m, err := grid.Run(context.Background(), job, quiet)
			var ce *grid.ConfigError
			if !errors.As(err, &ce) || m != nil {
				t.Fatalf("err %v (manifest %v), want a ConfigError", err, m)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if _, err := os.Stat(filepath.Join(job.Output, "_gridrun", "journal.jsonl")); err == nil {
				t.Errorf("a refused job wrote a journal")
			}
		})
	}
}

// A resume with another scenarios file is refused: its outcomes are
// committed by (row, scenario) number, which another file would mean
// differently.
func TestResumeWithChangedScenariosIsRefused(t *testing.T) {
	t.Parallel()
	f := setup(t)
	scen := filepath.Join(t.TempDir(), "s.jsonl")
	os.WriteFile(scen, []byte("{\"id\":\"base\"}\n{\"id\":\"up\",\"spot_shift\":0.1}\n"), 0o644)
	input := testbin.WriteLines(t, "trades.jsonl",
		`{"id":"A","underlying":"AAPL","type":"CALL","style":"EUROPEAN","strike":50,"expiry":1,"quantity":1}`)
	job := f.job(f.pricer, input)
	job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
	job.Scenarios = scen
	if m, err := grid.Run(context.Background(), job, quiet); err != nil || m.Results != 2 {
		t.Fatalf("first run: %v, %+v", err, m)
	}
	os.WriteFile(scen, []byte("{\"id\":\"base\"}\n{\"id\":\"up\",\"spot_shift\":0.2}\n"), 0o644)
	job.Resume = true
	_, err := grid.Run(context.Background(), job, quiet)
	if err == nil || !strings.Contains(err.Error(), "scenarios_sha256") {
		t.Fatalf("resume with another scenarios file: %v, want it refused for scenarios_sha256", err)
	}
	// Without scenarios, too.
	job.Scenarios = ""
	if _, err := grid.Run(context.Background(), job, quiet); err == nil || !strings.Contains(err.Error(), "scenarios") {
		t.Fatalf("resume without the scenarios: %v, want it refused", err)
	}
}

// A small portfolio packs several scenarios into one batch, and the
// binary tells them apart (Result.scenario): two trades under 31
// scenarios in batches of 20.
func TestSmallPortfolioPacksScenariosIntoBatches(t *testing.T) {
	t.Parallel()
	f := setup(t)
	input := testbin.WriteLines(t, "trades.jsonl",
		`{"id":"A","underlying":"AAPL","type":"CALL","style":"EUROPEAN","strike":50,"expiry":1,"quantity":1}`,
		`{"id":"B","underlying":"MSFT","type":"PUT","style":"ASIAN","strike":150,"expiry":0.5,"quantity":2,"paths":500}`)
	job := f.job(f.pricer, input)
	job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
	job.Scenarios = f.testdata("scenarios.jsonl")
	job.BatchSize, job.FixedBatchSize = 20, true
	m, err := grid.Run(context.Background(), job, quiet)
	if err != nil {
		t.Fatal(err)
	}
	scens := readJSONLines[testScenario](t, f.testdata("scenarios.jsonl"))
	if m.Results != int64(2*len(scens)) || m.Batches != int64((2*len(scens)+19)/20) {
		t.Fatalf("%d results in %d batches, want %d in %d", m.Results, m.Batches, 2*len(scens), (2*len(scens)+19)/20)
	}
	got := readScenarioResults(t, job.Output)
	quotes := readQuotes(t, f.testdata("quotes.csv"))
	for _, tr := range readJSONLines[testTrade](t, input) {
		for _, sc := range scens {
			q := quotes[tr.Underlying]
			q = testQuote{spot: q.spot * (1 + sc.SpotShift), vol: q.vol + sc.VolShift, rate: q.rate + sc.RateShift, div: q.div}
			checkPrice(t, tr, sc.ID, q, got[scenarioKey{tr.ID, sc.ID}])
		}
	}
}

// Seed is the protocol's definition, computed here independently, and
// costs no allocation for the usual ids.
func TestSeedIsTheProtocols(t *testing.T) {
	for _, c := range []struct{ id, scenario string }{{"T0000001", "base"}, {"T0000001", ""}, {"", "x"}, {strings.Repeat("long", 40), "spot+5%"}} {
		if got, want := grid.Seed(c.id, c.scenario), seed(c.id, c.scenario); got != want {
			t.Errorf("Seed(%q, %q) = %d, want %d", c.id, c.scenario, got, want)
		}
	}
	if grid.Seed("a", "b") == grid.Seed("a\x00b", "") {
		t.Error("the separator does not separate")
	}
	if n := testing.AllocsPerRun(100, func() { grid.Seed("T0000001", "crash-2008") }); n != 0 {
		t.Errorf("Seed allocates %v times", n)
	}
}

// A portfolio larger than a batch runs in batches of one scenario each,
// the scenario sent once: a binary's per-scenario work is done once per
// batch.
func TestLargePortfolioBatchesHoldOneScenario(t *testing.T) {
	t.Parallel()
	f := setup(t)
	lines := strings.SplitAfter(string(must(os.ReadFile(f.testdata("trades.jsonl")))), "\n")
	input := filepath.Join(t.TempDir(), "trades.jsonl")
	os.WriteFile(input, []byte(strings.Join(lines[:300], "")), 0o644)
	scen := testbin.WriteLines(t, "s.jsonl", `{"id":"base"}`, `{"id":"up","spot_shift":0.1}`, `{"id":"down","spot_shift":-0.1}`)
	job := f.job(f.pricer, input)
	job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
	job.Scenarios = scen
	job.BatchSize, job.FixedBatchSize, job.KeepBatchFiles, job.NoSplit = 100, true, true, true
	m, err := grid.Run(context.Background(), job, quiet)
	if err != nil || m.Results != 900 || m.Batches != 9 {
		t.Fatalf("%v: %+v", err, m)
	}
	files, _ := filepath.Glob(filepath.Join(job.Output, outdir.CallsDir, "*", "batch.pb"))
	if len(files) != 9 {
		t.Fatalf("%d batch files, want 9", len(files))
	}
	perScenario := map[string]int{}
	for _, name := range files {
		var b gridrunv1.Batch
		if err := proto.Unmarshal(must(os.ReadFile(name)), &b); err != nil {
			t.Fatal(err)
		}
		if len(b.Scenarios) != 1 || len(b.Elements) != 100 {
			t.Fatalf("%s: %d scenarios, %d elements; want 1 and 100", name, len(b.Scenarios), len(b.Elements))
		}
		for _, e := range b.Elements {
			if e.Scenario != 0 || e.Seed != seed(e.Id, b.Scenarios[0].Id) {
				t.Fatalf("%s: element %s: scenario %d, seed %d", name, e.Id, e.Scenario, e.Seed)
			}
		}
		perScenario[b.Scenarios[0].Id]++
	}
	if len(perScenario) != 3 || perScenario["base"] != 3 || perScenario["up"] != 3 || perScenario["down"] != 3 {
		t.Fatalf("batches per scenario %v, want 3 each", perScenario)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
