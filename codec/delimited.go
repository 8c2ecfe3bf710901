package codec

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Delimited protobuf: each record the input message, serialized, after its
// length as a varint. The records go to the binary as they are.
func init() {
	RegisterFormat(Delimited, InputFormat{
		Exts: []string{".pb", ".binpb"},
		Gzip: true,
		NewReader: func(r io.Reader, name string) (Reader, error) {
			return &pbReader{name: name, br: bufio.NewReaderSize(r, readBuffer)}, nil
		},
		NewReaderAt: func(_, body io.Reader, name string, at Split) (SplitReader, error) {
			return &pbReader{name: name, br: bufio.NewReaderSize(body, readBuffer), index: at.Row, off: at.Offset}, nil
		},
		NewDecoder:  newPBDecoder,
		ElementJSON: pbElement,
		CountRows:   countDelimited,
	})
}

type pbReader struct {
	name  string
	br    *bufio.Reader
	index int64
	off   int64
}

func (r *pbReader) Name() string     { return r.name }
func (r *pbReader) Header() []string { return nil }
func (r *pbReader) Offset() int64    { return r.off }

// Next: a record's length prefix, found by the prefixes before it.
func (r *pbReader) Next() (Split, bool) {
	return Split{Offset: r.off, Row: r.index, Line: r.index}, true
}

func (r *pbReader) Read() (Row, error) {
	prefix := &countingByteReader{br: r.br}
	size, err := binary.ReadUvarint(prefix)
	if err == io.EOF {
		return Row{}, io.EOF
	}
	if err != nil {
		return Row{}, fmt.Errorf("%s: record %d at byte %d: bad length prefix: %w", r.name, r.index+1, r.off, err)
	}
	if size > MaxRowSize {
		return Row{}, fmt.Errorf("%s: record %d at byte %d: length %d exceeds %d bytes", r.name, r.index+1, r.off, size, MaxRowSize)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r.br, data); err != nil {
		return Row{}, fmt.Errorf("%s: record %d at byte %d: truncated: %w", r.name, r.index+1, r.off, err)
	}
	r.off += prefix.n + int64(size)
	row := Row{Index: r.index, Line: r.index + 1, Data: data}
	r.index++
	return row, nil
}

// countingByteReader counts the bytes of a length prefix: a varint need not
// be in its shortest form, so its value does not tell its length.
type countingByteReader struct {
	br *bufio.Reader
	n  int64
}

