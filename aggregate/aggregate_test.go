package aggregate_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/aggregate"
	"github.com/gridrun/gridrun/wrapper"
)

var pricer = sync.OnceValues(func() (*wrapper.Schema, error) {
	return wrapper.SchemaFromProtoFiles(context.Background(),
		[]string{"../native/examples/pricer/pricer.proto"}, nil, "pricer.Trade", "pricer.Price", "pricer.Quote")
})

func schema(t *testing.T, scenarios bool) aggregate.Schema {
	t.Helper()
	s, err := pricer()
	if err != nil {
		t.Fatal(err)
	}
	return aggregate.Schema{Result: s.Result, Input: s.Input, Scenarios: scenarios}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		text string
		want aggregate.Spec
	}{
		{"sum(value, delta, vega) by underlying, scenario", aggregate.Spec{Func: "sum", Fields: []string{"value", "delta", "vega"}, By: []string{"underlying", "scenario"}}},
		{"count() by type", aggregate.Spec{Func: "count", By: []string{"type"}}},
		{"mean(x)", aggregate.Spec{Func: "mean", Fields: []string{"x"}}},
		{" quantile( 0.99 , value ) over scenario by underlying ", aggregate.Spec{Func: "quantile", Q: 0.99, Fields: []string{"value"}, Over: "scenario", By: []string{"underlying"}}},
		{"max(input.strike) by result.method", aggregate.Spec{Func: "max", Fields: []string{"input.strike"}, By: []string{"result.method"}}},
	} {
		got, err := aggregate.Parse(c.text)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.text, err)
			continue
		}
		c.want.Text = c.text
		if !reflect.DeepEqual(*got, c.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", c.text, *got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		text   string
		column int
		msg    string
	}{
		{"", 1, "want a function"},
		{"total(value)", 1, "unknown function \"total\""},
		{"sum value", 5, "want ("},
		{"sum()", 5, "want a field name"},
		{"count(value)", 7, "count takes no field"},
		{"quantile(value)", 10, "number in [0, 1]"},
		{"quantile(1.5, value)", 10, "number in [0, 1]"},
		{"sum(value by x", 11, "want , or )"},
		{"sum(value) group x", 12, "want over or by"},
		{"sum(value) by", 14, "want a field name"},
		{"sum(value) over scenario by scenario", 17, "both the over field and a by field"},
	} {
		_, err := aggregate.Parse(c.text)
		var se *aggregate.SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a *SyntaxError", c.text, err)
			continue
		}
		if se.Column != c.column || !strings.Contains(se.Error(), c.msg) || !strings.Contains(se.Error(), fmt.Sprintf("%q", c.text)) {
			t.Errorf("Parse(%q): column %d, %q; want column %d and %q with the spec", c.text, se.Column, se.Error(), c.column, c.msg)
		}
	}
}

func TestCompileFieldErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		spec      string
		scenarios bool
		field     string
		msg       string
	}{
		{"sum(valu)", false, "valu", "no such field"},
		{"sum(underlying)", false, "underlying", "sum wants a number, and pricer.Trade.underlying is a string"},
		{"mean(method)", false, "method", "is a string"},
		{"quantile(0.5, type)", false, "type", "is a enum"},
		{"count() by nothere", false, "nothere", "no such field"},
		{"sum(value) by scenario", false, "scenario", "no such field"},
		{"sum(scenario)", true, "scenario", "not a number"},
		{"sum(input.value)", false, "input.value", "no such field"},
	} {
		_, err := aggregate.Compile([]string{"count()", c.spec}, schema(t, c.scenarios))
		var fe *aggregate.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("Compile(%q) = %v, want a *FieldError", c.spec, err)
			continue
		}
		msg := fe.Error()
		if fe.Field != c.field || !strings.Contains(msg, c.msg) ||
			!strings.Contains(msg, "result fields (pricer.Price): price (double), value (double)") ||
			!strings.Contains(msg, "input fields (pricer.Trade): id (string), underlying (string)") {
			t.Errorf("Compile(%q): field %q, %q; want field %q, %q and the fields that exist", c.spec, fe.Field, msg, c.field, c.msg)
		}
	}
}

