package codec

import (
	"encoding/base64"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The fast paths below handle the common case of cheap elements — flat
// messages of scalar fields, JSON lines in, JSON lines out — without the
// reflection, maps and allocations of the general code, which costs more
// than a Black-Scholes price per element. They only ever answer for input
// the general path accepts, and must produce what it produces: on anything
// else (an escape, a nested value, a repeated field, a bad value) they
// decline, and the general path does the work and reports the error. The
// differential tests in fast_test.go hold them to that.

// flatField is a singular scalar or enum field the fast paths handle.
type flatField struct {
	fd   protoreflect.FieldDescriptor
	name string // proto name, for output
	num  protowire.Number
	// presence: the field is written even when zero.
	presence bool
}

// flatFields indexes the fields of desc if all of them are singular
// scalars or enums outside oneofs (and, with noPresence, without presence,
// whose JSON rendering depends on defaults); otherwise it returns nil.
func flatFields(desc protoreflect.MessageDescriptor, noPresence bool) []flatField {
	fs := desc.Fields()
	out := make([]flatField, fs.Len())
	for i := range fs.Len() {
		fd := fs.Get(i)
		if fd.IsList() || fd.IsMap() || fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind ||
			fd.ContainingOneof() != nil || fd.Cardinality() == protoreflect.Required || noPresence && fd.HasPresence() {
			return nil
		}
		out[i] = flatField{fd: fd, name: string(fd.Name()), num: fd.Number(), presence: fd.HasPresence()}
	}
	return out
}

// fastJSON decodes flat JSON-lines rows. Not safe for concurrent use: a
// Decoder holds one per goroutine (see Decoder.fast).
type fastJSON struct {
	fields  []flatField
	byName  map[string]int // proto and JSON names -> index in fields
	idField string
	wanted  []string // names whose text the id and key need
	seen    []bool
	texts   map[string]string
	buf     []byte
}

func newFastJSON(desc protoreflect.MessageDescriptor, opts DecoderOptions) *fastJSON {
	fields := flatFields(desc, false)
	if fields == nil {
		return nil
	}
	f := &fastJSON{fields: fields, byName: map[string]int{}, idField: opts.IDField, seen: make([]bool, len(fields)), texts: map[string]string{}}
	for i, ff := range fields {
		f.byName[ff.name] = i
		f.byName[ff.fd.JSONName()] = i
	}
	f.wanted = []string{opts.IDField}
	if opts.Key != nil {
		f.wanted = append(f.wanted, opts.Key.Fields()...)
	}
	return f
}

// decode returns the row's payload and the text of the wanted names, or
// false to leave the row to the general path.
func (f *fastJSON) decode(line []byte, ignoreUnknown bool) ([]byte, map[string]string, bool) {
	clear(f.seen)
	clear(f.texts)
	f.buf = f.buf[:0]
	s := jscan{b: line}
	if !s.next('{') {
		return nil, nil, false
	}
	if s.peek() == '}' {
		s.i++
		return f.done(&s)
	}
	for {
		key, ok := s.plainString()
		if !ok || !s.next(':') {
			return nil, nil, false
		}
		s.ws()
		start := s.i
		kind, ok := s.value()
		if !ok {
			return nil, nil, false
		}
		raw := line[start:s.i]
		if kind == '"' {
			raw = raw[1 : len(raw)-1]
			if !plainText(raw) {
				return nil, nil, false
			}
		}
		for _, w := range f.wanted {
			if w == string(key) && kind != 'n' && kind != '{' && kind != '[' {
				f.texts[w] = string(raw)
			}
		}
		i, known := f.byName[string(key)]
		switch {
		case !known && (ignoreUnknown || string(key) == f.idField):
		case !known, f.seen[i], kind == '{', kind == '[':
			return nil, nil, false
		case kind == 'n': // null: unset
			f.seen[i] = true
		default:
			f.seen[i] = true
			if !f.append(&f.fields[i], raw, kind) {
				return nil, nil, false
			}
		}
		switch s.ws(); s.peek() {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			return f.done(&s)
		default:
			return nil, nil, false
		}
	}
}

func (f *fastJSON) done(s *jscan) ([]byte, map[string]string, bool) {
	if s.ws(); s.i != len(s.b) {
		return nil, nil, false
	}
	return append([]byte(nil), f.buf...), f.texts, true
}

// append encodes one field from its JSON text; kind is the JSON token: '"'
// for a string (raw is its contents), '0' for a number, 't' or 'f'.
func (f *fastJSON) append(ff *flatField, raw []byte, kind byte) bool {
	fd := ff.fd
	if kind == 't' || kind == 'f' {
		if fd.Kind() != protoreflect.BoolKind && fd.Kind() != protoreflect.StringKind {
			return false
		}
	}
	if fd.Kind() == protoreflect.StringKind {
		if len(raw) == 0 && !ff.presence {
			return true
		}
		f.buf = protowire.AppendTag(f.buf, ff.num, protowire.BytesType)
		f.buf = protowire.AppendBytes(f.buf, raw)
		return true
	}
	v, err := parseScalar(fd, string(raw))
	if err != nil {
		return false
	}
	var zero bool
	switch fd.Kind() {
	case protoreflect.BoolKind:
		zero = !v.Bool()
		if !zero || ff.presence {
			f.buf = protowire.AppendTag(f.buf, ff.num, protowire.VarintType)
			f.buf = protowire.AppendVarint(f.buf, protowire.EncodeBool(v.Bool()))
		}
	case protoreflect.EnumKind:
		zero = v.Enum() == 0
		if !zero || ff.presence {
			f.buf = protowire.AppendTag(f.buf, ff.num, protowire.VarintType)
			f.buf = protowire.AppendVarint(f.buf, uint64(v.Enum()))
		}
	case protoreflect.Int32Kind, protoreflect.Int64Kind:
		if v.Int() != 0 || ff.presence {
			f.buf = protowire.AppendTag(f.buf, ff.num, protowire.VarintType)
			f.buf = protowire.AppendVarint(f.buf, uint64(v.Int()))
		}
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		if v.Int() != 0 || ff.presence {
			f.buf = protowire.AppendTag(f.buf, ff.num, protowire.VarintType)
			f.buf = protowire.AppendVarint(f.buf, protowire.EncodeZigZag(v.Int()))
		}
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind:
		if v.Uint() != 0 || ff.presence {
			f.buf = protowire.AppendTag(f.buf, ff.num, protowire.VarintType)
			f.buf = protowire.AppendVarint(f.buf, v.Uint())
		}
	case protoreflect.Sfixed32Kind:
		if v.Int() != 0 || ff.presence {
			f.buf = protowire.AppendTag(f.buf, ff.num, protowire.Fixed32Type)
			f.buf = protowire.AppendFixed32(f.buf, uint32(v.Int()))
		}
	case protoreflect.Fixed32Kind:
		if v.Uint() != 0 || ff.presence {
			f.buf = protowire.AppendTag(f.buf, ff.num, protowire.Fixed32Type)
			f.buf = protowire.AppendFixed32(f.buf, uint32(v.Uint()))
		}
	case protoreflect.Sfixed64Kind:
		if v.Int() != 0 || ff.presence {
			f.buf = protowire.AppendTag(f.buf, ff.num, protowire.Fixed64Type)
			f.buf = protowire.AppendFixed64(f.buf, uint64(v.Int()))
		}
	case protoreflect.Fixed64Kind:
		if v.Uint() != 0 || ff.presence {
			f.buf = protowire.AppendTag(f.buf, ff.num, protowire.Fixed64Type)
			f.buf = protowire.AppendFixed64(f.buf, v.Uint())
		}
	case protoreflect.FloatKind:
		// -0 is not zero: proto3 writes it.
		if b := math.Float32bits(float32(v.Float())); b != 0 || ff.presence {
			f.buf = protowire.AppendTag(f.buf, ff.num, protowire.Fixed32Type)
			f.buf = protowire.AppendFixed32(f.buf, b)
		}
	case protoreflect.DoubleKind:
		if b := math.Float64bits(v.Float()); b != 0 || ff.presence {
			f.buf = protowire.AppendTag(f.buf, ff.num, protowire.Fixed64Type)
			f.buf = protowire.AppendFixed64(f.buf, b)
		}
	case protoreflect.BytesKind:
		if len(v.Bytes()) > 0 || ff.presence {
			f.buf = protowire.AppendTag(f.buf, ff.num, protowire.BytesType)
			f.buf = protowire.AppendBytes(f.buf, v.Bytes())
		}
	default:
		return false
	}
	return true
}

// plainText reports a JSON string's contents that mean themselves: valid
// UTF-8, no escapes, no control characters.
func plainText(b []byte) bool {
	for _, c := range b {
		if c < ' ' || c == '\\' {
			return false
		}
	}
	return utf8.Valid(b)
}

// jscan is a minimal scanner of one JSON object. It accepts only what
// encoding/json accepts; anything it is not sure of, it rejects.
type jscan struct {
	b []byte
	i int
}

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jscan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// next skips white space and c.
func (s *jscan) next(c byte) bool {
	s.ws()
	if s.peek() != c {
		return false
	}
	s.i++
	return true
}

// plainString reads a string without escapes and returns its contents.
func (s *jscan) plainString() ([]byte, bool) {
	s.ws()
	if s.peek() != '"' {
		return nil, false
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return s.b[start:j], plainText(s.b[start:j])
		case c == '\\' || c < ' ':
			return nil, false
		}
	}
	return nil, false
}

