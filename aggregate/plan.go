package aggregate

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Schema is what specs are bound against: the binary's messages, and
// whether the job has scenarios.
type Schema struct {
	Result protoreflect.MessageDescriptor
	Input  protoreflect.MessageDescriptor
	// Scenarios makes "scenario" name a result's scenario id. Without
	// scenarios, "scenario" is a field name like any other.
	Scenarios bool
}

// FieldError is a spec naming a field that does not exist, or one that
// cannot serve where it is named (a string summed, a repeated field).
type FieldError struct {
	Spec    string
	Field   string
	Problem string
	// Fields lists what exists, for the message.
	Fields string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("--aggregate %q: field %s: %s; %s", e.Spec, e.Field, e.Problem, e.Fields)
}

// Where a field's value comes from.
const (
	fromResult = iota
	fromInput
	fromScenario
)

type ref struct {
	name string
	src  int
	fd   protoreflect.FieldDescriptor
	slot int // in its message's extractor
}

// bound is a spec with its fields resolved.
type bound struct {
	spec   *Spec
	fields []ref
	over   *ref
	by     []ref
}

// Plan is a list of specs bound to a Schema: what a Set accumulates.
type Plan struct {
	specs  []*bound
	result extractor
	input  extractor
}

// Compile parses specs and binds them to s. A spec that does not parse is
// a *SyntaxError; one naming a field that does not exist, or a field
// that is not numeric where a number is wanted, a *FieldError.
func Compile(specs []string, s Schema) (*Plan, error) {
	p := &Plan{}
	p.result.desc, p.input.desc = s.Result, s.Input
	for _, text := range specs {
		sp, err := Parse(text)
		if err != nil {
			return nil, err
		}
		b := &bound{spec: sp}
		for _, f := range sp.Fields {
			r, err := p.resolve(sp, f, s, true)
			if err != nil {
				return nil, err
			}
			b.fields = append(b.fields, r)
		}
		if sp.Over != "" {
			r, err := p.resolve(sp, sp.Over, s, false)
			if err != nil {
				return nil, err
			}
			b.over = &r
		}
		for _, f := range sp.By {
			r, err := p.resolve(sp, f, s, false)
			if err != nil {
				return nil, err
			}
			b.by = append(b.by, r)
		}
		// Every column of the output row has a name of its own.
		seen := map[string]bool{}
		var cols []string
		for _, r := range b.by {
			cols = append(cols, r.name)
		}
		for _, c := range append(append(cols, b.valueColumns()...), "results", "dead_letters") {
			if seen[c] {
				return nil, &FieldError{Spec: text, Field: c, Problem: "named twice among the output's columns (the by fields, the values, results and dead_letters)",
					Fields: "give each field once"}
			}
			seen[c] = true
		}
		p.specs = append(p.specs, b)
	}
	return p, nil
}

// Specs returns the parsed specs, in order.
func (p *Plan) Specs() []*Spec {
	out := make([]*Spec, len(p.specs))
	for i, b := range p.specs {
		out[i] = b.spec
	}
	return out
}

// NeedsInput reports whether a spec reads the element's input message.
func (p *Plan) NeedsInput() bool { return len(p.input.fds) > 0 }

