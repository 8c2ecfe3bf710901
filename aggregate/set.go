package aggregate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Row is one outcome as a Set sees it.
type Row struct {
	// Result is the result message's wire bytes; nil for a dead letter.
	Result []byte
	// Input is the element's input message's wire bytes; nil when the row
	// never became an element (a bad input row).
	Input []byte
	// Scenario is the scenario id; "" without scenarios.
	Scenario string
	// Dead marks a dead letter: it is counted in its group's
	// dead_letters, and adds no value.
	Dead bool
}

// Set accumulates a Plan's specs over rows. It is not safe for
// concurrent use. Its figures depend only on the multiset of rows added
// or merged into it, never on their order.
type Set struct {
	plan   *Plan
	groups []map[string]*group // by spec, by group key
	// scratch for Add
	rv, iv    []val
	key, okey []byte
}

// group is one group's accumulator.
type group struct {
	results, dead int64
	sums          []Sum       // sum, mean: per field
	mins, maxs    []float64   // min, max: per field
	vals          [][]float64 // quantile without over: per field
	// over: per value of the over field, the total of each field.
	over map[string][]Sum
}

// NewSet returns an empty Set of p's specs.
func (p *Plan) NewSet() *Set {
	s := &Set{plan: p, rv: make([]val, len(p.result.fds)), iv: make([]val, len(p.input.fds))}
	s.groups = make([]map[string]*group, len(p.specs))
	for i := range s.groups {
		s.groups[i] = map[string]*group{}
	}
	return s
}

// Add adds one row. A result or input that is not well formed is an
// error (the engine decoded both before, so it is not expected).
func (s *Set) Add(r Row) error {
	p := s.plan
	haveResult, haveInput := !r.Dead && r.Result != nil, r.Input != nil
	if haveResult && !p.result.read(r.Result, s.rv) {
		return errors.New("aggregate: result is not a well-formed message")
	}
	if haveInput && !p.input.read(r.Input, s.iv) {
		return errors.New("aggregate: input is not a well-formed message")
	}
	get := func(f ref) (val, bool) {
		switch f.src {
		case fromResult:
			return s.rv[f.slot], haveResult
		case fromInput:
			return s.iv[f.slot], haveInput
		}
		return val{s: r.Scenario}, true
	}
	appendRef := func(b []byte, f ref) []byte {
		v, ok := get(f)
		switch {
		case !ok:
			return append(b, "null"...)
		case f.src == fromScenario:
			b, _ = appendJSONString(b, v.s)
			return b
		}
		return appendKey(b, f.fd, v)
	}
	for i, b := range p.specs {
		s.key = append(s.key[:0], '[')
		for j, f := range b.by {
			if j > 0 {
				s.key = append(s.key, ',')
			}
			s.key = appendRef(s.key, f)
		}
		s.key = append(s.key, ']')
		g := s.groups[i][string(s.key)]
		if g == nil {
			g = b.newGroup()
			s.groups[i][string(s.key)] = g
		}
		if r.Dead {
			g.dead++
			continue
		}
		g.results++
		if b.over != nil {
			s.okey = appendRef(s.okey[:0], *b.over)
			sums := g.over[string(s.okey)] // no copy of the key to look it up
			if sums == nil {
				sums = make([]Sum, len(b.fields))
				g.over[string(s.okey)] = sums
			}
			for k, f := range b.fields {
				v, _ := get(f)
				sums[k].Add(number(f.fd, v))
			}
			continue
		}
		for k, f := range b.fields {
			v, _ := get(f)
			x := number(f.fd, v)
			switch b.spec.Func {
			case FuncSum, FuncMean:
				g.sums[k].Add(x)
			case FuncMin:
				g.mins[k] = minOf(g.mins[k], x, g.results == 1)
			case FuncMax:
				g.maxs[k] = maxOf(g.maxs[k], x, g.results == 1)
			case FuncQuantile:
				g.vals[k] = append(g.vals[k], x)
			}
		}
	}
	return nil
}