func (c *countingByteReader) ReadByte() (byte, error) {
	b, err := c.br.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// pbDecoder reads the id and key of records passed through untouched.
type pbDecoder struct {
	b    *ElementBuilder
	idFD protoreflect.FieldDescriptor
	// splice reads a flat message's id and key straight from its wire
	// bytes; nil when the message is not flat.
	splice *pbSplice
}

func newPBDecoder(b *ElementBuilder, _ Reader) (RowDecoder, error) {
	d := &pbDecoder{b: b, idFD: b.fields.Lookup(b.opts.IDField)}
	if d.idFD == nil {
		msg := b.fields.Desc()
		return nil, fmt.Errorf("%s: id field %q is not a field of %s (fields: %s)", b.name, b.opts.IDField, msg.FullName(), fieldList(msg))
	}
	d.splice = newPBSplice(b)
	return d, b.CheckKey()
}

func (d *pbDecoder) Decode(row Row) (Element, error) {
	data := row.Data
	if d.splice != nil {
		if e, ok := d.splice.decode(data); ok {
			return e, nil
		}
		// Declined: the general path decodes the record, or says what
		// is wrong with it.
	}
	m := dynamicpb.NewMessage(d.b.fields.Desc())
	if err := proto.Unmarshal(data, m); err != nil {
		return Element{}, fmt.Errorf("not a %s: %v", d.b.fields.Desc().FullName(), err)
	}
	e, err := d.b.Identify(func(name string) (string, bool) {
		fd := d.b.fields.Lookup(name)
		if fd == nil || !m.Has(fd) {
			return "", false
		}
		return FieldText(m, fd)
	})
	e.Payload = data // passed through untouched
	return e, err
}

// pbSplice is the fast path of delimited records of a flat message: it
// walks the record's wire bytes once, checking what proto.Unmarshal would
// check of such a message (the framing, and that strings are UTF-8), and
// reads only the id and the key's fields; the record itself goes to the
// batch as it is. It declines whatever it is not sure the general path
// would read the same way: a known field with another wire type, a group,
// a string that is not UTF-8, an enum number a closed enum does not have,
// an element the builder refuses (the general path gives the error).
type pbSplice struct {
	b *ElementBuilder
	// wanted are the fields whose text the id and key need, by number.
	wanted []pbWanted
	// fields are the message's fields by number, for numbers up to
	// len(fields)-1; byNumber holds the others.
	fields   []pbField
	byNumber map[protowire.Number]pbField
}

// pbField is what the walk needs of a field of the message.
type pbField struct {
	known  bool
	typ    protowire.Type // its wire type
	isText bool           // a string, whose bytes must be UTF-8
}

// maxDenseNumber bounds the field numbers looked up by index.
const maxDenseNumber = 256

func (s *pbSplice) field(num protowire.Number) pbField {
	if int(num) < len(s.fields) {
		return s.fields[num]
	}
	return s.byNumber[num]
}

type pbWanted struct {
	name string
	fd   protoreflect.FieldDescriptor
}

// pbScan is one record's wanted values: raw wire values, the last of a
// field's occurrences winning, as in proto.Unmarshal.
type pbScan struct {
	seen  []bool
	nums  []uint64
	bytes [][]byte
}

func newPBSplice(b *ElementBuilder) *pbSplice {
	desc := b.fields.Desc()
	fields := flatFields(desc, false)
	if fields == nil {
		return nil
	}
	s := &pbSplice{b: b, byNumber: map[protowire.Number]pbField{}}
	for _, ff := range fields {
		f := pbField{known: true, typ: wireType(ff.kind), isText: ff.kind == protoreflect.StringKind}
		if ff.num >= maxDenseNumber {
			s.byNumber[ff.num] = f
			continue
		}
		if int(ff.num) >= len(s.fields) {
			s.fields = append(s.fields, make([]pbField, int(ff.num)+1-len(s.fields))...)
		}
		s.fields[ff.num] = f
	}
	names := []string{b.opts.IDField}
	if b.opts.Key != nil {
		names = append(names, b.opts.Key.Fields()...)
	}
	for _, name := range names {
		if fd := b.fields.Lookup(name); fd != nil && !slices.ContainsFunc(s.wanted, func(w pbWanted) bool { return w.fd == fd }) {
			s.wanted = append(s.wanted, pbWanted{name: name, fd: fd})
		}
	}
	return s
}

func (s *pbSplice) decode(data []byte) (Element, bool) {
	var small [4]bool
	var smallNums [4]uint64
	var smallBytes [4][]byte
	sc := pbScan{seen: small[:0], nums: smallNums[:0], bytes: smallBytes[:0]}
	if len(s.wanted) <= len(small) {
		sc.seen, sc.nums, sc.bytes = small[:len(s.wanted)], smallNums[:len(s.wanted)], smallBytes[:len(s.wanted)]
	} else {
		sc.seen, sc.nums, sc.bytes = make([]bool, len(s.wanted)), make([]uint64, len(s.wanted)), make([][]byte, len(s.wanted))
	}
	for b := data; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || !num.IsValid() || typ == protowire.StartGroupType || typ == protowire.EndGroupType {
			return Element{}, false
		}
		b = b[n:]
		f := s.field(num)
		if f.known && typ != f.typ {
			return Element{}, false
		}
		var v uint64
		var raw []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(b)
			v = uint64(x)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			raw, n = protowire.ConsumeBytes(b)
			if n >= 0 && f.isText && !utf8.Valid(raw) {
				return Element{}, false
			}
		default:
			return Element{}, false
		}
		if n < 0 {
			return Element{}, false
		}
		b = b[n:]
		for i := range s.wanted {
			if s.wanted[i].fd.Number() == num {
				sc.seen[i], sc.nums[i], sc.bytes[i] = true, v, raw
			}
		}
	}
	ok := true
	e, err := s.b.Identify(func(name string) (string, bool) {
		for i, w := range s.wanted {
			if w.name == name {
				text, has, sure := wireText(w.fd, sc.seen[i], sc.nums[i], sc.bytes[i])
				ok = ok && sure
				return text, has
			}
		}
		return "", false // not a field: the general path says so too
	})
	if err != nil || !ok {
		return Element{}, false
	}
	e.Payload = data // passed through untouched
	return e, true
}

