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
	kind protoreflect.Kind
	name string // proto name, for output
	num  protowire.Number
	// presence: the field is written even when zero.
	presence bool
	// enums are the numbers of an enum field's value names.
	enums map[string]protoreflect.EnumNumber
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
		out[i] = flatField{fd: fd, kind: fd.Kind(), name: string(fd.Name()), num: fd.Number(), presence: fd.HasPresence()}
		if fd.Kind() == protoreflect.EnumKind {
			vals := fd.Enum().Values()
			out[i].enums = make(map[string]protoreflect.EnumNumber, vals.Len())
			for j := range vals.Len() {
				out[i].enums[string(vals.Get(j).Name())] = vals.Get(j).Number()
			}
		}
	}
	return out
}

// fastJSON decodes flat JSON-lines rows. Not safe for concurrent use: a
// decoder of JSON lines holds one per goroutine (see jsonlDecoder.fast).
type fastJSON struct {
	fields  []flatField
	byName  map[string]int // proto and JSON names -> index in fields
	idField string
	wanted  []string // names whose text the id and key need
	seen    []bool
	texts   []string // of wanted, for this row
	got     []bool
	// keys remembers what the key at each position of the last row was:
	// the rows of a file almost always name their fields in one order, so
	// one comparison usually replaces a map lookup and a search of wanted.
	keys []seenKey
	buf  []byte
	// payloads are copied out of buf into slab.
	payloads slab
	// interned are the texts of key fields met before: a join key takes
	// few values (underlyings, currencies) over millions of rows.
	interned map[string]string
}

// maxInterned and maxInternedLen bound the key texts remembered (at most
// 256 KiB of them); past them, texts are allocated as they come.
const (
	maxInterned    = 4096
	maxInternedLen = 64
)

// intern returns raw as a string, allocated only the first time.
func (f *fastJSON) intern(raw []byte) string {
	if len(raw) > maxInternedLen {
		return string(raw)
	}
	if s, ok := f.interned[string(raw)]; ok {
		return s
	}
	s := string(raw)
	if len(f.interned) < maxInterned {
		f.interned[s] = s
	}
	return s
}

type seenKey struct {
	name  string
	field int // index in fields, or -1
	want  int // index in wanted, or -1
}

func newFastJSON(desc protoreflect.MessageDescriptor, opts DecoderOptions) *fastJSON {
	fields := flatFields(desc, false)
	if fields == nil {
		return nil
	}
	f := &fastJSON{fields: fields, byName: map[string]int{}, idField: opts.IDField, seen: make([]bool, len(fields)), interned: map[string]string{}}
	for i, ff := range fields {
		f.byName[ff.name] = i
		f.byName[ff.fd.JSONName()] = i
	}
	f.wanted = []string{opts.IDField}
	if opts.Key != nil {
		f.wanted = append(f.wanted, opts.Key.Fields()...)
	}
	f.texts = make([]string, len(f.wanted))
	f.got = make([]bool, len(f.wanted))
	return f
}

// maxKeysRemembered bounds the key order remembered: rows wider than that
// are rare, and must not grow the memo without bound.
const maxKeysRemembered = 256

// keyAt returns what the key at position pos of a row is.
func (f *fastJSON) keyAt(pos int, key []byte) seenKey {
	if pos < len(f.keys) && f.keys[pos].name == string(key) {
		return f.keys[pos]
	}
	k := seenKey{field: -1, want: -1}
	if i, ok := f.byName[string(key)]; ok {
		k.field = i
	}
	for j, w := range f.wanted {
		if w == string(key) {
			k.want = j
			break
		}
	}
	switch {
	case pos < len(f.keys):
		k.name = string(key)
		f.keys[pos] = k
	case pos == len(f.keys) && pos < maxKeysRemembered:
		k.name = string(key)
		f.keys = append(f.keys, k)
	}
	return k
}

// text returns the text of a wanted name in the row decode last accepted.
func (f *fastJSON) text(name string) (string, bool) {
	for j, w := range f.wanted {
		if w == name {
			return f.texts[j], f.got[j]
		}
	}
	return "", false
}