func (b *bound) newGroup() *group {
	g := &group{}
	n := len(b.fields)
	switch {
	case b.over != nil:
		g.over = map[string][]Sum{}
	case b.spec.Func == FuncSum || b.spec.Func == FuncMean:
		g.sums = make([]Sum, n)
	case b.spec.Func == FuncMin:
		g.mins = make([]float64, n)
	case b.spec.Func == FuncMax:
		g.maxs = make([]float64, n)
	case b.spec.Func == FuncQuantile:
		g.vals = make([][]float64, n)
	}
	return g
}

// minOf and maxOf let a NaN win whatever the order, as math.Min does, and
// order -0 before 0.
func minOf(m, x float64, first bool) float64 {
	if first {
		return x
	}
	return math.Min(m, x)
}

func maxOf(m, x float64, first bool) float64 {
	if first {
		return x
	}
	return math.Max(m, x)
}

// Merge adds o's rows to s. o must be of the same Plan.
func (s *Set) Merge(o *Set) {
	for i, b := range s.plan.specs {
		for k, og := range o.groups[i] {
			g := s.groups[i][k]
			if g == nil {
				g = b.newGroup()
				s.groups[i][k] = g
			}
			g.merge(og, b)
		}
	}
}

func (g *group) merge(o *group, b *bound) {
	first := g.results == 0
	g.results += o.results
	g.dead += o.dead
	for k, sums := range o.over {
		mine := g.over[k]
		if mine == nil {
			mine = make([]Sum, len(b.fields))
			g.over[k] = mine
		}
		for j := range sums {
			mine[j].Merge(&sums[j])
		}
	}
	for j := range g.sums {
		g.sums[j].Merge(&o.sums[j])
	}
	if o.results > 0 {
		for j := range g.mins {
			g.mins[j] = minOf(g.mins[j], o.mins[j], first)
		}
		for j := range g.maxs {
			g.maxs[j] = maxOf(g.maxs[j], o.maxs[j], first)
		}
	}
	for j := range g.vals {
		g.vals[j] = append(g.vals[j], o.vals[j]...)
	}
}

// Output is one spec's rows, ready to write.
type Output struct {
	Spec *Spec
	// Keys are the by fields; Values the value columns (sum_value,
	// count, quantile_0_99_value). Every row has the key fields, the
	// values, then results and dead_letters.
	Keys, Values []string
	// KeyTypes are the by fields' types, for formats with a schema:
	// "string" (strings, enums by name, scenario ids), "bool", "int64",
	// "uint64" or "double".
	KeyTypes []string
	Rows     []OutputRow
}

// OutputRow is one group.
type OutputRow struct {
	// Key holds the by fields' values: string, bool, json.Number, or nil
	// for a value the group's rows did not have (a dead letter's result
	// field).
	Key []any
	// Values are nil where there is no value (the min of no results).
	Values      []*float64
	Results     int64
	DeadLetters int64
}

// Outputs returns every spec's rows, groups in the order of their keys.
func (s *Set) Outputs() []Output {
	out := make([]Output, len(s.plan.specs))
	for i, b := range s.plan.specs {
		o := Output{Spec: b.spec, Values: b.valueColumns()}
		for _, f := range b.by {
			o.Keys = append(o.Keys, f.name)
			o.KeyTypes = append(o.KeyTypes, keyType(f))
		}
		for _, k := range slices.Sorted(maps.Keys(s.groups[i])) {
			g := s.groups[i][k]
			d := json.NewDecoder(strings.NewReader(k))
			d.UseNumber()
			var key []any
			if err := d.Decode(&key); err != nil {
				panic(fmt.Sprintf("aggregate: group key %s: %v", k, err)) // built by Add or checked by UnmarshalBinary
			}
			o.Rows = append(o.Rows, OutputRow{Key: key, Values: b.values(g), Results: g.results, DeadLetters: g.dead})
		}
		out[i] = o
	}
	return out
}