// value skips one value and returns its kind: '"', '0' (a number), 't',
// 'f', 'n' (null), '{' or '['.
func (s *jscan) value() (byte, bool) {
	switch c := s.peek(); {
	case c == '"':
		return '"', s.skipString()
	case c == '-' || '0' <= c && c <= '9':
		return '0', s.number()
	case c == 't':
		return 't', s.literal("true")
	case c == 'f':
		return 'f', s.literal("false")
	case c == 'n':
		return 'n', s.literal("null")
	case c == '{' || c == '[':
		return c, s.skipComposite()
	}
	return 0, false
}

func (s *jscan) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

func (s *jscan) skipString() bool {
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return true
		case c == '\\':
			j++ // the escaped character cannot end the string
		case c < ' ':
			return false
		}
	}
	return false
}

// number checks the JSON number grammar, stricter than strconv:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jscan) number() bool {
	b, i := s.b, s.i
	digits := func() int {
		n := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	s.i = i
	return true
}

// skipComposite skips an object or array, strings and nesting included;
// the general path parses what is inside.
func (s *jscan) skipComposite() bool {
	depth := 0
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				s.i++
				return true
			}
		case '"':
			if !s.skipString() {
				return false
			}
			continue
		}
		s.i++
	}
	return false
}

// appendFlatResult renders the wire-format payload of a flat message as
// protojson does with UseProtoNames and EmitUnpopulated, compact: fields in
// declaration order, unset ones as zero values, 64-bit integers as strings,
// enums by name. It declines (false) on anything it does not handle.
func appendFlatResult(dst []byte, fields []flatField, payload []byte) ([]byte, bool) {
	var vals [64]uint64
	var bytesVals [64][]byte
	var set [64]bool
	if len(fields) > len(vals) {
		return dst, false
	}
	for len(payload) > 0 {
		num, typ, n := protowire.ConsumeTag(payload)
		if n < 0 {
			return dst, false
		}
		payload = payload[n:]
		i := indexOfNumber(fields, num)
		if i < 0 {
			n = protowire.ConsumeFieldValue(num, typ, payload)
			if n < 0 {
				return dst, false
			}
			payload = payload[n:]
			continue
		}
		if typ != wireType(fields[i].fd.Kind()) {
			return dst, false
		}
		switch typ {
		case protowire.VarintType:
			vals[i], n = protowire.ConsumeVarint(payload)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(payload)
			vals[i] = uint64(v)
		case protowire.Fixed64Type:
			vals[i], n = protowire.ConsumeFixed64(payload)
		case protowire.BytesType:
			bytesVals[i], n = protowire.ConsumeBytes(payload)
		default:
			return dst, false
		}
		if n < 0 {
			return dst, false
		}
		set[i] = true
		payload = payload[n:]
	}
	dst = append(dst, '{')
	open := len(dst)
	for i := range fields {
		fd := fields[i].fd
		if len(dst) > open+1 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, fields[i].name...)
		dst = append(dst, '"', ':')
		v := vals[i]
		switch fd.Kind() {
		case protoreflect.BoolKind:
			dst = strconv.AppendBool(dst, v != 0)
		case protoreflect.Int32Kind:
			dst = strconv.AppendInt(dst, int64(int32(v)), 10)
		case protoreflect.Sint32Kind:
			dst = strconv.AppendInt(dst, int64(int32(protowire.DecodeZigZag(v&math.MaxUint32))), 10)
		case protoreflect.Sfixed32Kind:
			dst = strconv.AppendInt(dst, int64(int32(uint32(v))), 10)
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
			dst = strconv.AppendUint(dst, uint64(uint32(v)), 10)
		case protoreflect.Int64Kind, protoreflect.Sfixed64Kind:
			dst = append(strconv.AppendInt(append(dst, '"'), int64(v), 10), '"')
		case protoreflect.Sint64Kind:
			dst = append(strconv.AppendInt(append(dst, '"'), protowire.DecodeZigZag(v), 10), '"')
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			dst = append(strconv.AppendUint(append(dst, '"'), v, 10), '"')
		case protoreflect.FloatKind:
			dst = appendJSONFloat(dst, float64(math.Float32frombits(uint32(v))), 32)
		case protoreflect.DoubleKind:
			dst = appendJSONFloat(dst, math.Float64frombits(v), 64)
		case protoreflect.StringKind:
			if !utf8.Valid(bytesVals[i]) {
				return dst, false
			}
			dst = appendJSONString(dst, string(bytesVals[i]))
		case protoreflect.BytesKind:
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, bytesVals[i])
			dst = append(dst, '"')
		case protoreflect.EnumKind:
			if ev := fd.Enum().Values().ByNumber(protoreflect.EnumNumber(int32(v))); ev != nil {
				dst = append(append(append(dst, '"'), ev.Name()...), '"')
			} else {
				dst = strconv.AppendInt(dst, int64(int32(v)), 10)
			}
		default:
			return dst, false
		}
	}
	return append(dst, '}'), true
}