// exact returns the exact sum of xs rounded to a float64, by big.Float
// arithmetic wide enough to hold any sum of float64s exactly.
func exact(xs []float64) float64 {
	acc := new(big.Float).SetPrec(4096)
	for _, x := range xs {
		acc.Add(acc, new(big.Float).SetPrec(4096).SetFloat64(x))
	}
	f, _ := acc.Float64()
	return f
}

func TestSumExactAndOrderFree(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		xs := make([]float64, 1+r.IntN(300))
		for i := range xs {
			// Values across many magnitudes, with cancellation.
			xs[i] = (r.Float64() - 0.5) * math.Pow(2, float64(r.IntN(120)-60))
			if r.IntN(10) == 0 && i > 0 {
				xs[i] = -xs[r.IntN(i)]
			}
		}
		want := exact(xs)
		var s aggregate.Sum
		for _, x := range xs {
			s.Add(x)
		}
		if got := s.Value(); got != want {
			t.Fatalf("trial %d: Sum %v, exact %v", trial, got, want)
		}
		// Shuffled, split, merged in another order: the same bits.
		r.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
		var parts []aggregate.Sum
		for len(xs) > 0 {
			n := 1 + r.IntN(len(xs))
			var p aggregate.Sum
			for _, x := range xs[:n] {
				p.Add(x)
			}
			parts = append(parts, p)
			xs = xs[n:]
		}
		var m aggregate.Sum
		for i := len(parts) - 1; i >= 0; i-- {
			m.Merge(&parts[i])
		}
		if got := m.Value(); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("trial %d: merged Sum %v, exact %v", trial, got, want)
		}
	}
	// A naive sum gets this wrong; the exact one does not.
	var s aggregate.Sum
	for _, x := range []float64{1e100, 1, -1e100, 1e-3} {
		s.Add(x)
	}
	if got := s.Value(); got != 1.001 {
		t.Errorf("Sum(1e100, 1, -1e100, 1e-3) = %v, want 1.001", got)
	}
	var inf aggregate.Sum
	inf.Add(math.Inf(1))
	inf.Add(1)
	if got := inf.Value(); !math.IsInf(got, 1) {
		t.Errorf("Sum(+Inf, 1) = %v", got)
	}
}

// fakeRow is a priced trade under a scenario, built here and described
// again independently for the expected figures.
type fakeRow struct {
	id, underlying, typ, scenario string
	quantity, value, delta        float64
	dead                          bool
}

