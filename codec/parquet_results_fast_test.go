package codec_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/codec"
)

// flatResultDesc is a result message of every scalar kind, each once
// without presence and once as a proto3 optional (nullable column), with
// an enum and sparse field numbers; in proto2 (closed enum, every field
// with presence) when syntax says so.
func flatResultDesc(tb testing.TB, syntax string) protoreflect.MessageDescriptor {
	tb.Helper()
	kinds := []descriptorpb.FieldDescriptorProto_Type{
		descriptorpb.FieldDescriptorProto_TYPE_BOOL, descriptorpb.FieldDescriptorProto_TYPE_INT32,
		descriptorpb.FieldDescriptorProto_TYPE_SINT32, descriptorpb.FieldDescriptorProto_TYPE_SFIXED32,
		descriptorpb.FieldDescriptorProto_TYPE_UINT32, descriptorpb.FieldDescriptorProto_TYPE_FIXED32,
		descriptorpb.FieldDescriptorProto_TYPE_INT64, descriptorpb.FieldDescriptorProto_TYPE_SINT64,
		descriptorpb.FieldDescriptorProto_TYPE_SFIXED64, descriptorpb.FieldDescriptorProto_TYPE_UINT64,
		descriptorpb.FieldDescriptorProto_TYPE_FIXED64, descriptorpb.FieldDescriptorProto_TYPE_FLOAT,
		descriptorpb.FieldDescriptorProto_TYPE_DOUBLE, descriptorpb.FieldDescriptorProto_TYPE_STRING,
		descriptorpb.FieldDescriptorProto_TYPE_BYTES, descriptorpb.FieldDescriptorProto_TYPE_ENUM,
	}
	msg := &descriptorpb.DescriptorProto{Name: proto.String("Flat")}
	optional := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
	for i, k := range kinds {
		for _, opt := range []bool{false, true} {
			name := fmt.Sprintf("f_%s", k.String()[5:])
			num := int32(3*i + 2) // not in order of numbers: the .proto's order is
			if opt {
				name, num = "o_"+name[2:], int32(100-i)
			}
			f := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(num), Label: &optional, Type: k.Enum()}
			if k == descriptorpb.FieldDescriptorProto_TYPE_ENUM {
				f.TypeName = proto.String(".flat.Side")
			}
			if opt && syntax == "proto3" {
				f.Proto3Optional = proto.Bool(true)
				f.OneofIndex = proto.Int32(int32(len(msg.OneofDecl)))
				msg.OneofDecl = append(msg.OneofDecl, &descriptorpb.OneofDescriptorProto{Name: proto.String("_" + name)})
			}
			msg.Field = append(msg.Field, f)
		}
	}
	// A field called id becomes result_id.
	msg.Field = append(msg.Field, &descriptorpb.FieldDescriptorProto{Name: proto.String("id"), Number: proto.Int32(1), Label: &optional, Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()})
	enum := &descriptorpb.EnumDescriptorProto{Name: proto.String("Side"), Value: []*descriptorpb.EnumValueDescriptorProto{
		{Name: proto.String("SIDE_UNSPECIFIED"), Number: proto.Int32(0)},
		{Name: proto.String("BUY"), Number: proto.Int32(1)},
		{Name: proto.String("SELL"), Number: proto.Int32(-2)},
	}}
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name: proto.String("flat_" + syntax + ".proto"), Package: proto.String("flat"), Syntax: proto.String(syntax),
		MessageType: []*descriptorpb.DescriptorProto{msg}, EnumType: []*descriptorpb.EnumDescriptorProto{enum},
	}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return fd.Messages().Get(0)
}