// values computes a group's value columns.
func (b *bound) values(g *group) []*float64 {
	n := max(1, len(b.fields))
	out := make([]*float64, n)
	set := func(j int, x float64) { out[j] = &x }
	if b.over != nil {
		// The function applies across the over field's totals.
		keys := slices.Sorted(maps.Keys(g.over))
		if b.spec.Func == FuncCount {
			set(0, float64(len(keys)))
			return out
		}
		for j := range b.fields {
			totals := make([]float64, len(keys))
			for k, key := range keys {
				totals[k] = g.over[key][j].Value()
			}
			if v, ok := apply(b.spec, totals); ok {
				set(j, v)
			}
		}
		return out
	}
	for j := range n {
		switch b.spec.Func {
		case FuncCount:
			set(j, float64(g.results))
		case FuncSum:
			set(j, g.sums[j].Value())
		case FuncMean:
			if g.results > 0 {
				set(j, g.sums[j].Value()/float64(g.results))
			}
		case FuncMin:
			if g.results > 0 {
				set(j, g.mins[j])
			}
		case FuncMax:
			if g.results > 0 {
				set(j, g.maxs[j])
			}
		case FuncQuantile:
			if v, ok := quantile(g.vals[j], b.spec.Q); ok {
				set(j, v)
			}
		}
	}
	return out
}

// apply computes a function over totals (an over spec's).
func apply(sp *Spec, totals []float64) (float64, bool) {
	if len(totals) == 0 {
		return 0, sp.Func == FuncSum
	}
	switch sp.Func {
	case FuncSum, FuncMean:
		var s Sum
		for _, t := range totals {
			s.Add(t)
		}
		if sp.Func == FuncMean {
			return s.Value() / float64(len(totals)), true
		}
		return s.Value(), true
	case FuncMin:
		m := totals[0]
		for _, t := range totals[1:] {
			m = math.Min(m, t)
		}
		return m, true
	case FuncMax:
		m := totals[0]
		for _, t := range totals[1:] {
			m = math.Max(m, t)
		}
		return m, true
	case FuncQuantile:
		return quantile(totals, sp.Q)
	}
	return 0, false
}

// quantile is the q-quantile of xs by linear interpolation between the
// closest ranks (numpy's default, "type 7"): h = (n-1)q, then
// x[⌊h⌋] + (h-⌊h⌋)(x[⌊h⌋+1]-x[⌊h⌋]). It sorts xs.
func quantile(xs []float64, q float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	slices.Sort(xs)
	h := float64(len(xs)-1) * q
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(xs) {
		return xs[len(xs)-1], true
	}
	return xs[i] + (h-lo)*(xs[i+1]-xs[i]), true
}

func appendJSONString(b []byte, s string) ([]byte, error) {
	j, err := json.Marshal(s)
	return append(b, j...), err
}

// encoding version of MarshalBinary.
const encodingVersion = 1

// MarshalBinary encodes the Set compactly: per spec its text, then per
// group (in key order) its key, counts and accumulators, floats as their
// bits. The encoding is deterministic.
func (s *Set) MarshalBinary() ([]byte, error) {
	b := protowire.AppendVarint(nil, encodingVersion)
	b = protowire.AppendVarint(b, uint64(len(s.plan.specs)))
	for i, sp := range s.plan.specs {
		b = protowire.AppendString(b, sp.spec.Text)
		gs := s.groups[i]
		b = protowire.AppendVarint(b, uint64(len(gs)))
		for _, k := range slices.Sorted(maps.Keys(gs)) {
			g := gs[k]
			b = protowire.AppendString(b, k)
			b = protowire.AppendVarint(b, uint64(g.results))
			b = protowire.AppendVarint(b, uint64(g.dead))
			b = appendSums(b, g.sums)
			b = appendFloats(b, g.mins)
			b = appendFloats(b, g.maxs)
			b = protowire.AppendVarint(b, uint64(len(g.vals)))
			for _, v := range g.vals {
				b = appendFloats(b, v)
			}
			b = protowire.AppendVarint(b, uint64(len(g.over)))
			for _, ok := range slices.Sorted(maps.Keys(g.over)) {
				b = protowire.AppendString(b, ok)
				b = appendSums(b, g.over[ok])
			}
		}
	}
	return b, nil
}

