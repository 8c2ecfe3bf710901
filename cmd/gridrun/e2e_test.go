package main_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/gridrun/gridrun/internal/testbin"
)

// gridrun runs the CLI and returns its exit code, stdout and stderr.
func gridrun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(testbin.Path(t, "gridrun"), args...)
	cmd.Dir = testbin.Root(t)
	cmd.Env = append(os.Environ(), "GRIDRUN_CACHE_DIR="+t.TempDir())
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatal(err)
	return 0, "", ""
}

type trade struct {
	ID         string  `json:"id"`
	Underlying string  `json:"underlying"`
	Type       string  `json:"type"`
	Style      string  `json:"style"`
	Strike     float64 `json:"strike"`
	Expiry     float64 `json:"expiry"`
	Quantity   float64 `json:"quantity"`
	Paths      int     `json:"paths"`
	Fixings    int     `json:"fixings"`
}

type quote struct{ spot, vol, rate, dividend float64 }

type price struct {
	Price    float64 `json:"price"`
	Value    float64 `json:"value"`
	Delta    float64 `json:"delta"`
	Gamma    float64 `json:"gamma"`
	Vega     float64 `json:"vega"`
	StdError float64 `json:"std_error"`
	Paths    int     `json:"paths"`
	Method   string  `json:"method"`
}

// The demo job through the real CLI, checked against an independent Go
// implementation of the pricer's formulas: Black-Scholes to 1e-9 relative,
// the Asian Monte Carlo within 3 standard errors of a reference simulation.
func TestTheDemoJobPricesCorrectly(t *testing.T) {
	t.Parallel()
	root := testbin.Root(t)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := gridrun(t, "run", "--binary", testbin.Path(t, "pricer"),
		"--input", "testdata/trades.jsonl", "--join", "testdata/quotes.csv", "--join-key", "{underlying}", "--output", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "1000 elements: 1000 results, 0 dead letters") {
		t.Errorf("summary:\n%s", stdout)
	}
	trades := readTrades(t, filepath.Join(root, "testdata", "trades.jsonl"))
	quotes := readQuotes(t, filepath.Join(root, "testdata", "quotes.csv"))
	prices := readPrices(t, out)
	if len(prices) != len(trades) {
		t.Fatalf("%d prices for %d trades", len(prices), len(trades))
	}
	asian := 0
	for _, tr := range trades {
		p, ok := prices[tr.ID]
		if !ok {
			t.Fatalf("no price for %s", tr.ID)
		}
		q := quotes[tr.Underlying]
		switch tr.Style {
		case "EUROPEAN":
			want := blackScholes(tr, q)
			for _, c := range []struct {
				name      string
				got, want float64
			}{
				{"price", p.Price, want.Price}, {"delta", p.Delta, want.Delta}, {"gamma", p.Gamma, want.Gamma},
				{"vega", p.Vega, want.Vega}, {"value", p.Value, want.Price * tr.Quantity},
			} {
				if !close(c.got, c.want, 1e-9) {
					t.Errorf("%s %s = %.15g, want %.15g", tr.ID, c.name, c.got, c.want)
				}
			}
		case "ASIAN":
			if asian++; asian > 12 { // the reference simulation is the slow part
				continue
			}
			ref, se := asianMonteCarlo(tr, q, 200_000, uint64(asian))
			if p.Paths != tr.Paths || p.StdError <= 0 || p.Method != "monte-carlo" {
				t.Errorf("%s: %+v", tr.ID, p)
			}
			if tol := 3 * math.Hypot(p.StdError, se); math.Abs(p.Price-ref) > tol {
				t.Errorf("%s: Monte Carlo price %.6f, reference %.6f ± %.6f", tr.ID, p.Price, ref, tol)
			}
		}
	}
	if asian == 0 {
		t.Fatal("testdata has no Asian trades")
	}
}

func close(a, b, rel float64) bool {
	return a == b || math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))
}

func normCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }
func normPDF(x float64) float64 { return math.Exp(-x*x/2) / math.Sqrt(2*math.Pi) }