func (f fakeRow) row(t *testing.T, s aggregate.Schema) aggregate.Row {
	in := dynamicpb.NewMessage(s.Input)
	set := func(m *dynamicpb.Message, name string, v protoreflect.Value) {
		m.Set(m.Descriptor().Fields().ByName(protoreflect.Name(name)), v)
	}
	set(in, "id", protoreflect.ValueOfString(f.id))
	set(in, "underlying", protoreflect.ValueOfString(f.underlying))
	set(in, "type", protoreflect.ValueOfEnum(s.Input.Fields().ByName("type").Enum().Values().ByName(protoreflect.Name(f.typ)).Number()))
	set(in, "quantity", protoreflect.ValueOfFloat64(f.quantity))
	r := aggregate.Row{Scenario: f.scenario, Dead: f.dead}
	var err error
	if r.Input, err = proto.Marshal(in); err != nil {
		t.Fatal(err)
	}
	if !f.dead {
		out := dynamicpb.NewMessage(s.Result)
		set(out, "value", protoreflect.ValueOfFloat64(f.value))
		set(out, "delta", protoreflect.ValueOfFloat64(f.delta))
		if r.Result, err = proto.Marshal(out); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func fakeRows(r *rand.Rand, trades, scenarios int) []fakeRow {
	unders := []string{"AAPL", "KO", "NVDA"}
	var rows []fakeRow
	for i := range trades {
		for k := range scenarios {
			rows = append(rows, fakeRow{
				id: fmt.Sprintf("T%03d", i), underlying: unders[i%len(unders)], typ: []string{"CALL", "PUT"}[i%2],
				scenario: fmt.Sprintf("s%02d", k),
				quantity: float64(1 + i), value: (r.Float64() - 0.3) * math.Pow(10, float64(r.IntN(8))), delta: r.Float64(),
				dead: r.IntN(25) == 0,
			})
		}
	}
	return rows
}

func TestSetAgainstIndependentFigures(t *testing.T) {
	t.Parallel()
	s := schema(t, true)
	specs := []string{
		"sum(value, delta) by underlying, scenario",
		"count() by type",
		"mean(value) by underlying",
		"min(value) by underlying",
		"max(input.quantity)",
		"quantile(0.9, value) over scenario by underlying",
		"quantile(0.5, delta) by type",
	}
	p, err := aggregate.Compile(specs, s)
	if err != nil {
		t.Fatal(err)
	}
	rows := fakeRows(rand.New(rand.NewPCG(3, 4)), 30, 12)
	set := p.NewSet()
	for _, f := range rows {
		if err := set.Add(f.row(t, s)); err != nil {
			t.Fatal(err)
		}
	}
	out := set.Outputs()

	// The expected figures, from the rows as built.
	type group struct {
		vals, deltas []float64
		quantity     []float64
		results      int64
		dead         int64
		byScenario   map[string][]float64
	}
	groupBy := func(key func(fakeRow) string) map[string]*group {
		m := map[string]*group{}
		for _, f := range rows {
			g := m[key(f)]
			if g == nil {
				g = &group{byScenario: map[string][]float64{}}
				m[key(f)] = g
			}
			if f.dead {
				g.dead++
				continue
			}
			g.results++
			g.vals, g.deltas, g.quantity = append(g.vals, f.value), append(g.deltas, f.delta), append(g.quantity, f.quantity)
			g.byScenario[f.scenario] = append(g.byScenario[f.scenario], f.value)
		}
		return m
	}
	quant := func(xs []float64, q float64) float64 {
		xs = slices.Clone(xs)
		sort.Float64s(xs)
		pos := q * float64(len(xs)-1)
		i := int(pos)
		if i == len(xs)-1 {
			return xs[i]
		}
		return xs[i]*(1-(pos-float64(i))) + xs[i+1]*(pos-float64(i))
	}
	check := func(o aggregate.Output, key func(fakeRow) string, want func(g *group) []float64) {
		t.Helper()
		groups := groupBy(key)
		if len(o.Rows) != len(groups) {
			t.Errorf("%s: %d rows, want %d", o.Spec.Text, len(o.Rows), len(groups))
		}
		for _, r := range o.Rows {
			var parts []string
			for _, k := range r.Key {
				parts = append(parts, fmt.Sprint(k))
			}
			g := groups[strings.Join(parts, "/")]
			if g == nil {
				t.Errorf("%s: unexpected group %v", o.Spec.Text, r.Key)
				continue
			}
			if r.Results != g.results || r.DeadLetters != g.dead {
				t.Errorf("%s %v: results %d dead %d, want %d %d", o.Spec.Text, r.Key, r.Results, r.DeadLetters, g.results, g.dead)
			}
			w := want(g)
			for i, v := range r.Values {
				if v == nil || math.Abs(*v-w[i]) > 1e-12*math.Max(1, math.Abs(w[i])) {
					t.Errorf("%s %v: %s = %v, want %v", o.Spec.Text, r.Key, o.Values[i], v, w[i])
				}
			}
		}
	}
	check(out[0], func(f fakeRow) string { return f.underlying + "/" + f.scenario }, func(g *group) []float64 {
		return []float64{exact(g.vals), exact(g.deltas)}
	})
	check(out[1], func(f fakeRow) string { return f.typ }, func(g *group) []float64 { return []float64{float64(len(g.vals))} })
	check(out[2], func(f fakeRow) string { return f.underlying }, func(g *group) []float64 {
		return []float64{exact(g.vals) / float64(len(g.vals))}
	})
	check(out[3], func(f fakeRow) string { return f.underlying }, func(g *group) []float64 { return []float64{slices.Min(g.vals)} })
	check(out[4], func(fakeRow) string { return "" }, func(g *group) []float64 { return []float64{slices.Max(g.quantity)} })
	check(out[5], func(f fakeRow) string { return f.underlying }, func(g *group) []float64 {
		var totals []float64
		for _, vs := range g.byScenario {
			totals = append(totals, exact(vs))
		}
		return []float64{quant(totals, 0.9)}
	})
	check(out[6], func(f fakeRow) string { return f.typ }, func(g *group) []float64 { return []float64{quant(g.deltas, 0.5)} })
	if got := out[0].Values; !slices.Equal(got, []string{"sum_value", "sum_delta"}) {
		t.Errorf("value columns %v", got)
	}
	if got := out[5].Values; !slices.Equal(got, []string{"quantile_0_9_value"}) {
		t.Errorf("value columns %v", got)
	}
}

// TestSetOrderFree splits the rows at random, accumulates each part in
// its own Set, encodes and decodes it, and merges the parts in another
// order: every figure equals, to the bit, that of one Set fed in order.
func TestSetOrderFree(t *testing.T) {
	t.Parallel()
	s := schema(t, true)
	specs := []string{
		"sum(value, delta) by underlying, scenario",
		"mean(value) by type",
		"min(value) by underlying",
		"max(value) by underlying",
		"quantile(0.99, value) over scenario by underlying",
		"quantile(0.25, value) by scenario",
		"count() over scenario",
	}
	p, err := aggregate.Compile(specs, s)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	fr := fakeRows(r, 40, 10)
	rows := make([]aggregate.Row, len(fr))
	for i, f := range fr {
		rows[i] = f.row(t, s)
	}
	whole := p.NewSet()
	for _, row := range rows {
		whole.Add(row)
	}
	want := whole.Outputs()
	for trial := range 20 {
		r.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		var parts []*aggregate.Set
		for rest := rows; len(rest) > 0; {
			n := 1 + r.IntN(len(rest))
			part := p.NewSet()
			for _, row := range rest[:n] {
				part.Add(row)
			}
			b, err := part.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if part, err = p.Decode(b); err != nil {
				t.Fatal(err)
			}
			parts = append(parts, part)
			rest = rest[n:]
		}
		r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
		merged := p.NewSet()
		for _, part := range parts {
			merged.Merge(part)
		}
		if got := merged.Outputs(); !reflect.DeepEqual(got, want) {
			t.Fatalf("trial %d (%d parts): merged outputs differ from the whole's", trial, len(parts))
		}
	}
}

func TestDecodeRefusesOtherSpecs(t *testing.T) {
	t.Parallel()
	s := schema(t, false)
	a, _ := aggregate.Compile([]string{"sum(value)"}, s)
	b, _ := aggregate.Compile([]string{"sum(delta)"}, s)
	enc, _ := a.NewSet().MarshalBinary()
	if _, err := b.Decode(enc); err == nil || !strings.Contains(err.Error(), "sum(delta)") {
		t.Errorf("Decode with other specs: %v", err)
	}
	if _, err := a.Decode(enc[:len(enc)-1]); err == nil {
		t.Error("Decode of truncated bytes: no error")
	}
}

func TestCompileRefusesColumnsNamedTwice(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"sum(value, value)", "count() by type, input.type", "sum(value) by method, result.method"} {
		_, err := aggregate.Compile([]string{spec}, schema(t, false))
		var fe *aggregate.FieldError
		if !errors.As(err, &fe) || !strings.Contains(fe.Error(), "named twice") {
			t.Errorf("Compile(%q) = %v, want a *FieldError naming a column twice", spec, err)
		}
	}
}