// flatResultPayload is the wire bytes of a random result of desc: fields
// set or left unset, zero values, extremes, and at times what the fast
// path must leave to the reference: a field repeated (the last wins), an
// unknown field, a known field with another wire type, a string that is
// not UTF-8, an unknown enum number, a truncated message.
func flatResultPayload(r *rand.Rand, desc protoreflect.MessageDescriptor) []byte {
	m := dynamicpb.NewMessage(desc)
	fs := desc.Fields()
	for i := range fs.Len() {
		fd := fs.Get(i)
		if r.IntN(4) == 0 {
			continue
		}
		zero := r.IntN(5) == 0
		var v protoreflect.Value
		switch fd.Kind() {
		case protoreflect.BoolKind:
			v = protoreflect.ValueOfBool(!zero && r.IntN(2) == 0)
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			v = protoreflect.ValueOfInt32([]int32{0, math.MinInt32, math.MaxInt32, -1, int32(r.Uint32())}[r.IntN(5)])
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
			v = protoreflect.ValueOfUint32([]uint32{0, math.MaxUint32, 1, r.Uint32()}[r.IntN(4)])
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			v = protoreflect.ValueOfInt64([]int64{0, math.MinInt64, math.MaxInt64, -1, int64(r.Uint64())}[r.IntN(5)])
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			v = protoreflect.ValueOfUint64([]uint64{0, math.MaxUint64, 1, r.Uint64()}[r.IntN(4)])
		case protoreflect.FloatKind:
			v = protoreflect.ValueOfFloat32([]float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(-1)), math.MaxFloat32, float32(r.NormFloat64())}[r.IntN(5)])
		case protoreflect.DoubleKind:
			v = protoreflect.ValueOfFloat64([]float64{0, math.Copysign(0, -1), math.Inf(1), math.SmallestNonzeroFloat64, r.NormFloat64() * 1e6}[r.IntN(5)])
		case protoreflect.StringKind:
			v = protoreflect.ValueOfString([]string{"", "black-scholes", "é→€", fmt.Sprint(r.Uint64())}[r.IntN(4)])
		case protoreflect.BytesKind:
			v = protoreflect.ValueOfBytes([][]byte{{}, {0, 0xff}, []byte(fmt.Sprint(r.Uint64()))}[r.IntN(3)])
		case protoreflect.EnumKind:
			v = protoreflect.ValueOfEnum([]protoreflect.EnumNumber{0, 1, -2}[r.IntN(3)])
		}
		if zero {
			v = fd.Default()
			if fd.Kind() == protoreflect.BytesKind {
				v = protoreflect.ValueOfBytes([]byte{})
			}
		}
		m.Set(fd, v)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(err)
	}
	field := func() protoreflect.FieldDescriptor { return fs.Get(r.IntN(fs.Len())) }
	switch r.IntN(24) {
	case 0: // a second message merged in: its fields win
		b = append(b, flatResultPayload(r, desc)...)
	case 1:
		b = protowire.AppendVarint(protowire.AppendTag(b, 7777, protowire.VarintType), r.Uint64())
	case 2:
		b = protowire.AppendBytes(protowire.AppendTag(b, 5000, protowire.BytesType), []byte("unknown"))
	case 3:
		fd := field()
		typ := protowire.BytesType
		if fd.Kind() == protoreflect.StringKind || fd.Kind() == protoreflect.BytesKind {
			typ = protowire.Fixed64Type
		}
		b = protowire.AppendTag(b, fd.Number(), typ)
		switch typ {
		case protowire.BytesType:
			b = protowire.AppendBytes(b, []byte("x"))
		default:
			b = protowire.AppendFixed64(b, r.Uint64())
		}
	case 4:
		if fd := desc.Fields().ByName("f_STRING"); fd != nil {
			b = protowire.AppendBytes(protowire.AppendTag(b, fd.Number(), protowire.BytesType), []byte{0xff, 'a'})
		}
	case 5:
		if fd := desc.Fields().ByName("o_ENUM"); fd != nil {
			b = protowire.AppendVarint(protowire.AppendTag(b, fd.Number(), protowire.VarintType), 77)
		}
	case 6:
		if len(b) > 1 {
			b = b[:len(b)-1]
		}
	case 7: // a varint of more than 32 bits for 32-bit fields
		fd := field()
		if fd.Kind() == protoreflect.Int32Kind || fd.Kind() == protoreflect.Uint32Kind || fd.Kind() == protoreflect.Sint32Kind || fd.Kind() == protoreflect.BoolKind {
			b = protowire.AppendVarint(protowire.AppendTag(b, fd.Number(), protowire.VarintType), 1<<40+3)
		}
	}
	return b
}

