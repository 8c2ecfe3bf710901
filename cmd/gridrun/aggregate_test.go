package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/gridrun/gridrun/internal/testbin"
)

// readAggregates reads an aggregates file as one object per line, numbers
// as float64.
func readAggregates(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		rows = append(rows, r)
	}
	return rows
}

// exactSum is the exact sum of xs rounded once, by big.Float wide enough
// to hold any sum of float64s exactly: what an order-free sum must give.
func exactSum(xs []float64) float64 {
	acc := new(big.Float).SetPrec(4096)
	for _, x := range xs {
		acc.Add(acc, new(big.Float).SetPrec(4096).SetFloat64(x))
	}
	f, _ := acc.Float64()
	return f
}

// quantile7 is the q-quantile by linear interpolation between closest
// ranks (numpy's default).
func quantile7(xs []float64, q float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	pos := q * float64(len(xs)-1)
	i := int(pos)
	if i == len(xs)-1 {
		return xs[i]
	}
	f := pos - float64(i)
	return xs[i]*(1-f) + xs[i+1]*f
}

// The demo trades priced by the real pricer with several aggregates: each
// aggregates file holds, per group, the figures computed here from the
// results files and the input file.
func TestAggregatesEqualTotalsOfTheResults(t *testing.T) {
	t.Parallel()
	root := testbin.Root(t)
	specs := []string{
		"sum(value, delta, vega) by underlying",
		"count() by type",
		"mean(price) by method, type",
		"min(value) by underlying",
		"max(input.strike)",
		"quantile(0.99, value) by style",
		"quantile(0.9, value) over underlying",
	}
	run := func(format string) string {
		out := filepath.Join(t.TempDir(), "out")
		args := []string{"run", "--binary", testbin.Path(t, "pricer"), "--input", "testdata/trades.jsonl",
			"--join", "testdata/quotes.csv", "--join-key", "{underlying}", "--output", out,
			"--batch-size", "37", "--fixed-batch-size", "--output-format", format}
		for _, s := range specs {
			args = append(args, "--aggregate", s)
		}
		if code, stdout, stderr := gridrun(t, args...); code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		return out
	}
	out := run("jsonl")
	trades := readTrades(t, filepath.Join(root, "testdata", "trades.jsonl"))
	prices := readPrices(t, out)
	if len(prices) != 1000 {
		t.Fatalf("%d prices", len(prices))
	}
	type key = string
	group := func(by func(trade, price) key) map[key][]int {
		g := map[key][]int{}
		for i, tr := range trades {
			k := by(tr, prices[tr.ID])
			g[k] = append(g[k], i)
		}
		return g
	}
	values := func(idx []int, f func(trade, price) float64) []float64 {
		var xs []float64
		for _, i := range idx {
			xs = append(xs, f(trades[i], prices[trades[i].ID]))
		}
		return xs
	}
	value := func(_ trade, p price) float64 { return p.Value }
	check := func(file string, keys []string, by func(trade, price) key, want func(idx []int) map[string]float64, exact bool) {
		t.Helper()
		rows := readAggregates(t, filepath.Join(out, file))
		groups := group(by)
		if len(rows) != len(groups) {
			t.Errorf("%s: %d rows, want %d groups", file, len(rows), len(groups))
		}
		for _, r := range rows {
			var parts []string
			for _, k := range keys {
				parts = append(parts, fmt.Sprint(r[k]))
			}
			idx, ok := groups[strings.Join(parts, "/")]
			if !ok {
				t.Errorf("%s: group %v is not in the results", file, r)
				continue
			}
			if r["results"] != float64(len(idx)) || r["dead_letters"] != 0.0 {
				t.Errorf("%s %v: results %v dead_letters %v, want %d and 0", file, parts, r["results"], r["dead_letters"], len(idx))
			}
			for col, w := range want(idx) {
				got, _ := r[col].(float64)
				if exact && got != w || !close(got, w, 1e-12) {
					t.Errorf("%s %v: %s = %.17g, want %.17g", file, parts, col, got, w)
				}
			}
		}
	}
	byUnderlying := func(tr trade, _ price) key { return tr.Underlying }
	check("aggregates-1.jsonl", []string{"underlying"}, byUnderlying, func(idx []int) map[string]float64 {
		return map[string]float64{
			"sum_value": exactSum(values(idx, value)),
			"sum_delta": exactSum(values(idx, func(_ trade, p price) float64 { return p.Delta })),
			"sum_vega":  exactSum(values(idx, func(_ trade, p price) float64 { return p.Vega })),
		}
	}, true)
	check("aggregates-2.jsonl", []string{"type"}, func(tr trade, _ price) key { return tr.Type }, func(idx []int) map[string]float64 {
		return map[string]float64{"count": float64(len(idx))}
	}, true)
	check("aggregates-3.jsonl", []string{"method", "type"}, func(tr trade, p price) key { return p.Method + "/" + tr.Type }, func(idx []int) map[string]float64 {
		return map[string]float64{"mean_price": exactSum(values(idx, func(_ trade, p price) float64 { return p.Price })) / float64(len(idx))}
	}, false)
	check("aggregates-4.jsonl", []string{"underlying"}, byUnderlying, func(idx []int) map[string]float64 {
		return map[string]float64{"min_value": slices.Min(values(idx, value))}
	}, true)
	check("aggregates-5.jsonl", nil, func(trade, price) key { return "" }, func(idx []int) map[string]float64 {
		return map[string]float64{"max_input_strike": slices.Max(values(idx, func(tr trade, _ price) float64 { return tr.Strike }))}
	}, true)
	check("aggregates-6.jsonl", []string{"style"}, func(tr trade, _ price) key { return tr.Style }, func(idx []int) map[string]float64 {
		return map[string]float64{"quantile_0_99_value": quantile7(values(idx, value), 0.99)}
	}, false)
	check("aggregates-7.jsonl", nil, func(trade, price) key { return "" }, func(idx []int) map[string]float64 {
		var totals []float64
		for _, under := range group(byUnderlying) {
			totals = append(totals, exactSum(values(under, value)))
		}
		return map[string]float64{"quantile_0_9_value": quantile7(totals, 0.9)}
	}, false)

	var m struct {
		Aggregates []struct {
			Spec, File string
			Groups     int
		} `json:"aggregates"`
		Options struct {
			Aggregates []string `json:"aggregates"`
		} `json:"options"`
	}
	b, _ := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Aggregates) != len(specs) || m.Aggregates[0].Spec != specs[0] || m.Aggregates[0].File != "aggregates-1.jsonl" ||
		m.Aggregates[0].Groups != 20 || !slices.Equal(m.Options.Aggregates, specs) {
		t.Errorf("manifest aggregates: %+v, options %v", m.Aggregates, m.Options.Aggregates)
	}
	if code, stdout, stderr := gridrun(t, "verify", out); code != 0 {
		t.Errorf("verify: exit %d\n%s%s", code, stdout, stderr)
	}

	// The report shows the aggregates as tables.
	if code, _, stderr := gridrun(t, "report", out); code != 0 {
		t.Fatalf("report: exit %d: %s", code, stderr)
	}
	html, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	for _, tr := range trades {
		if tr.Type == "CALL" {
			calls++
		}
	}
	for _, want := range []string{
		"<h3><code>count() by type</code></h3>",
		"<tr><th>type</th><th>count</th><th>results</th><th>dead_letters</th></tr>",
		fmt.Sprintf("<tr><td>CALL</td><td>%d</td><td>%d</td><td>0</td></tr>", calls, calls),
	} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report.html lacks %s", want)
		}
	}

	// With Parquet results, the same figures in Parquet.
	pq := run("parquet")
	type sumRow struct {
		Underlying  *string  `parquet:"underlying,optional"`
		SumValue    *float64 `parquet:"sum_value,optional"`
		SumDelta    *float64 `parquet:"sum_delta,optional"`
		SumVega     *float64 `parquet:"sum_vega,optional"`
		Results     int64    `parquet:"results"`
		DeadLetters int64    `parquet:"dead_letters"`
	}
	rows, err := parquet.ReadFile[sumRow](filepath.Join(pq, "aggregates-1.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	want := readAggregates(t, filepath.Join(out, "aggregates-1.jsonl"))
	if len(rows) != len(want) {
		t.Fatalf("parquet: %d rows, jsonl %d", len(rows), len(want))
	}
	for i, r := range rows {
		w := want[i]
		if *r.Underlying != w["underlying"] || *r.SumValue != w["sum_value"] || *r.SumDelta != w["sum_delta"] ||
			*r.SumVega != w["sum_vega"] || float64(r.Results) != w["results"] {
			t.Errorf("parquet row %d: %s %v %v %v %d, jsonl %v", i, *r.Underlying, *r.SumValue, *r.SumDelta, *r.SumVega, r.Results, w)
		}
	}
}

// A spec naming a field that does not exist, or summing a string, stops
// the job with exit 2 before any call, naming the field and those that
// exist.
func TestAggregateFieldErrorsExitTwo(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ spec, want string }{
		{"sum(valeu) by underlying", `field valeu: no such field`},
		{"sum(value) by book", `field book: no such field`},
		{"mean(underlying)", `field underlying: mean wants a number, and pricer.Trade.underlying is a string`},
		{"quantile(0.99, method)", `field method: quantile wants a number, and pricer.Price.method is a string`},
		{"sum(value) by scenario", `field scenario: no such field`},
		{"sum(value) bye underlying", `column 12: want over or by`},
	} {
		out := filepath.Join(t.TempDir(), "out")
		code, _, stderr := gridrun(t, "run", "--binary", testbin.Path(t, "pricer"), "--input", "testdata/trades.jsonl",
			"--join", "testdata/quotes.csv", "--join-key", "{underlying}", "--output", out, "--aggregate", "count()", "--aggregate", c.spec)
		if code != 2 || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, fmt.Sprintf("%q", c.spec)) {
			t.Errorf("--aggregate %q: exit %d, stderr %q; want exit 2 and %q", c.spec, code, stderr, c.want)
		}
		if strings.Contains(c.want, "field") && !strings.Contains(stderr, "result fields (pricer.Price): price (double), value (double)") {
			t.Errorf("--aggregate %q: the fields that exist are not listed: %s", c.spec, stderr)
		}
		if _, err := os.Stat(filepath.Join(out, "_gridrun", "timeline.jsonl")); err == nil {
			t.Errorf("--aggregate %q: the job started", c.spec)
		}
	}
}