func indexOfNumber(fields []flatField, num protowire.Number) int {
	for i := range fields {
		if fields[i].num == num {
			return i
		}
	}
	return -1
}

func wireType(k protoreflect.Kind) protowire.Type {
	switch k {
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	case protoreflect.StringKind, protoreflect.BytesKind:
		return protowire.BytesType
	}
	return protowire.VarintType
}

// appendJSONFloat formats a float as protojson does: a JSON number, or a
// string for NaN and the infinities.
func appendJSONFloat(out []byte, n float64, bitSize int) []byte {
	switch {
	case math.IsNaN(n):
		return append(out, `"NaN"`...)
	case math.IsInf(n, +1):
		return append(out, `"Infinity"`...)
	case math.IsInf(n, -1):
		return append(out, `"-Infinity"`...)
	}
	format := byte('f')
	if abs := math.Abs(n); abs != 0 {
		if bitSize == 64 && (abs < 1e-6 || abs >= 1e21) ||
			bitSize == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	out = strconv.AppendFloat(out, n, format, -1, bitSize)
	if format == 'e' {
		n := len(out)
		if n >= 4 && out[n-4] == 'e' && out[n-3] == '-' && out[n-2] == '0' {
			out[n-2] = out[n-1]
			out = out[:n-1]
		}
	}
	return out
}

// appendJSONString quotes s as protojson does: no HTML escaping, control
// characters escaped; invalid UTF-8 becomes U+FFFD.
func appendJSONString(out []byte, s string) []byte {
	out = append(out, '"')
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			out = append(out, "\ufffd"...)
		case r == '"' || r == '\\':
			out = append(out, '\\', byte(r))
		case r < ' ':
			out = append(out, '\\')
			switch r {
			case '\b':
				out = append(out, 'b')
			case '\f':
				out = append(out, 'f')
			case '\n':
				out = append(out, 'n')
			case '\r':
				out = append(out, 'r')
			case '\t':
				out = append(out, 't')
			default:
				out = append(out, 'u')
				out = append(out, "0000"[1+(bits.Len32(uint32(r))-1)/4:]...)
				out = strconv.AppendUint(out, uint64(r), 16)
			}
		default:
			out = append(out, s[i:i+n]...)
		}
		i += n
	}
	return append(out, '"')
}