// decode returns the row's payload, the text of the wanted names being
// left for text, or false to leave the row to the general path.
func (f *fastJSON) decode(line []byte, ignoreUnknown bool) ([]byte, bool) {
	clear(f.seen)
	clear(f.got)
	f.buf = f.buf[:0]
	s := jscan{b: line}
	if !s.next('{') {
		return nil, false
	}
	if s.peek() == '}' {
		s.i++
		return f.done(&s)
	}
	for pos := 0; ; pos++ {
		key, ok := s.plainString()
		if !ok || !s.next(':') {
			return nil, false
		}
		s.ws()
		start := s.i
		kind, ok := s.value()
		if !ok {
			return nil, false
		}
		raw := line[start:s.i]
		if kind == '"' {
			raw = raw[1 : len(raw)-1]
			if !plainText(raw) {
				return nil, false
			}
		}
		k := f.keyAt(pos, key)
		switch {
		case k.want < 0 || kind == 'n' || kind == '{' || kind == '[':
		case k.want == 0: // the id: every row's is new
			f.texts[0], f.got[0] = string(raw), true
		default:
			f.texts[k.want], f.got[k.want] = f.intern(raw), true
		}
		i := k.field
		switch {
		case i < 0 && (ignoreUnknown || string(key) == f.idField):
		case i < 0, f.seen[i], kind == '{', kind == '[':
			return nil, false
		case kind == 'n': // null: unset
			f.seen[i] = true
		default:
			f.seen[i] = true
			if !f.append(&f.fields[i], raw, kind) {
				return nil, false
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
			return nil, false
		}
	}
}

func (f *fastJSON) done(s *jscan) ([]byte, bool) {
	if s.ws(); s.i != len(s.b) {
		return nil, false
	}
	return f.payloads.copy(f.buf), true
}

// append encodes one field from its JSON text; kind is the JSON token: '"'
// for a string (raw is its contents), '0' for a number, 't' or 'f'.
func (f *fastJSON) append(ff *flatField, raw []byte, kind byte) bool {
	if kind == 't' || kind == 'f' {
		if ff.kind != protoreflect.BoolKind && ff.kind != protoreflect.StringKind {
			return false
		}
	}
	if ff.kind == protoreflect.StringKind {
		if len(raw) == 0 && !ff.presence {
			return true
		}
		f.buf = protowire.AppendTag(f.buf, ff.num, protowire.BytesType)
		f.buf = protowire.AppendBytes(f.buf, raw)
		return true
	}
	v, ok := scalar(ff, raw)
	if !ok {
		return false
	}
	var zero bool
	switch ff.kind {
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

// scalar parses a value as parseScalar does, but without the copy of raw
// that parseScalar's messages cost (its string escapes into them): the
// fast path only needs to know that a value does not parse. Numbers and
// enum names, the common cases, are parsed here; the rest by parseScalar.
func scalar(ff *flatField, raw []byte) (protoreflect.Value, bool) {
	switch ff.kind {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := parseInt(string(raw), 32)
		return protoreflect.ValueOfInt32(int32(n)), err == nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := parseInt(string(raw), 64)
		return protoreflect.ValueOfInt64(n), err == nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := parseUint(string(raw), 32)
		return protoreflect.ValueOfUint32(uint32(n)), err == nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := parseUint(string(raw), 64)
		return protoreflect.ValueOfUint64(n), err == nil
	case protoreflect.FloatKind:
		x, err := parseFloat(string(raw), 32)
		return protoreflect.ValueOfFloat32(float32(x)), err == nil
	case protoreflect.DoubleKind:
		x, err := parseFloat(string(raw), 64)
		return protoreflect.ValueOfFloat64(x), err == nil
	case protoreflect.EnumKind:
		if n, ok := ff.enums[string(raw)]; ok {
			return protoreflect.ValueOfEnum(n), true
		}
	}
	v, err := parseScalar(ff.fd, string(raw))
	return v, err == nil
}

// plainText reports a JSON string's contents that mean themselves: valid
// UTF-8, no escapes, no control characters.
func plainText(b []byte) bool {
	ascii := true
	for _, c := range b {
		if c < ' ' || c == '\\' {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	return ascii || utf8.Valid(b)
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
	ascii := true
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return s.b[start:j], ascii || utf8.Valid(s.b[start:j])
		case c == '\\' || c < ' ':
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
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
		if typ != wireType(fields[i].kind) {
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
		switch fields[i].kind {
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
	// Ids and short texts are nearly always printable ASCII, which is
	// copied as it is; the rest is read rune by rune.
	plain := 0
	for plain < len(s) && ' ' <= s[plain] && s[plain] < utf8.RuneSelf && s[plain] != '"' && s[plain] != '\\' {
		plain++
	}
	out = append(out, s[:plain]...)
	for i := plain; i < len(s); {
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
