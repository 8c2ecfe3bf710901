package codec

import (
	"fmt"
	"math"
	"slices"
	"unicode/utf8"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// The fast path of ParquetWriter.WritePayload: a result message of
// singular scalar fields is decoded from its wire bytes with protowire
// into one typed buffer per column (numbers as int64 or float64, strings
// and bytes in one slab, definition levels for the nullable columns), and
// a chunk of rows at a time is handed to each column's writer, column by
// column: no message, no reflection, no row assembled. Anything it is not
// sure of (another shape of message, a field with an unexpected wire type,
// a string that is not UTF-8, an unknown value of a closed enum, a
// malformed message) goes through proto.Unmarshal and Write, which stay
// the reference: parquet_results_fast_test.go holds the two to the same
// rows.

// parquetResultChunk is how many rows the fast path buffers before it
// writes them to the column writers; the library itself takes rows 64 at
// a time, and a chunk of values is well below a page.
const parquetResultChunk = 1024

// flatResults is the fast path's state: one column per field, after the
// id's.
type flatResults struct {
	cols []flatResultColumn // cols[0] is the id
	// byNum is the column of each field number, -1 for none.
	byNum []int32
	rows  int
	// reported is what WritePayload returned for the buffered rows, so
	// that the writer's growth is counted once.
	reported int64
	values   []parquet.Value // scratch, one column's chunk
	// A row's plain encoded size is fixed plus the lengths of the values
	// of the columns of bytes.
	fixed int64
	bytes []int
}

type flatResultColumn struct {
	fd       protoreflect.FieldDescriptor // nil for the id
	kind     protoreflect.Kind
	wire     protowire.Type
	nullable bool
	closed   bool // a closed enum: unknown numbers are not the field's
	names    map[int32]string

	ints   []int64
	floats []float64
	// data holds strings and bytes; a value is data[starts[i]:ends[i]].
	data         []byte
	starts, ends []int
	defs         []byte // 1 when present, for a nullable column
	mark         int    // len(data) when the row began
}

// newFlatResults returns the fast path for results of desc, or nil when
// it declines the shape: a field that is not a singular scalar or enum, a
// oneof, a required field (Unmarshal checks those), or very large field
// numbers.
func newFlatResults(desc protoreflect.MessageDescriptor) *flatResults {
	fs := desc.Fields()
	f := &flatResults{cols: []flatResultColumn{{kind: protoreflect.StringKind, wire: protowire.BytesType}}}
	maxNum := protowire.Number(0)
	for i := range fs.Len() {
		fd := fs.Get(i)
		if fd.IsList() || fd.IsMap() || fd.Cardinality() == protoreflect.Required {
			return nil
		}
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			return nil // setting one member clears the others
		}
		c := flatResultColumn{fd: fd, kind: fd.Kind(), nullable: fd.HasPresence()}
		switch fd.Kind() {
		case protoreflect.BoolKind, protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Uint32Kind,
			protoreflect.Uint64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind:
			c.wire = protowire.VarintType
		case protoreflect.EnumKind:
			c.wire = protowire.VarintType
			c.closed = fd.Enum().IsClosed()
			c.names = map[int32]string{}
			vals := fd.Enum().Values()
			for j := range vals.Len() {
				v := vals.Get(j)
				if _, ok := c.names[int32(v.Number())]; !ok { // the first of aliases, as ByNumber
					c.names[int32(v.Number())] = string(v.Name())
				}
			}
		case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
			c.wire = protowire.Fixed32Type
		case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
			c.wire = protowire.Fixed64Type
		case protoreflect.StringKind, protoreflect.BytesKind:
			c.wire = protowire.BytesType
		default:
			return nil // messages, groups
		}
		f.cols = append(f.cols, c)
		maxNum = max(maxNum, fd.Number())
	}
	if maxNum > 1<<12 {
		return nil
	}
	f.byNum = make([]int32, maxNum+1)
	for i := range f.byNum {
		f.byNum[i] = -1
	}
	for i := 1; i < len(f.cols); i++ {
		f.byNum[f.cols[i].fd.Number()] = int32(i)
	}
	for j, c := range f.cols {
		switch c.kind {
		case protoreflect.StringKind, protoreflect.BytesKind:
			f.fixed += 4 // the length
			f.bytes = append(f.bytes, j)
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
			protoreflect.Uint64Kind, protoreflect.Fixed64Kind, protoreflect.DoubleKind:
			f.fixed += 8
		case protoreflect.EnumKind:
			f.fixed += 8 // about a name
		default:
			f.fixed += 4
		}
	}
	return f
}

// add decodes one result into the buffers; false (with the buffers as
// they were) when the fast path declines it.
func (f *flatResults) add(id string, b []byte) bool {
	for i := range f.cols {
		f.cols[i].begin()
	}
	c := &f.cols[0]
	c.data = append(c.data, id...)
	c.ends[f.rows] = len(c.data)
	if !f.fields(b, true) {
		return f.undo()
	}
	f.rows++
	return true
}