// writeResultsBoth writes the payloads with WritePayload and, as the
// reference, with proto.Unmarshal and Write; each into a file of row
// groups of about groupBytes. It checks that both take and refuse the
// same payloads.
func writeResultsBoth(t *testing.T, desc protoreflect.MessageDescriptor, payloads [][]byte, groupBytes int64) (fast, ref []byte, accepted, direct int) {
	t.Helper()
	var fb, rb bytes.Buffer
	fw, err := codec.NewParquetWriter(&fb, desc)
	if err != nil {
		t.Fatal(err)
	}
	rw, err := codec.NewParquetWriter(&rb, desc)
	if err != nil {
		t.Fatal(err)
	}
	codec.SetParquetRowGroupBytes(fw, groupBytes)
	codec.SetParquetRowGroupBytes(rw, groupBytes)
	check := codec.NewResultChecker(desc)
	refused := 0
	for i, p := range payloads {
		id := fmt.Sprintf("R%05d", i)
		m := dynamicpb.NewMessage(desc)
		refErr := proto.Unmarshal(p, m)
		if check.Direct(p) {
			direct++
			if refErr != nil {
				t.Fatalf("result %d (% x): the checker passes what Unmarshal refuses: %v", i, p, refErr)
			}
		}
		if refErr == nil {
			if _, err := rw.Write(id, m); err != nil {
				t.Fatal(err)
			}
		}
		n, err := fw.WritePayload(id, p)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("result %d (% x): WritePayload: %v; Unmarshal: %v", i, p, err, refErr)
		}
		if err != nil {
			refused++
		} else if n < 0 {
			t.Fatalf("result %d: grew %d", i, n)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rw.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d results, %d refused, %d direct", len(payloads), refused, direct)
	return fb.Bytes(), rb.Bytes(), len(payloads) - refused, direct
}

// readResultFile returns the schema, the rows and the row groups of a
// Parquet file.
func readResultFile(t *testing.T, file []byte) (string, []parquet.Row, int) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	var rows []parquet.Row
	for _, g := range f.RowGroups() {
		rr := g.Rows()
		buf := make([]parquet.Row, 100)
		for {
			n, err := rr.ReadRows(buf)
			for _, row := range buf[:n] {
				rows = append(rows, row.Clone())
			}
			if err != nil {
				break
			}
		}
		rr.Close()
	}
	if int64(len(rows)) != f.NumRows() {
		t.Fatalf("read %d rows of %d", len(rows), f.NumRows())
	}
	return f.Schema().String(), rows, len(f.RowGroups())
}

func compareResultFiles(t *testing.T, fast, ref []byte, wantRows int) {
	t.Helper()
	fs, frows, fgroups := readResultFile(t, fast)
	rs, rrows, _ := readResultFile(t, ref)
	if fs != rs {
		t.Fatalf("schema\n%s\nwant\n%s", fs, rs)
	}
	if len(frows) != len(rrows) || len(rrows) != wantRows {
		t.Fatalf("%d rows, reference %d, want %d", len(frows), len(rrows), wantRows)
	}
	for i := range rrows {
		if !sameRow(frows[i], rrows[i]) {
			t.Fatalf("row %d:\n%v\nwant\n%v", i+1, frows[i], rrows[i])
		}
	}
	if wantRows > 5000 && fgroups < 3 {
		t.Fatalf("%d row groups: the test wants several", fgroups)
	}
}

// sameRow is Row.Equal with floats compared by their bits, a NaN
// included, and the values' levels too.
func sameRow(a, b parquet.Row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Kind() != y.Kind() || x.IsNull() != y.IsNull() || x.Column() != y.Column() ||
			x.DefinitionLevel() != y.DefinitionLevel() || x.RepetitionLevel() != y.RepetitionLevel() {
			return false
		}
		switch {
		case x.IsNull():
		case x.Kind() == parquet.Double:
			if math.Float64bits(x.Double()) != math.Float64bits(y.Double()) {
				return false
			}
		case x.Kind() == parquet.Float:
			if math.Float32bits(x.Float()) != math.Float32bits(y.Float()) {
				return false
			}
		case !parquet.Equal(x, y):
			return false
		}
	}
	return true
}