// resolve finds a field: "scenario" (with scenarios), a result field, an
// input field, in that order; "result.F" and "input.F" name one message.
func (p *Plan) resolve(sp *Spec, name string, s Schema, numeric bool) (ref, error) {
	if name == ScenarioField && s.Scenarios {
		if numeric {
			return ref{}, p.fieldError(sp, name, "the scenario id is not a number", s)
		}
		return ref{name: name, src: fromScenario}, nil
	}
	srcs := []int{fromResult, fromInput}
	short := name
	if rest, ok := strings.CutPrefix(name, "result."); ok {
		srcs, short = []int{fromResult}, rest
	} else if rest, ok := strings.CutPrefix(name, "input."); ok {
		srcs, short = []int{fromInput}, rest
	}
	for _, src := range srcs {
		x := &p.result
		if src == fromInput {
			x = &p.input
		}
		if x.desc == nil {
			continue
		}
		fd := x.desc.Fields().ByName(protoreflect.Name(short))
		if fd == nil {
			continue
		}
		switch {
		case fd.Cardinality() == protoreflect.Repeated:
			return ref{}, p.fieldError(sp, name, "a repeated field has no single value", s)
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind || fd.Kind() == protoreflect.BytesKind:
			return ref{}, p.fieldError(sp, name, fmt.Sprintf("a %s field cannot be aggregated or grouped by", fd.Kind()), s)
		case numeric && !isNumeric(fd.Kind()):
			return ref{}, p.fieldError(sp, name, fmt.Sprintf("%s wants a number, and %s is a %s", sp.Func, fd.FullName(), kindName(fd)), s)
		}
		return ref{name: short, src: src, fd: fd, slot: x.want(fd)}, nil
	}
	return ref{}, p.fieldError(sp, name, "no such field", s)
}

func (p *Plan) fieldError(sp *Spec, name, problem string, s Schema) error {
	var have []string
	list := func(what string, md protoreflect.MessageDescriptor) {
		if md == nil {
			return
		}
		var names []string
		for i := range md.Fields().Len() {
			fd := md.Fields().Get(i)
			names = append(names, fmt.Sprintf("%s (%s)", fd.Name(), kindName(fd)))
		}
		have = append(have, fmt.Sprintf("%s fields (%s): %s", what, md.FullName(), strings.Join(names, ", ")))
	}
	list("result", s.Result)
	list("input", s.Input)
	if s.Scenarios {
		have = append(have, "and scenario (the scenario id)")
	} else {
		have = append(have, "and no scenario (the job has no --scenarios)")
	}
	return &FieldError{Spec: sp.Text, Field: name, Problem: problem, Fields: strings.Join(have, "; ")}
}

func kindName(fd protoreflect.FieldDescriptor) string {
	if fd.Cardinality() == protoreflect.Repeated {
		return "repeated " + fd.Kind().String()
	}
	return fd.Kind().String()
}

func isNumeric(k protoreflect.Kind) bool {
	switch k {
	case protoreflect.DoubleKind, protoreflect.FloatKind,
		protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Uint32Kind, protoreflect.Uint64Kind,
		protoreflect.Sint32Kind, protoreflect.Sint64Kind,
		protoreflect.Fixed32Kind, protoreflect.Fixed64Kind, protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind:
		return true
	}
	return false
}

// valueColumns names the output's value columns of the spec: sum_value,
// count, quantile_0_99_value.
func (b *bound) valueColumns() []string {
	if b.spec.Func == FuncCount {
		return []string{"count"}
	}
	prefix := b.spec.Func
	if b.spec.Func == FuncQuantile {
		prefix += "_" + strings.ReplaceAll(strconv.FormatFloat(b.spec.Q, 'f', -1, 64), ".", "_")
	}
	cols := make([]string, len(b.fields))
	for i, f := range b.spec.Fields {
		cols[i] = prefix + "_" + strings.ReplaceAll(f, ".", "_")
	}
	return cols
}

// extractor reads the fields a plan wants from a message's wire bytes,
// without decoding the message: the sink reads every result, and a
// dynamic message per result would cost more than the rest of its work.
type extractor struct {
	desc protoreflect.MessageDescriptor
	fds  []protoreflect.FieldDescriptor
	// slots maps a field number to its slot + 1.
	slots map[protowire.Number]int
}

func (x *extractor) want(fd protoreflect.FieldDescriptor) int {
	if i := slices.Index(x.fds, fd); i >= 0 {
		return i
	}
	if x.slots == nil {
		x.slots = map[protowire.Number]int{}
	}
	x.fds = append(x.fds, fd)
	x.slots[fd.Number()] = len(x.fds)
	return len(x.fds) - 1
}