// faultyInput writes n tasks for bin/faulty: x with many significant
// digits, arg in 0..4 (the group), every seventh throws (an element
// error), and a row that is not JSON (bad input, in no group).
func faultyInput(t *testing.T, n int, sleep bool) (path string, xs []float64, args []int, throws []bool) {
	r := rand.New(rand.NewPCG(11, 12))
	var lines []string
	for i := range n {
		x := (r.Float64() - 0.4) * math.Pow(10, float64(r.IntN(12)-3))
		arg := i % 5
		fault := ""
		switch {
		case i%7 == 3:
			fault = "throw"
		case sleep:
			fault = "sleep" // arg milliseconds: the calls take a while, for the kills
		}
		xs, args, throws = append(xs, x), append(args, arg), append(throws, fault == "throw")
		lines = append(lines, fmt.Sprintf(`{"id":"e%04d","fault":%q,"arg":%d,"x":%s}`, i, fault, arg, big.NewFloat(x).Text('g', 17)))
	}
	lines = append(lines, `{"id":"broken",`)
	path = filepath.Join(t.TempDir(), "tasks.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, xs, args, throws
}

// Dead letters are counted in the group their element would have been in
// (keys from the input); a dead letter keyed by a result field, and a row
// that never became an element, count in the group of null keys.
func TestAggregateDeadLettersPerGroup(t *testing.T) {
	t.Parallel()
	input, xs, args, throws := faultyInput(t, 300, false)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := gridrun(t, "run", "--binary", testbin.Path(t, "faulty"), "--input", input, "--output", out,
		"--aggregate", "sum(y, x) by arg", "--aggregate", "count() by y")
	if code != 3 {
		t.Fatalf("exit %d, want 3 (dead letters)\n%s%s", code, stdout, stderr)
	}
	type g struct {
		ys, xs      []float64
		dead, count int
	}
	want := map[string]*g{"<nil>": {}}
	for i, x := range xs {
		k := fmt.Sprint(args[i])
		if want[k] == nil {
			want[k] = &g{}
		}
		if throws[i] {
			want[k].dead++
			continue
		}
		want[k].count++
		want[k].ys, want[k].xs = append(want[k].ys, 2*x), append(want[k].xs, x)
	}
	want["<nil>"].dead = 1 // the broken row: no input to take arg from
	rows := readAggregates(t, filepath.Join(out, "aggregates-1.jsonl"))
	if len(rows) != len(want) {
		t.Fatalf("%d groups, want %d: %v", len(rows), len(want), rows)
	}
	for _, r := range rows {
		w := want[fmt.Sprint(r["arg"])]
		if w == nil {
			t.Fatalf("unexpected group %v", r)
		}
		if r["dead_letters"] != float64(w.dead) || r["results"] != float64(w.count) ||
			r["sum_y"] != exactSum(w.ys) || r["sum_x"] != exactSum(w.xs) {
			t.Errorf("group %v: want %d dead, %d results, sum_y %v, sum_x %v", r, w.dead, w.count, exactSum(w.ys), exactSum(w.xs))
		}
	}
	var deadTotal float64
	for _, r := range readAggregates(t, filepath.Join(out, "aggregates-2.jsonl")) {
		if r["y"] == nil {
			deadTotal += r["dead_letters"].(float64)
			if r["count"] != 0.0 {
				t.Errorf("null group %v counts results", r)
			}
		} else if r["dead_letters"] != 0.0 || r["count"] != 1.0 {
			t.Errorf("group %v: want one result, no dead letter", r)
		}
	}
	dead := 1
	for _, th := range throws {
		if th {
			dead++
		}
	}
	if deadTotal != float64(dead) {
		t.Errorf("count() by y: %v dead letters in the null group, want all %d", deadTotal, dead)
	}
}

// A job killed with SIGKILL several times and resumed writes aggregates
// files identical, byte for byte, to a clean run's: the partials are
// committed with the rows, and sums do not depend on order or batching.
func TestAKilledAggregateJobResumesToTheCleanTotals(t *testing.T) {
	t.Parallel()
	input, _, _, _ := faultyInput(t, 900, true)
	specs := []string{"sum(y, x) by arg", "quantile(0.95, y) by arg", "mean(x) over arg", "count() by fault"}
	args := func(out string, batch int) []string {
		a := []string{"run", "--binary", testbin.Path(t, "faulty"), "--input", input, "--output", out,
			"--batch-size", fmt.Sprint(batch), "--parallelism", "2", "--commit-interval", "40ms"}
		for _, s := range specs {
			a = append(a, "--aggregate", s)
		}
		return a
	}
	clean := filepath.Join(t.TempDir(), "clean")
	if code, _, stderr := gridrun(t, args(clean, 100)...); code != 3 {
		t.Fatalf("clean run: exit %d: %s", code, stderr)
	}
	r := rand.New(rand.NewPCG(9, 9))
	out := filepath.Join(t.TempDir(), "killed")
	for runs := 0; runs < 3; runs++ {
		a := args(out, 15) // other batches than the clean run's
		if runs > 0 {
			a = append(a, "--resume")
		}
		killAfter := journalLines(t, out) + 1 + r.IntN(3)
		if done := killAt(t, a, out, killAfter, time.Duration(r.IntN(20))*time.Millisecond); done {
			break
		}
	}
	if code, _, stderr := gridrun(t, append(args(out, 15), "--resume")...); code != 3 {
		t.Fatalf("final resume: exit %d: %s", code, stderr)
	}
	if m := readManifest(t, out); m.Runs < 2 || m.Resumed == 0 {
		t.Errorf("manifest: %d runs, %d resumed: the job was not killed after a commit", m.Runs, m.Resumed)
	}
	for i := range specs {
		name := fmt.Sprintf("aggregates-%d.jsonl", i+1)
		want, err := os.ReadFile(filepath.Join(clean, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s after kills and resumes:\n%s\nclean run:\n%s", name, got, want)
		}
	}
	if code, stdout, stderr := gridrun(t, "verify", out); code != 0 {
		t.Errorf("verify: exit %d\n%s%s", code, stdout, stderr)
	}
}

// A committed partial found altered on resume withdraws its commit like a
// damaged shard: its rows run again, and the aggregates are the clean
// run's.
func TestADamagedPartialRunsItsRowsAgain(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"run", "--binary", testbin.Path(t, "pricer"), "--input", "testdata/trades.jsonl",
		"--join", "testdata/quotes.csv", "--join-key", "{underlying}", "--output", out,
		"--batch-size", "50", "--fixed-batch-size", "--commit-interval", "1ms", "--aggregate", "sum(value, delta) by underlying"}
	if code, _, stderr := gridrun(t, args...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want, err := os.ReadFile(filepath.Join(out, "aggregates-1.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	partials, _ := filepath.Glob(filepath.Join(out, "_gridrun", "aggregates-*.bin"))
	if len(partials) < 2 {
		t.Fatalf("%d partials: the job made one commit", len(partials))
	}
	b, err := os.ReadFile(partials[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(partials[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := gridrun(t, append(args, "--resume")...)
	if code != 0 || !strings.Contains(stderr, "committed shard damaged") || !strings.Contains(stderr, filepath.Base(partials[0])) {
		t.Fatalf("resume: exit %d, want 0 and the damaged partial named: %s", code, stderr)
	}
	if m := readManifest(t, out); m.Resumed == 0 || m.Resumed == 1000 {
		t.Errorf("resume kept %d of 1000 elements: want all but the damaged commit's", m.Resumed)
	}
	got, err := os.ReadFile(filepath.Join(out, "aggregates-1.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("aggregates after the repair:\n%s\nbefore the damage:\n%s", got, want)
	}
}
