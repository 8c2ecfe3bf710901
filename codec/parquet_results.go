package codec

import (
	"cmp"
	"fmt"
	"io"
	"reflect"
	"slices"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// parquetRowGroupBytes bounds the rows a ParquetWriter holds before it
// writes them out as a row group: the memory of a writer, and the unit a
// reader reads.
const parquetRowGroupBytes = 16 << 20

// ParquetWriter writes results as one Parquet file: an id column (the
// element's id), then one column per field of the result message, in the
// .proto's order and with its names. A field called id is written as
// result_id. Nested messages are groups, repeated fields lists, maps maps
// (with their keys in order), enums strings (their names), Timestamps
// timestamps in microseconds (UTC), wrapper types nullable values, and the
// other well-known types (Struct, Value, Any, Duration...) and recursive
// messages their protobuf JSON, in a JSON column. A field with presence
// (a message, an optional or oneof field) is null when unset; other fields
// always have a value, as every JSON result line has every field.
type ParquetWriter struct {
	w       *parquet.GenericWriter[any]
	fields  []*outNode // the id column's node first
	columns int
	cols    [][]parquet.Value
	row     []parquet.Row
	written int64 // w.Size() after the last Write
	group   int64 // w.Size() when the row group began
	// groupBytes is parquetRowGroupBytes but in tests.
	groupBytes int64
	desc       protoreflect.MessageDescriptor
	// flat is WritePayload's fast path; nil when the results' shape is
	// not one it decodes.
	flat *flatResults
}

// NewParquetWriter starts a file of results of type desc, written to w.
func NewParquetWriter(w io.Writer, desc protoreflect.MessageDescriptor) (*ParquetWriter, error) {
	pw := &ParquetWriter{desc: desc, groupBytes: parquetRowGroupBytes, flat: newFlatResults(desc)}
	id := &outNode{name: "id", kind: outScalar, scalar: protoreflect.StringKind}
	fields, columns, err := outFields(desc, 1, []protoreflect.FullName{desc.FullName()})
	if err != nil {
		return nil, err
	}
	for _, f := range fields {
		if f.name == "id" {
			f.name = "result_id"
		}
	}
	pw.fields = append([]*outNode{id}, fields...)
	names := map[string]bool{}
	for _, f := range pw.fields {
		if names[f.name] {
			return nil, fmt.Errorf("results of %s: two columns named %s", desc.FullName(), f.name)
		}
		names[f.name] = true
	}
	pw.columns = columns + 1
	schema := parquet.NewSchema(string(desc.Name()), groupOf(pw.fields))
	pw.w = parquet.NewGenericWriter[any](w, schema, parquet.Compression(&parquet.Snappy), parquet.CreatedBy("gridrun", "", ""))
	pw.cols = make([][]parquet.Value, pw.columns)
	pw.row = make([]parquet.Row, 1)
	return pw, nil
}

// Write adds one result and returns how much the file grew, an estimate
// until the row group is written (values are compressed then).
func (pw *ParquetWriter) Write(id string, m protoreflect.Message) (int, error) {
	// Rows the fast path holds come first.
	more, err := pw.flushFlat()
	if err != nil {
		return 0, err
	}
	for i := range pw.cols {
		pw.cols[i] = pw.cols[i][:0]
	}
	pw.cols[0] = append(pw.cols[0], parquet.ByteArrayValue([]byte(id)).Level(0, 0, 0))
	for _, f := range pw.fields[1:] {
		pw.shredField(f, m, 0, 0, 0)
	}
	row := pw.row[0][:0]
	for _, c := range pw.cols {
		row = append(row, c...)
	}
	pw.row[0] = row
	if _, err := pw.w.WriteRows(pw.row); err != nil {
		return 0, err
	}
	if err := pw.endFullGroup(); err != nil {
		return 0, err
	}
	size := pw.w.Size()
	grew := max(size-pw.written, 0)
	pw.written = max(size, pw.written)
	return int(grew + more), nil
}

// endFullGroup ends the row group once it holds groupBytes.
func (pw *ParquetWriter) endFullGroup() error {
	if pw.w.Size()-pw.group < pw.groupBytes {
		return nil
	}
	if err := pw.w.Flush(); err != nil {
		return err
	}
	pw.group = pw.w.Size()
	return nil
}

// Close writes the last row group and the footer.
func (pw *ParquetWriter) Close() error {
	if _, err := pw.flushFlat(); err != nil {
		return err
	}
	return pw.w.Close()
}

type outKind uint8

const (
	outScalar    outKind = iota // bool, numbers, string, bytes, enum
	outGroup                    // a message
	outList                     // a repeated field
	outMap                      // a map field
	outTimestamp                // google.protobuf.Timestamp
	outWrapper                  // google.protobuf.DoubleValue and the like
	outJSON                     // protobuf's JSON of the message
)

// outNode is one field's column (or group of columns) in a results file.
type outNode struct {
	name   string
	fd     protoreflect.FieldDescriptor
	kind   outKind
	scalar protoreflect.Kind // outScalar, outWrapper
	enum   protoreflect.EnumDescriptor
	// first and leaves are the leaf columns the node spans.
	first, leaves int
	fields        []*outNode // outGroup
	elem          *outNode   // outList: the element; outMap: the value
	key           *outNode   // outMap
}

// outFields plans the columns of msg's fields, starting at column first;
// seen holds the messages enclosing them, to stop at recursion.
func outFields(msg protoreflect.MessageDescriptor, first int, seen []protoreflect.FullName) ([]*outNode, int, error) {
	var out []*outNode
	col := first
	fs := msg.Fields()
	for i := range fs.Len() {
		fd := fs.Get(i)
		n, err := outField(fd, col, seen)
		if err != nil {
			return nil, 0, err
		}
		n.name, n.fd = string(fd.Name()), fd
		out = append(out, n)
		col += n.leaves
	}
	return out, col - first, nil
}

// outField plans one field, or a list's element or a map's key or value
// when fd is one and the node is asked for its values only.
func outField(fd protoreflect.FieldDescriptor, first int, seen []protoreflect.FullName) (*outNode, error) {
	switch {
	case fd.IsMap():
		k, err := outValue(fd.MapKey(), first, seen)
		if err != nil {
			return nil, err
		}
		v, err := outValue(fd.MapValue(), first+1, seen)
		if err != nil {
			return nil, err
		}
		k.name, v.name = "key", "value"
		return &outNode{kind: outMap, key: k, elem: v, first: first, leaves: 1 + v.leaves}, nil
	case fd.IsList():
		e, err := outValue(fd, first, seen)
		if err != nil {
			return nil, err
		}
		e.name = "element"
		return &outNode{kind: outList, elem: e, first: first, leaves: e.leaves}, nil
	}
	return outValue(fd, first, seen)
}

// outValue plans one value of fd's type.
func outValue(fd protoreflect.FieldDescriptor, first int, seen []protoreflect.FullName) (*outNode, error) {
	n := &outNode{kind: outScalar, scalar: fd.Kind(), first: first, leaves: 1}
	switch fd.Kind() {
	case protoreflect.EnumKind:
		n.enum = fd.Enum()
	case protoreflect.MessageKind, protoreflect.GroupKind:
		md := fd.Message()
		switch name := md.FullName(); {
		case name == "google.protobuf.Timestamp":
			n.kind = outTimestamp
		case wrapperKind(md) != 0:
			n.kind, n.scalar = outWrapper, wrapperKind(md)
		case name.Parent() == "google.protobuf" || slices.Contains(seen, name):
			n.kind = outJSON
		default:
			fields, leaves, err := outFields(md, first, append(seen, name))
			if err != nil {
				return nil, err
			}
			if leaves == 0 {
				n.kind = outJSON // a group needs a column
				break
			}
			n.kind, n.fields, n.leaves = outGroup, fields, leaves
		}
	}
	return n, nil
}

// wrapperKind is the kind a wrapper message wraps, 0 for other messages.
func wrapperKind(md protoreflect.MessageDescriptor) protoreflect.Kind {
	switch md.FullName() {
	case "google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
		"google.protobuf.UInt64Value", "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		return md.Fields().ByName("value").Kind()
	}
	return 0
}

// node is the Parquet schema node of a field (its repetition included).
func (n *outNode) node() parquet.Node {
	switch n.kind {
	case outList:
		return parquet.List(n.elem.valueNode())
	case outMap:
		return parquet.Map(n.key.valueNode(), n.elem.valueNode())
	}
	v := n.valueNode()
	if n.nullable() {
		return parquet.Optional(v)
	}
	return v
}

// nullable reports whether a field's column is null when the field is
// unset: for fields with presence, which an unset value cannot stand for.
func (n *outNode) nullable() bool {
	return n.fd != nil && n.fd.HasPresence()
}

// valueNode is the node of one present value.
func (n *outNode) valueNode() parquet.Node {
	switch n.kind {
	case outGroup:
		return groupOf(n.fields)
	case outTimestamp:
		return parquet.Timestamp(parquet.Microsecond)
	case outJSON:
		return parquet.JSON()
	}
	switch n.scalar {
	case protoreflect.BoolKind:
		return parquet.Leaf(parquet.BooleanType)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return parquet.Int(32)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return parquet.Int(64)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return parquet.Uint(32)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return parquet.Uint(64)
	case protoreflect.FloatKind:
		return parquet.Leaf(parquet.FloatType)
	case protoreflect.DoubleKind:
		return parquet.Leaf(parquet.DoubleType)
	case protoreflect.StringKind:
		return parquet.String()
	case protoreflect.EnumKind:
		return parquet.Enum()
	}
	return parquet.Leaf(parquet.ByteArrayType)
}

// shredField appends the values of field f of m to the columns, at
// repetition level rep and definition level def, depth repeated fields
// deep: Dremel's column striping.
func (pw *ParquetWriter) shredField(f *outNode, m protoreflect.Message, rep, def, depth int) {
	switch f.kind {
	case outList:
		list := m.Get(f.fd).List()
		if list.Len() == 0 {
			pw.nulls(f, rep, def)
			return
		}
		for i := range list.Len() {
			r := rep
			if i > 0 {
				r = depth + 1
			}
			pw.shredValue(f.elem, list.Get(i), r, def+1, depth+1)
		}
		return
	case outMap:
		mp := m.Get(f.fd).Map()
		if mp.Len() == 0 {
			pw.nulls(f, rep, def)
			return
		}
		keys := make([]protoreflect.MapKey, 0, mp.Len())
		mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys = append(keys, k)
			return true
		})
		slices.SortFunc(keys, compareMapKeys)
		for i, k := range keys {
			r := rep
			if i > 0 {
				r = depth + 1
			}
			pw.shredValue(f.key, k.Value(), r, def+1, depth+1)
			pw.shredValue(f.elem, mp.Get(k), r, def+1, depth+1)
		}
		return
	}
	if f.nullable() {
		if !m.Has(f.fd) {
			pw.nulls(f, rep, def)
			return
		}
		def++
	}
	pw.shredValue(f, m.Get(f.fd), rep, def, depth)
}