func blackScholes(t trade, q quote) price {
	sqrtT := math.Sqrt(t.Expiry)
	d1 := (math.Log(q.spot/t.Strike) + (q.rate-q.dividend+q.vol*q.vol/2)*t.Expiry) / (q.vol * sqrtT)
	d2 := d1 - q.vol*sqrtT
	df, dq := math.Exp(-q.rate*t.Expiry), math.Exp(-q.dividend*t.Expiry)
	var p price
	if t.Type == "CALL" {
		p.Price = q.spot*dq*normCDF(d1) - t.Strike*df*normCDF(d2)
		p.Delta = dq * normCDF(d1)
	} else {
		p.Price = t.Strike*df*normCDF(-d2) - q.spot*dq*normCDF(-d1)
		p.Delta = -dq * normCDF(-d1)
	}
	p.Gamma = dq * normPDF(d1) / (q.spot * q.vol * sqrtT)
	p.Vega = q.spot * dq * normPDF(d1) * sqrtT
	return p
}

// asianMonteCarlo is a reference simulation with its own random numbers:
// the discounted arithmetic-average payoff over equally spaced fixings.
func asianMonteCarlo(t trade, q quote, paths int, seed uint64) (mean, stdErr float64) {
	r := rand.New(rand.NewPCG(seed, 42))
	fixings := t.Fixings
	if fixings == 0 {
		fixings = 12
	}
	dt := t.Expiry / float64(fixings)
	drift := (q.rate - q.dividend - q.vol*q.vol/2) * dt
	diffusion := q.vol * math.Sqrt(dt)
	df := math.Exp(-q.rate * t.Expiry)
	var sum, sumSq float64
	for range paths {
		s, total := q.spot, 0.0
		for range fixings {
			s *= math.Exp(drift + diffusion*r.NormFloat64())
			total += s
		}
		payoff := total/float64(fixings) - t.Strike
		if t.Type == "PUT" {
			payoff = -payoff
		}
		v := df * math.Max(payoff, 0)
		sum += v
		sumSq += v * v
	}
	n := float64(paths)
	mean = sum / n
	return mean, math.Sqrt((sumSq/n - mean*mean) / (n - 1))
}

func readTrades(t *testing.T, path string) []trade {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []trade
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var tr trade
		if err := json.Unmarshal(sc.Bytes(), &tr); err != nil {
			t.Fatal(err)
		}
		out = append(out, tr)
	}
	return out
}

func readQuotes(t *testing.T, path string) map[string]quote {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	num := func(row []string, name string) float64 {
		v, err := strconv.ParseFloat(row[col[name]], 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	out := map[string]quote{}
	for _, r := range rows[1:] {
		out[r[col["underlying"]]] = quote{num(r, "spot"), num(r, "vol"), num(r, "rate"), num(r, "dividend")}
	}
	return out
}

func readPrices(t *testing.T, dir string) map[string]price {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "results-*.jsonl"))
	out := map[string]price{}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var r struct {
				ID     string `json:"id"`
				Result price  `json:"result"`
			}
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			if _, dup := out[r.ID]; dup {
				t.Fatalf("%s priced twice", r.ID)
			}
			out[r.ID] = r.Result
		}
		f.Close()
	}
	return out
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	pricer := testbin.Path(t, "pricer")
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte(`{"id":"A","underlying":"AAPL","type":"CALL","style":"EUROPEAN","strike":50,"expiry":1}`+"\n{oops\n"), 0o644)
	run := func(extra ...string) []string {
		return append([]string{"run", "--binary", pricer, "--join", "testdata/quotes.csv", "--join-key", "{underlying}",
			"--output", filepath.Join(t.TempDir(), "out")}, extra...)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"all results", run("--input", "testdata/trades.jsonl"), 0, "1000 results"},
		{"dead letters", run("--input", bad), 3, "1 dead letters (bad_input 1)"},
		{"missing flag", []string{"run", "--binary", pricer}, 2, `required flag(s) "input", "output" not set`},
		{"unknown flag", run("--input", bad, "--frobnicate"), 2, "unknown flag: --frobnicate"},
		{"missing input", run("--input", "testdata/nope.jsonl"), 2, "testdata/nope.jsonl: no such file"},
		{"wrong hash", run("--input", bad, "--sha256", strings.Repeat("0", 64)), 2, "refusing to run it"},
		{"bad size", run("--input", bad, "--max-memory", "lots"), 2, `"lots" is not a size`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := gridrun(t, tc.args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Fatalf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, tc.code, tc.want, stdout, stderr)
			}
		})
	}
}