// val is one field's value: its raw wire value (a varint, fixed32 or
// fixed64) or, for a string, the string.
type val struct {
	set bool
	raw uint64
	s   string
}

// read fills vals (one per wanted field) from b. A field absent from b
// takes its default, as a decoded message would show it. It reports
// whether b is well formed.
func (x *extractor) read(b []byte, vals []val) bool {
	for i := range vals {
		vals[i] = val{}
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		slot := x.slots[num] - 1
		if slot < 0 {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return false
			}
			b = b[n:]
			continue
		}
		v := &vals[slot]
		switch typ {
		case protowire.VarintType:
			v.raw, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			v.raw, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var u uint32
			u, n = protowire.ConsumeFixed32(b)
			v.raw = uint64(u)
		case protowire.BytesType:
			var s []byte
			s, n = protowire.ConsumeBytes(b)
			v.s = string(s)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return false
		}
		v.set = true
		b = b[n:]
	}
	for i, fd := range x.fds {
		if !vals[i].set {
			vals[i] = defaultVal(fd)
		}
	}
	return true
}

func defaultVal(fd protoreflect.FieldDescriptor) val {
	d := fd.Default()
	v := val{set: true}
	switch fd.Kind() {
	case protoreflect.StringKind:
		v.s = d.String()
	case protoreflect.BoolKind:
		if d.Bool() {
			v.raw = 1
		}
	case protoreflect.EnumKind:
		v.raw = uint64(int64(d.Enum()))
	case protoreflect.DoubleKind:
		v.raw = math.Float64bits(d.Float())
	case protoreflect.FloatKind:
		v.raw = uint64(math.Float32bits(float32(d.Float())))
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind:
		v.raw = uint64(d.Int())
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		v.raw = protowire.EncodeZigZag(d.Int())
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		v.raw = d.Uint()
	}
	return v
}

// number returns a numeric field's value as a float64 (integers beyond
// 2⁵³ round).
func number(fd protoreflect.FieldDescriptor, v val) float64 {
	switch fd.Kind() {
	case protoreflect.DoubleKind:
		return math.Float64frombits(v.raw)
	case protoreflect.FloatKind:
		return float64(math.Float32frombits(uint32(v.raw)))
	case protoreflect.Int32Kind, protoreflect.Sfixed32Kind:
		return float64(int32(v.raw))
	case protoreflect.Int64Kind, protoreflect.Sfixed64Kind:
		return float64(int64(v.raw))
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return float64(protowire.DecodeZigZag(v.raw))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return float64(uint32(v.raw))
	}
	return float64(v.raw)
}

// appendKey appends a field's value as a JSON value: the group key is a
// JSON array of them, and the output row's key fields are parsed back
// from it.
func appendKey(b []byte, fd protoreflect.FieldDescriptor, v val) []byte {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return strconv.AppendQuote(b, v.s)
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.raw != 0)
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(protoreflect.EnumNumber(int32(v.raw))); ev != nil {
			return strconv.AppendQuote(b, string(ev.Name()))
		}
		return strconv.AppendInt(b, int64(int32(v.raw)), 10)
	case protoreflect.Int32Kind, protoreflect.Sfixed32Kind:
		return strconv.AppendInt(b, int64(int32(v.raw)), 10)
	case protoreflect.Int64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(b, int64(v.raw), 10)
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return strconv.AppendInt(b, protowire.DecodeZigZag(v.raw), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(b, uint64(uint32(v.raw)), 10)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, v.raw, 10)
	}
	f := number(fd, v)
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.AppendQuote(b, strconv.FormatFloat(f, 'g', -1, 64))
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

func keyType(f ref) string {
	if f.src == fromScenario {
		return "string"
	}
	switch f.fd.Kind() {
	case protoreflect.StringKind, protoreflect.EnumKind:
		return "string"
	case protoreflect.BoolKind:
		return "bool"
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		return "double"
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		return "uint64"
	}
	return "int64"
}