// shredValue appends one present value of node n.
func (pw *ParquetWriter) shredValue(n *outNode, v protoreflect.Value, rep, def, depth int) {
	var pv parquet.Value
	switch n.kind {
	case outGroup:
		m := v.Message()
		for _, f := range n.fields {
			pw.shredField(f, m, rep, def, depth)
		}
		return
	case outTimestamp:
		m := v.Message()
		fs := m.Descriptor().Fields()
		secs, nanos := m.Get(fs.ByName("seconds")).Int(), m.Get(fs.ByName("nanos")).Int()
		pv = parquet.Int64Value(secs*1e6 + nanos/1e3)
	case outWrapper:
		m := v.Message()
		pv = scalarValue(n, m.Get(m.Descriptor().Fields().ByName("value")))
	case outJSON:
		b, err := protojson.Marshal(v.Message().Interface())
		if err != nil {
			b = []byte("null") // an Any of a type not linked in
		}
		pv = parquet.ByteArrayValue(compact(b))
	default:
		pv = scalarValue(n, v)
	}
	pw.cols[n.first] = append(pw.cols[n.first], pv.Level(rep, def, n.first))
}

func scalarValue(n *outNode, v protoreflect.Value) parquet.Value {
	switch n.scalar {
	case protoreflect.BoolKind:
		return parquet.BooleanValue(v.Bool())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return parquet.Int32Value(int32(v.Int()))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return parquet.Int64Value(v.Int())
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return parquet.Int32Value(int32(uint32(v.Uint())))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return parquet.Int64Value(int64(v.Uint()))
	case protoreflect.FloatKind:
		return parquet.FloatValue(float32(v.Float()))
	case protoreflect.DoubleKind:
		return parquet.DoubleValue(v.Float())
	case protoreflect.StringKind:
		return parquet.ByteArrayValue([]byte(v.String()))
	case protoreflect.EnumKind:
		if ev := n.enum.Values().ByNumber(v.Enum()); ev != nil {
			return parquet.ByteArrayValue([]byte(ev.Name()))
		}
		return parquet.ByteArrayValue(fmt.Appendf(nil, "%d", v.Enum()))
	}
	return parquet.ByteArrayValue(v.Bytes())
}