// fields decodes each field of the message b, into the row begun when
// store is set; false when the fast path declines the message. Only a
// message that proto.Unmarshal takes is not declined.
func (f *flatResults) fields(b []byte, store bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		at := int32(-1)
		if int(num) < len(f.byNum) {
			at = f.byNum[num]
		}
		if at < 0 {
			// Unmarshal keeps an unknown field as unknown bytes, which
			// no column shows.
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return false
			}
			b = b[n:]
			continue
		}
		c := &f.cols[at]
		if typ != c.wire {
			return false // Unmarshal keeps it as unknown bytes: the reference's to do
		}
		x, fl, v, n := c.decode(b)
		if n < 0 {
			return false
		}
		if store {
			c.set(f.rows, x, fl, v)
		}
		b = b[n:]
	}
	return true
}

// undo drops the row begun and declines it.
func (f *flatResults) undo() bool {
	for i := range f.cols {
		c := &f.cols[i]
		c.ints, c.floats = drop(c.ints, f.rows), drop(c.floats, f.rows)
		c.starts, c.ends, c.defs = drop(c.starts, f.rows), drop(c.ends, f.rows), drop(c.defs, f.rows)
		c.data = c.data[:c.mark]
	}
	return false
}

// drop cuts a column's buffer back to rows values; a buffer the column
// does not use stays empty.
func drop[T any](s []T, rows int) []T { return s[:min(len(s), rows)] }

// begin appends the column's value of a row where its field is unset:
// null, or the zero value.
func (c *flatResultColumn) begin() {
	c.mark = len(c.data)
	switch c.wire {
	case protowire.BytesType:
		c.starts, c.ends = append(c.starts, len(c.data)), append(c.ends, len(c.data))
	case protowire.VarintType:
		c.ints = append(c.ints, 0)
	default:
		if c.kind == protoreflect.DoubleKind || c.kind == protoreflect.FloatKind {
			c.floats = append(c.floats, 0)
		} else {
			c.ints = append(c.ints, 0)
		}
	}
	if c.nullable {
		c.defs = append(c.defs, 0)
	}
}

// decode decodes the value at the front of b as Unmarshal sets the
// field: an integer, a float or bytes by the column's kind. It returns the
// bytes consumed, or -1 to decline.
func (c *flatResultColumn) decode(b []byte) (x int64, fl float64, s []byte, n int) {
	switch c.wire {
	case protowire.VarintType:
		var v uint64
		if v, n = protowire.ConsumeVarint(b); n < 0 {
			return 0, 0, nil, -1
		}
		switch c.kind {
		case protoreflect.BoolKind:
			if protowire.DecodeBool(v) {
				x = 1
			}
		case protoreflect.Int32Kind:
			x = int64(int32(v))
		case protoreflect.Sint32Kind:
			x = int64(int32(protowire.DecodeZigZag(v & math.MaxUint32)))
		case protoreflect.Uint32Kind:
			x = int64(uint32(v))
		case protoreflect.Sint64Kind:
			x = protowire.DecodeZigZag(v)
		case protoreflect.EnumKind:
			x = int64(int32(v))
			if _, ok := c.names[int32(x)]; !ok && c.closed {
				return 0, 0, nil, -1 // Unmarshal may keep it as unknown bytes
			}
		default: // int64, uint64
			x = int64(v)
		}
	case protowire.Fixed32Type:
		var v uint32
		if v, n = protowire.ConsumeFixed32(b); n < 0 {
			return 0, 0, nil, -1
		}
		switch c.kind {
		case protoreflect.FloatKind:
			fl = float64(math.Float32frombits(v))
		case protoreflect.Sfixed32Kind:
			x = int64(int32(v))
		default:
			x = int64(v)
		}
	case protowire.Fixed64Type:
		var v uint64
		if v, n = protowire.ConsumeFixed64(b); n < 0 {
			return 0, 0, nil, -1
		}
		if c.kind == protoreflect.DoubleKind {
			fl = math.Float64frombits(v)
		} else {
			x = int64(v)
		}
	case protowire.BytesType:
		if s, n = protowire.ConsumeBytes(b); n < 0 {
			return 0, 0, nil, -1
		}
		if c.kind == protoreflect.StringKind && !utf8.Valid(s) {
			return 0, 0, nil, -1 // Unmarshal may refuse it (proto3): the reference says
		}
	}
	return x, fl, s, n
}

// set makes a decoded value row i's; a later value of the field replaces
// an earlier one, as in Unmarshal.
func (c *flatResultColumn) set(i int, x int64, fl float64, s []byte) {
	switch {
	case c.wire == protowire.BytesType:
		c.starts[i] = len(c.data)
		c.data = append(c.data, s...)
		c.ends[i] = len(c.data)
	case c.kind == protoreflect.DoubleKind || c.kind == protoreflect.FloatKind:
		c.floats[i] = fl
	default:
		c.ints[i] = x
	}
	if c.nullable {
		c.defs[i] = 1
	}
}