// wireText is FieldText of a field read from the wire: seen says the
// field occurred, v is its varint or fixed value, raw its bytes. has is
// false for a field dynamicpb's Has would call unset; sure is false where
// the general path might read the value otherwise.
func wireText(fd protoreflect.FieldDescriptor, seen bool, v uint64, raw []byte) (text string, has, sure bool) {
	if !seen {
		return "", false, true
	}
	var val protoreflect.Value
	var zero bool
	switch fd.Kind() {
	case protoreflect.StringKind:
		val, zero = protoreflect.ValueOfString(string(raw)), len(raw) == 0
	case protoreflect.BytesKind:
		val, zero = protoreflect.ValueOfBytes(raw), len(raw) == 0
	case protoreflect.BoolKind:
		val, zero = protoreflect.ValueOfBool(v != 0), v == 0
	case protoreflect.EnumKind:
		n := protoreflect.EnumNumber(int32(v))
		if fd.Enum().IsClosed() && fd.Enum().Values().ByNumber(n) == nil {
			return "", false, false // an unknown field to the general path
		}
		val, zero = protoreflect.ValueOfEnum(n), n == 0
	case protoreflect.Int32Kind:
		val = protoreflect.ValueOfInt32(int32(v))
	case protoreflect.Sint32Kind:
		val = protoreflect.ValueOfInt32(int32(protowire.DecodeZigZag(v & math.MaxUint32)))
	case protoreflect.Sfixed32Kind:
		val = protoreflect.ValueOfInt32(int32(uint32(v)))
	case protoreflect.Int64Kind, protoreflect.Sfixed64Kind:
		val = protoreflect.ValueOfInt64(int64(v))
	case protoreflect.Sint64Kind:
		val = protoreflect.ValueOfInt64(protowire.DecodeZigZag(v))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		val = protoreflect.ValueOfUint32(uint32(v))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		val = protoreflect.ValueOfUint64(v)
	case protoreflect.FloatKind:
		val, zero = protoreflect.ValueOfFloat32(math.Float32frombits(uint32(v))), uint32(v) == 0
	case protoreflect.DoubleKind:
		val, zero = protoreflect.ValueOfFloat64(math.Float64frombits(v)), v == 0
	default:
		return "", false, false
	}
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		zero = val.Int() == 0
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		zero = val.Uint() == 0
	}
	if zero && !fd.HasPresence() {
		return "", false, true // a zero without presence is unset
	}
	text, has = valueText(fd, val)
	return text, has, true
}

func (d *pbDecoder) ID(row Row) (string, bool) {
	m := dynamicpb.NewMessage(d.b.fields.Desc())
	if proto.Unmarshal(row.Data, m) == nil && m.Has(d.idFD) {
		return FieldText(m, d.idFD)
	}
	return "", false
}

// pbElement is a record in protobuf's JSON mapping, or its bytes as a JSON
// (base64) string when it does not parse.
func pbElement(row Row, msg protoreflect.MessageDescriptor) json.RawMessage {
	if msg != nil {
		m := dynamicpb.NewMessage(msg)
		if proto.Unmarshal(row.Data, m) == nil {
			if b, err := protojson.Marshal(m); err == nil {
				return compact(b)
			}
		}
	}
	b, _ := json.Marshal(row.Data) // base64
	return b
}