// nulls appends a null to every column of n: n is absent (or an empty
// list or map) at definition level def.
func (pw *ParquetWriter) nulls(n *outNode, rep, def int) {
	for c := n.first; c < n.first+n.leaves; c++ {
		pw.cols[c] = append(pw.cols[c], parquet.NullValue().Level(rep, def, c))
	}
}

func compareMapKeys(a, b protoreflect.MapKey) int {
	switch x := a.Interface().(type) {
	case string:
		return cmp.Compare(x, b.String())
	case bool:
		y := b.Bool()
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case int32, int64:
		return cmp.Compare(a.Int(), b.Int())
	}
	return cmp.Compare(a.Uint(), b.Uint())
}

// groupOf is the group of the nodes' columns in their order; the library's
// own Group orders fields by name.
func groupOf(nodes []*outNode) parquet.Node {
	g := &orderedGroup{}
	for _, n := range nodes {
		g.fields = append(g.fields, &namedField{Node: n.node(), name: n.name})
	}
	return g
}

type orderedGroup struct{ fields []parquet.Field }

func (g *orderedGroup) ID() int                     { return 0 }
func (g *orderedGroup) String() string              { return fmt.Sprintf("group of %d fields", len(g.fields)) }
func (g *orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g *orderedGroup) Optional() bool              { return false }
func (g *orderedGroup) Repeated() bool              { return false }
func (g *orderedGroup) Required() bool              { return true }
func (g *orderedGroup) Leaf() bool                  { return false }
func (g *orderedGroup) Fields() []parquet.Field     { return g.fields }
func (g *orderedGroup) Encoding() encoding.Encoding { return nil }
func (g *orderedGroup) Compression() compress.Codec { return nil }
func (g *orderedGroup) GoType() reflect.Type {
	m := parquet.Group{}
	for _, f := range g.fields {
		m[f.Name()] = f
	}
	return m.GoType()
}

type namedField struct {
	parquet.Node
	name string
}

func (f *namedField) Name() string { return f.name }

// Value is how the library finds a field in a Go value; results are
// written as rows, never from Go values.
func (f *namedField) Value(reflect.Value) reflect.Value { return reflect.Value{} }