func TestDescribeShowsTheBinarysMessages(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := gridrun(t, "describe", "--binary", testbin.Path(t, "pricer"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"input: pricer.Trade", "result: pricer.Price", "side rows: pricer.Quote",
		"strike           double", "type             enum pricer.OptionType {OPTION_TYPE_UNSPECIFIED, CALL, PUT}",
		"common data (--common): pricer.Common\n  curve            pricer.ZeroCurve\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("describe output lacks %q:\n%s", want, stdout)
		}
	}
}

// The demo job from the Parquet copy of the trades, with Parquet results:
// the European prices in the results file are Black-Scholes'.
func TestTheDemoJobInParquet(t *testing.T) {
	t.Parallel()
	root := testbin.Root(t)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := gridrun(t, "run", "--binary", testbin.Path(t, "pricer"),
		"--input", "testdata/trades.parquet", "--join", "testdata/quotes.csv", "--join-key", "{underlying}",
		"--output", out, "--output-format", "parquet")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	type row struct {
		ID     string  `parquet:"id"`
		Price  float64 `parquet:"price"`
		Method string  `parquet:"method"`
	}
	files, _ := filepath.Glob(filepath.Join(out, "results-*.parquet"))
	prices := map[string]row{}
	for _, f := range files {
		rows, err := parquet.ReadFile[row](f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			prices[r.ID] = r
		}
	}
	trades := readTrades(t, filepath.Join(root, "testdata", "trades.jsonl"))
	quotes := readQuotes(t, filepath.Join(root, "testdata", "quotes.csv"))
	if len(prices) != len(trades) {
		t.Fatalf("%d prices in %v for %d trades", len(prices), files, len(trades))
	}
	for _, tr := range trades {
		p := prices[tr.ID]
		if tr.Style != "EUROPEAN" {
			continue
		}
		if want := blackScholes(tr, quotes[tr.Underlying]).Price; !close(p.Price, want, 1e-9) || p.Method != "black-scholes" {
			t.Fatalf("%s: %+v, want price %.15g", tr.ID, p, want)
		}
	}
}

// --input - reads standard input, piped in as a shell would.
func TestRunReadsStandardInput(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(testbin.Path(t, "gridrun"), "run", "--binary", testbin.Path(t, "pricer"),
		"--input", "-", "--join", "testdata/quotes.csv", "--join-key", "{underlying}", "--output", out)
	cmd.Dir = testbin.Root(t)
	cmd.Env = append(os.Environ(), "GRIDRUN_CACHE_DIR="+t.TempDir())
	in, err := os.Open(filepath.Join(cmd.Dir, "testdata", "trades.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd.Stdin = in
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if !strings.Contains(string(stdout), "1000 elements: 1000 results, 0 dead letters") {
		t.Errorf("summary:\n%s", stdout)
	}
}

// An output directory named relative to the working directory, as the
// demo names its own: calls' files live under it, and the binary, which
// runs in its call's directory, is handed their paths.
func TestARelativeOutputDirectory(t *testing.T) {
	t.Parallel()
	rel, err := filepath.Rel(testbin.Root(t), t.TempDir())
	if err != nil || filepath.IsAbs(rel) {
		t.Fatalf("no relative path to the test's directory: %q, %v", rel, err)
	}
	out := filepath.Join(rel, "out")
	code, stdout, stderr := gridrun(t, "run", "--binary", "bin/pricer", "--input", "testdata/trades.jsonl",
		"--join", "testdata/quotes.csv", "--join-key", "{underlying}", "--output", out, "--progress", "none")
	if code != 0 || !strings.Contains(stdout, "1000 results, 0 dead letters") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
}