func appendFloats(b []byte, fs []float64) []byte {
	b = protowire.AppendVarint(b, uint64(len(fs)))
	for _, f := range fs {
		b = protowire.AppendFixed64(b, math.Float64bits(f))
	}
	return b
}

func appendSums(b []byte, sums []Sum) []byte {
	b = protowire.AppendVarint(b, uint64(len(sums)))
	for _, s := range sums {
		b = appendFloats(b, s.partials)
		b = protowire.AppendFixed64(b, math.Float64bits(s.special))
		b = protowire.AppendFixed64(b, math.Float64bits(s.overflow))
	}
	return b
}

// Decode reads a Set that MarshalBinary encoded for the same specs.
func (p *Plan) Decode(data []byte) (*Set, error) {
	s := p.NewSet()
	d := &decoder{b: data}
	if v := d.varint(); v != encodingVersion && d.err == nil {
		return nil, fmt.Errorf("aggregate: encoding version %d, want %d", v, encodingVersion)
	}
	if n := d.varint(); int(n) != len(p.specs) && d.err == nil {
		return nil, fmt.Errorf("aggregate: %d specs encoded, the job has %d", n, len(p.specs))
	}
	for i, b := range p.specs {
		if text := d.str(); text != b.spec.Text && d.err == nil {
			return nil, fmt.Errorf("aggregate: spec %d encoded is %q, the job's is %q", i+1, text, b.spec.Text)
		}
		ng := d.varint()
		for range ng {
			if d.err != nil {
				break
			}
			k := d.str()
			if !json.Valid([]byte(k)) && d.err == nil {
				return nil, fmt.Errorf("aggregate: group key %q is not JSON", k)
			}
			g := b.newGroup()
			g.results, g.dead = int64(d.varint()), int64(d.varint())
			sums := d.sums()
			mins, maxs := d.floats(), d.floats()
			nv := d.varint()
			var vals [][]float64
			for range nv {
				if d.err != nil {
					break
				}
				vals = append(vals, d.floats())
			}
			no := d.varint()
			for range no {
				if d.err != nil {
					break
				}
				ok := d.str()
				g.over[ok] = d.sums()
				if len(g.over[ok]) != len(b.fields) && d.err == nil {
					d.err = errors.New("over totals of the wrong width")
				}
			}
			if d.err == nil && (len(sums) != len(g.sums) || len(mins) != len(g.mins) || len(maxs) != len(g.maxs) || len(vals) != len(g.vals)) {
				d.err = errors.New("accumulators of the wrong width")
			}
			if d.err != nil {
				break
			}
			copy(g.sums, sums)
			copy(g.mins, mins)
			copy(g.maxs, maxs)
			copy(g.vals, vals)
			s.groups[i][k] = g
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = errors.New("trailing bytes")
	}
	if d.err != nil {
		return nil, fmt.Errorf("aggregate: decode partial aggregates: %w", d.err)
	}
	return s, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errors.New("truncated or malformed")
	}
	d.b = nil
}

func (d *decoder) varint() uint64 {
	v, n := protowire.ConsumeVarint(d.b)
	if n < 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) fixed() float64 {
	v, n := protowire.ConsumeFixed64(d.b)
	if n < 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return math.Float64frombits(v)
}

func (d *decoder) str() string {
	v, n := protowire.ConsumeBytes(d.b)
	if n < 0 {
		d.fail()
		return ""
	}
	d.b = d.b[n:]
	return string(bytes.Clone(v))
}

func (d *decoder) floats() []float64 {
	n := d.varint()
	if n > uint64(len(d.b))/8 {
		d.fail()
		return nil
	}
	fs := make([]float64, n)
	for i := range fs {
		fs[i] = d.fixed()
	}
	return fs
}

func (d *decoder) sums() []Sum {
	n := d.varint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	sums := make([]Sum, n)
	for i := range sums {
		sums[i].partials = d.floats()
		sums[i].special = d.fixed()
		sums[i].overflow = d.fixed()
	}
	return sums
}
