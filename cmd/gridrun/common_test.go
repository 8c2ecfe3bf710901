package main_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/internal/testbin"
)

// zeroCurve is testdata/common.json as this test reads it, with its own
// interpolation: linear in the tenor between points, flat outside them.
type zeroCurve struct {
	Tenors    []float64 `json:"tenors"`
	ZeroRates []float64 `json:"zero_rates"`
}

func (c zeroCurve) rate(t float64) float64 {
	n := len(c.Tenors)
	switch {
	case t <= c.Tenors[0]:
		return c.ZeroRates[0]
	case t >= c.Tenors[n-1]:
		return c.ZeroRates[n-1]
	}
	for i := 1; i < n; i++ {
		if t <= c.Tenors[i] {
			w := (t - c.Tenors[i-1]) / (c.Tenors[i] - c.Tenors[i-1])
			return c.ZeroRates[i-1] + w*(c.ZeroRates[i]-c.ZeroRates[i-1])
		}
	}
	panic("unreachable")
}

func readCurve(t *testing.T, path string) zeroCurve {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Curve zeroCurve `json:"curve"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Curve.Tenors) < 2 || len(c.Curve.Tenors) != len(c.Curve.ZeroRates) {
		t.Fatalf("%s: a curve of %d tenors and %d rates", path, len(c.Curve.Tenors), len(c.Curve.ZeroRates))
	}
	return c.Curve
}

// The demo job with the curve of testdata/common.json as its common data:
// every European trade priced by Black-Scholes at the curve's zero rate at
// its expiry (to 1e-9 relative, against this test's own formulas and
// interpolation), Asian trades within 3 standard errors of a reference
// simulation at that rate; the manifest records the data's sha256.
func TestTheCurveOfTheCommonDataPricesEveryTrade(t *testing.T) {
	t.Parallel()
	root := testbin.Root(t)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := gridrun(t, "run", "--binary", testbin.Path(t, "pricer"), "--common", "testdata/common.json",
		"--input", "testdata/trades.jsonl", "--join", "testdata/quotes.csv", "--join-key", "{underlying}", "--output", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	curve := readCurve(t, filepath.Join(root, "testdata", "common.json"))
	trades := readTrades(t, filepath.Join(root, "testdata", "trades.jsonl"))
	quotes := readQuotes(t, filepath.Join(root, "testdata", "quotes.csv"))
	prices := readPrices(t, out)
	if len(prices) != len(trades) {
		t.Fatalf("%d prices for %d trades", len(prices), len(trades))
	}
	asian, moved := 0, 0
	for _, tr := range trades {
		p := prices[tr.ID]
		q := quotes[tr.Underlying]
		flat := q.rate
		q.rate = curve.rate(tr.Expiry)
		switch tr.Style {
		case "EUROPEAN":
			want := blackScholes(tr, q)
			if !close(p.Price, want.Price, 1e-9) || !close(p.Delta, want.Delta, 1e-9) || !close(p.Value, want.Price*tr.Quantity, 1e-9) {
				t.Errorf("%s: price %.15g delta %.15g, want %.15g and %.15g at the curve's rate %g", tr.ID, p.Price, p.Delta, want.Price, want.Delta, q.rate)
			}
			q.rate = flat
			if !close(p.Price, blackScholes(tr, q).Price, 1e-6) {
				moved++
			}
		case "ASIAN":
			if asian++; asian > 6 {
				continue
			}
			ref, se := asianMonteCarlo(tr, q, 200_000, uint64(asian))
			if tol := 3 * math.Hypot(p.StdError, se); math.Abs(p.Price-ref) > tol {
				t.Errorf("%s: Monte Carlo price %.6f, reference %.6f ± %.6f at the curve's rate", tr.ID, p.Price, ref, tol)
			}
		}
	}
	// The curve differs from every quote's flat rate, so a pricer that
	// ignored it would be caught on (nearly) every European trade.
	if moved < 100 {
		t.Errorf("only %d European prices differ from the flat-rate ones: was the curve used?", moved)
	}
	var m struct {
		Common struct {
			Source, Type, SHA256 string
			Bytes                int
		} `json:"common"`
	}
	b, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.Common.Type != "pricer.Common" || len(m.Common.SHA256) != 64 || m.Common.Bytes == 0 || m.Common.Source != "testdata/common.json" {
		t.Fatalf("manifest's common data: %+v", m.Common)
	}
	if want := fmt.Sprintf("  common testdata/common.json (pricer.Common, %d bytes) sha256 %s\n", m.Common.Bytes, m.Common.SHA256[:12]); !strings.Contains(stdout, want) {
		t.Errorf("the summary does not say %q:\n%s", want, stdout)
	}
	// A dry run checks the file too, and names the same digest.
	code, stdout, stderr = gridrun(t, "run", "--dry-run", "--binary", testbin.Path(t, "pricer"), "--common", "testdata/common.json",
		"--input", "testdata/trades.jsonl", "--join", "testdata/quotes.csv", "--join-key", "{underlying}", "--output", filepath.Join(t.TempDir(), "dry"))
	if want := fmt.Sprintf("  common   testdata/common.json: a pricer.Common of %d bytes, sha256 %s\n", m.Common.Bytes, m.Common.SHA256); code != 0 || !strings.Contains(stdout, want) {
		t.Errorf("dry run: exit %d, want 0 and %q:\n%s\n%s", code, want, stdout, stderr)
	}
}

// Common data that does not fit the binary is refused before any call,
// with exit 2 and a message naming the file, the line and the field.
func TestBadCommonDataIsRefusedBeforeAnyCall(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pricer := testbin.Path(t, "pricer")
	for _, c := range []struct {
		name, file string
		extra      []string
		want       []string
	}{
		{"an unknown field", write("unknown.json", "{\n  \"curve\": {\"tenors\": [1], \"rates\": [0.01]}\n}\n"), nil,
			[]string{"unknown.json", "line 2:", `unknown field "rates"`}},
		{"a wrong type", write("type.json", `{"curve": {"tenors": ["one"]}}`), nil,
			[]string{"type.json", "line 1:", "tenors", `"one"`}},
		{"no such file", filepath.Join(dir, "missing.json"), nil, []string{"missing.json"}},
		{"an extension that says no encoding", write("curve.txt", `{}`), nil, []string{"curve.txt", ".json", ".binpb"}},
		{"binary bytes that are not the message", write("garbage.binpb", "\x0a\x05\xff\xff"), nil, []string{"garbage.binpb", "pricer.Common"}},
		// Field 9 of pricer.Common does not exist: a binary file written
		// for another message.
		{"an unknown field in the binary encoding", write("other.pb", "\x48\x01"), nil, []string{"other.pb", "field 9 is not in pricer.Common"}},
		{"a binary that takes none", write("ok.json", `{}`),
			[]string{"--proto", "native/examples/pricer/pricer.proto", "--input-type", "pricer.Trade", "--result-type", "pricer.Price", "--side-type", "pricer.Quote"},
			[]string{"ok.json", "takes no common data"}},
	} {
		out := filepath.Join(dir, "out-"+strings.ReplaceAll(c.name, " ", "-"))
		args := append([]string{"run", "--binary", pricer, "--common", c.file, "--input", "testdata/trades.jsonl",
			"--join", "testdata/quotes.csv", "--join-key", "{underlying}", "--output", out}, c.extra...)
		code, stdout, stderr := gridrun(t, args...)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2\n%s\n%s", c.name, code, stdout, stderr)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: the error does not say %q:\n%s", c.name, w, stderr)
			}
		}
		if _, err := os.Stat(filepath.Join(out, "timeline.jsonl")); err == nil {
			t.Errorf("%s: a call ran", c.name)
		}
	}
}

// A resume with other common data is refused, saying so; the same
// message in the binary encoding is the same data.
func TestResumeRefusesChangedCommonData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	common := filepath.Join(dir, "common.json")
	if err := os.WriteFile(common, []byte(`{"curve": {"tenors": [1, 5], "zero_rates": [0.03, 0.04]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	args := func(common string) []string {
		return []string{"run", "--binary", testbin.Path(t, "pricer"), "--common", common, "--input", "testdata/trades.jsonl",
			"--join", "testdata/quotes.csv", "--join-key", "{underlying}", "--output", out}
	}
	if code, _, stderr := gridrun(t, args(common)...); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	// The same curve, written by hand in the binary encoding: field 1
	// (curve) holding packed doubles in fields 1 and 2.
	same := filepath.Join(dir, "common.binpb")
	curve := append(packedDoubles(1, 1, 5), packedDoubles(2, 0.03, 0.04)...)
	if err := os.WriteFile(same, append([]byte{0x0a, byte(len(curve))}, curve...), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := gridrun(t, append(args(same), "--resume")...); code != 0 {
		t.Fatalf("resume with the same curve in the binary encoding: exit %d: %s", code, stderr)
	}
	if err := os.WriteFile(common, []byte(`{"curve": {"tenors": [1, 5], "zero_rates": [0.03, 0.045]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := gridrun(t, append(args(common), "--resume")...)
	if want := fmt.Sprintf("common data %s: sha256 of its message was", common); code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("resume with a changed curve: exit %d, want 2 and %q:\n%s", code, want, stderr)
	}
	code, _, stderr = gridrun(t, "run", "--binary", testbin.Path(t, "pricer"), "--input", "testdata/trades.jsonl",
		"--join", "testdata/quotes.csv", "--join-key", "{underlying}", "--output", out, "--resume")
	if want := "common data: was " + common + ", there is none"; code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("resume without the common data: exit %d, want 2 and %q:\n%s", code, want, stderr)
	}
}

// packedDoubles encodes a packed repeated double field.
func packedDoubles(field byte, vs ...float64) []byte {
	b := []byte{field<<3 | 2, byte(8 * len(vs))}
	for _, v := range vs {
		b = append(b, make([]byte, 8)...)
		u := math.Float64bits(v)
		for i := range 8 {
			b[len(b)-8+i] = byte(u >> (8 * i))
		}
	}
	return b
}

// gridrun inspect shows a kept batch file's common data decoded with the
// binary's common type.
func TestInspectDecodesTheCommonDataOfABatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	input := filepath.Join(dir, "trades.jsonl")
	b, err := os.ReadFile(filepath.Join(testbin.Root(t), "testdata", "trades.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	if err := os.WriteFile(input, []byte(strings.Join(lines[:3], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	code, stdout, stderr := gridrun(t, "run", "--binary", testbin.Path(t, "pricer"), "--common", "testdata/common.json", "--input", input,
		"--join", "testdata/quotes.csv", "--join-key", "{underlying}", "--output", out, "--keep-batch-files")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	batches, _ := filepath.Glob(filepath.Join(out, "calls", "*", "batch.pb"))
	if len(batches) == 0 {
		t.Fatal("no batch file kept")
	}
	want := readCurve(t, filepath.Join(testbin.Root(t), "testdata", "common.json"))
	for _, f := range batches {
		code, stdout, stderr := gridrun(t, "inspect", f)
		var got struct {
			Common struct {
				Payload struct {
					Curve zeroCurve `json:"curve"`
				} `json:"payload"`
			} `json:"common"`
		}
		if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil {
			t.Fatalf("inspect %s: exit %d\n%s\n%s", f, code, stdout, stderr)
		}
		if c := got.Common.Payload.Curve; fmt.Sprint(c) != fmt.Sprint(want) {
			t.Errorf("%s: common curve %v, want %v", f, c, want)
		}
	}
}

// A binary given its types with --proto names its common type with
// --common-type, and gets the common data as one that describes itself.
func TestCommonTypeFromProtoFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	input := filepath.Join(dir, "trades.jsonl")
	b, err := os.ReadFile(filepath.Join(testbin.Root(t), "testdata", "trades.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(input, []byte(strings.Join(strings.SplitAfter(string(b), "\n")[:50], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	results := map[string]map[string]price{}
	for name, extra := range map[string][]string{
		"described": nil,
		"proto": {"--proto", "native/examples/pricer/pricer.proto", "--input-type", "pricer.Trade", "--result-type", "pricer.Price",
			"--side-type", "pricer.Quote", "--common-type", "pricer.Common"},
	} {
		out := filepath.Join(dir, name)
		args := append([]string{"run", "--binary", testbin.Path(t, "pricer"), "--common", "testdata/common.json", "--input", input,
			"--join", "testdata/quotes.csv", "--join-key", "{underlying}", "--output", out}, extra...)
		if code, stdout, stderr := gridrun(t, args...); code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", name, code, stdout, stderr)
		}
		results[name] = readPrices(t, out)
	}
	if len(results["proto"]) != 50 || fmt.Sprint(results["proto"]) != fmt.Sprint(results["described"]) {
		t.Errorf("with --proto: %d prices, differing from the described binary's", len(results["proto"]))
	}
	code, _, stderr := gridrun(t, "run", "--binary", testbin.Path(t, "pricer"), "--common-type", "pricer.Common", "--input", input,
		"--join", "testdata/quotes.csv", "--join-key", "{underlying}", "--output", filepath.Join(dir, "alone"))
	if code != 2 || !strings.Contains(stderr, "--proto, --input-type and --result-type go together") {
		t.Errorf("--common-type without --proto: exit %d\n%s", code, stderr)
	}
}