// flush writes the buffered rows to the column writers, column by column.
func (f *flatResults) flush(w []*parquet.ColumnWriter) error {
	if f.rows == 0 {
		return nil
	}
	if len(w) != len(f.cols) {
		return fmt.Errorf("parquet results: %d column writers for %d columns", len(w), len(f.cols))
	}
	for j := range f.cols {
		c := &f.cols[j]
		vals := c.values(f.values, f.rows)
		f.values = vals
		if _, err := w[j].WriteRowValues(vals); err != nil {
			return err
		}
		clear(vals) // the values point into data
		c.ints, c.floats, c.data = c.ints[:0], c.floats[:0], c.data[:0]
		c.starts, c.ends, c.defs = c.starts[:0], c.ends[:0], c.defs[:0]
	}
	f.rows, f.reported = 0, 0
	return nil
}

// values returns the column's buffered values, as scalarValue makes
// them from the message, in dst's memory. A column without nulls needs no
// levels: its buffer takes values as they are.
func (c *flatResultColumn) values(dst []parquet.Value, rows int) []parquet.Value {
	dst = slices.Grow(dst[:0], rows)[:rows]
	switch c.kind {
	case protoreflect.BoolKind:
		for i, x := range c.ints {
			dst[i] = parquet.BooleanValue(x != 0)
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		for i, x := range c.ints {
			dst[i] = parquet.Int32Value(int32(x))
		}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		for i, x := range c.ints {
			dst[i] = parquet.Int64Value(x)
		}
	case protoreflect.FloatKind:
		for i, x := range c.floats {
			dst[i] = parquet.FloatValue(float32(x))
		}
	case protoreflect.DoubleKind:
		for i, x := range c.floats {
			dst[i] = parquet.DoubleValue(x)
		}
	case protoreflect.EnumKind:
		for i, x := range c.ints {
			if s, ok := c.names[int32(x)]; ok {
				dst[i] = parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s)))
			} else {
				dst[i] = parquet.ByteArrayValue(fmt.Appendf(nil, "%d", x))
			}
		}
	default:
		for i, end := range c.ends {
			dst[i] = parquet.ByteArrayValue(c.data[c.starts[i]:end:end])
		}
	}
	if c.nullable {
		for i, d := range c.defs {
			if d == 0 {
				dst[i] = parquet.NullValue()
			} else {
				dst[i] = dst[i].Level(0, 1, 0)
			}
		}
	}
	return dst
}

// size is about what row i adds to the file, plain encoded.
func (f *flatResults) size(i int) int64 {
	n := f.fixed
	for _, j := range f.bytes {
		c := &f.cols[j]
		n += int64(c.ends[i] - c.starts[i])
	}
	return n
}

// WritePayload adds one result given as the binary returned it, its wire
// bytes, and returns about how much the file grew. A result of singular
// scalar fields is decoded straight into the columns; any other goes
// through the decoded message (Write). A payload that is not a result
// message is an error, and adds no row.
func (pw *ParquetWriter) WritePayload(id string, payload []byte) (int, error) {
	if f := pw.flat; f != nil && f.add(id, payload) {
		grew := f.size(f.rows - 1)
		f.reported += grew
		if f.rows < parquetResultChunk {
			return int(grew), nil
		}
		more, err := pw.flushFlat()
		return int(grew + more), err
	}
	m := dynamicpb.NewMessage(pw.desc)
	if err := proto.Unmarshal(payload, m); err != nil {
		return 0, fmt.Errorf("result for %q is not a %s: %w", id, pw.desc.FullName(), err)
	}
	return pw.Write(id, m)
}

// flushFlat writes the fast path's buffered rows and returns how much
// more the file grew than was reported for them.
func (pw *ParquetWriter) flushFlat() (int64, error) {
	f := pw.flat
	if f == nil || f.rows == 0 {
		return 0, nil
	}
	reported := f.reported
	if err := f.flush(pw.w.ColumnWriters()); err != nil {
		return 0, err
	}
	if err := pw.endFullGroup(); err != nil {
		return 0, err
	}
	size := pw.w.Size()
	more := max(size-pw.written-reported, 0)
	pw.written = max(size, pw.written+reported)
	return more, nil
}

// ResultChecker tells the results WritePayload writes straight into
// columns from those it would decode first. It is safe for concurrent use.
type ResultChecker struct{ flat *flatResults }

// NewResultChecker checks results of type desc.
func NewResultChecker(desc protoreflect.MessageDescriptor) *ResultChecker {
	return &ResultChecker{flat: newFlatResults(desc)}
}

// Direct reports whether payload is a result that WritePayload decodes
// straight into columns. Such a payload is a result message (Unmarshal
// takes it): a job that has checked it needs no decoding of its own to
// tell a bad result from a good one.
func (c *ResultChecker) Direct(payload []byte) bool {
	return c.flat != nil && c.flat.fields(payload, false)
}