// WritePayload's column-by-column fast path writes the rows, and the
// schema, that the reference (the decoded message through Write) writes,
// for every scalar kind with and without presence, over row groups.
func TestParquetResultsFastDifferential(t *testing.T) {
	t.Parallel()
	for _, syntax := range []string{"proto3", "proto2"} {
		t.Run(syntax, func(t *testing.T) {
			t.Parallel()
			desc := flatResultDesc(t, syntax)
			var w bytes.Buffer
			pw, err := codec.NewParquetWriter(&w, desc)
			if err != nil {
				t.Fatal(err)
			}
			if !codec.ParquetResultsFast(pw) {
				t.Fatal("the fast path declines a message of scalar fields")
			}
			r := rand.New(rand.NewPCG(19, uint64(len(syntax))))
			payloads := make([][]byte, 6000)
			for i := range payloads {
				payloads[i] = flatResultPayload(r, desc)
			}
			fast, ref, accepted, direct := writeResultsBoth(t, desc, payloads, 64<<10)
			if direct < len(payloads)*3/4 {
				t.Fatalf("%d of %d results direct", direct, len(payloads))
			}
			compareResultFiles(t, fast, ref, accepted)
		})
	}
}

// Results of other shapes (nested messages, lists, maps, Timestamps) go
// through the decoded message, with the same rows; so do results written
// with Write between those written with WritePayload, in order.
func TestParquetResultsFastDeclines(t *testing.T) {
	t.Parallel()
	kinds := kindsDesc(t)
	var w bytes.Buffer
	pw, err := codec.NewParquetWriter(&w, kinds)
	if err != nil {
		t.Fatal(err)
	}
	if codec.ParquetResultsFast(pw) {
		t.Fatal("the fast path takes a message with nested fields")
	}
	r := rand.New(rand.NewPCG(3, 4))
	var payloads [][]byte
	for i := range 300 {
		b, err := proto.Marshal(kindsMessage(r, kinds, fmt.Sprintf("k%03d", i)))
		if err != nil {
			t.Fatal(err)
		}
		payloads = append(payloads, b)
	}
	fast, ref, _, direct := writeResultsBoth(t, kinds, payloads, 16<<10)
	if direct != 0 {
		t.Fatalf("%d results of nested messages direct", direct)
	}
	compareResultFiles(t, fast, ref, len(payloads))

	// Write and WritePayload mixed, on the fast path's shape.
	desc := flatResultDesc(t, "proto3")
	var mixed, all bytes.Buffer
	mw, _ := codec.NewParquetWriter(&mixed, desc)
	aw, _ := codec.NewParquetWriter(&all, desc)
	n := 0
	for i := range 3000 {
		p := flatResultPayload(r, desc)
		m := dynamicpb.NewMessage(desc)
		if proto.Unmarshal(p, m) != nil {
			continue
		}
		n++
		id := fmt.Sprint(i)
		if _, err := aw.Write(id, m); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			_, err = mw.Write(id, m)
		} else {
			_, err = mw.WritePayload(id, p)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	compareResultFiles(t, mixed.Bytes(), all.Bytes(), n)
}

// FuzzParquetResultsFast holds WritePayload, and the checker, to the
// reference over arbitrary wire bytes: the same payloads taken, the same
// rows written.
func FuzzParquetResultsFast(f *testing.F) {
	descs := []protoreflect.MessageDescriptor{flatResultDesc(f, "proto3"), flatResultDesc(f, "proto2")}
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 16 {
		f.Add(flatResultPayload(r, descs[i%2]), flatResultPayload(r, descs[i%2]), i%2 == 1)
	}
	f.Add([]byte{0x08}, []byte{}, false)
	f.Fuzz(func(t *testing.T, a, b []byte, proto2 bool) {
		desc := descs[0]
		if proto2 {
			desc = descs[1]
		}
		fast, ref, accepted, _ := writeResultsBoth(t, desc, [][]byte{a, b, append(slices.Clone(a), b...)}, 1<<20)
		compareResultFiles(t, fast, ref, accepted)
	})
}
