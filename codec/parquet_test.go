package codec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/internal/testgen"
)

// parquetFile writes rows of T with the library alone, as another program
// would, and returns the file.
func parquetFile[T any](tb testing.TB, rows []T) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf)
	if _, err := w.Write(rows); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// parquetInput opens file as a Parquet input with a decoder of desc.
func parquetInput(tb testing.TB, desc protoreflect.MessageDescriptor, file []byte, opts codec.DecoderOptions) (codec.Reader, *codec.Decoder) {
	tb.Helper()
	r, err := codec.NewParquetReader(bytes.NewReader(file), int64(len(file)), "in.parquet")
	if err != nil {
		tb.Fatal(err)
	}
	d, err := codec.NewDecoder(desc, r, codec.Parquet, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return r, d
}

// tradesParquet writes trades in Parquet, rowsPerGroup to a row group.
func tradesParquet(tb testing.TB, trades []testgen.Trade, rowsPerGroup int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := testgen.WriteParquet(&buf, trades, rowsPerGroup); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// A Parquet file of trades decodes to the same elements as the same trades
// in JSON lines, across row groups, with rows numbered from 1.
func TestParquetTradesDecodeAsJSONL(t *testing.T) {
	t.Parallel()
	trade := tradeDesc(t)
	trades := testgen.Trades(1000, testgen.Quotes(20, 1), 2, testgen.TradeOptions{AsianShare: 0.3, Paths: 5000})
	file := tradesParquet(t, trades, 128)
	var jsonl bytes.Buffer
	if err := testgen.WriteJSONL(&jsonl, trades); err != nil {
		t.Fatal(err)
	}
	opts := codec.DecoderOptions{Key: tmpl(t, "{underlying}/{type}")}
	pr, pd := parquetInput(t, trade, file, opts)
	if h := pr.Header(); !slices.Equal(h, []string{"id", "underlying", "type", "style", "strike", "expiry", "quantity", "paths", "fixings"}) {
		t.Fatalf("header %q", h)
	}
	jr, jd := input(t, trade, "in.jsonl", codec.JSONL, jsonl.String(), opts)
	prows, jrows := readAll(t, pr), readAll(t, jr)
	if len(prows) != 1000 || len(jrows) != 1000 {
		t.Fatalf("%d Parquet rows, %d JSONL rows; want 1000", len(prows), len(jrows))
	}
	for i := range prows {
		if prows[i].Index != int64(i) || prows[i].Line != int64(i+1) {
			t.Fatalf("row %d: index %d line %d", i, prows[i].Index, prows[i].Line)
		}
		pe, err := pd.Decode(prows[i])
		if err != nil {
			t.Fatalf("row %d: %v", i+1, err)
		}
		je, err := jd.Decode(jrows[i])
		if err != nil {
			t.Fatal(err)
		}
		if pe.ID != je.ID || pe.Key != je.Key || !bytes.Equal(pe.Payload, je.Payload) {
			t.Fatalf("row %d: Parquet %s %s %x\nJSONL %s %s %x", i+1, pe.ID, pe.Key, pe.Payload, je.ID, je.Key, je.Payload)
		}
	}
	// The dead letters' view of a row is the object of its columns.
	var got map[string]any
	if err := json.Unmarshal(pd.ElementJSON(prows[0]), &got); err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(jsonl.Bytes()[:bytes.IndexByte(jsonl.Bytes(), '\n')], &want); err != nil {
		t.Fatal(err)
	}
	if want["paths"] == nil {
		want["paths"], want["fixings"] = nil, nil // null columns, omitted keys
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("element JSON %v, want %v", got, want)
	}
}

// badTrade has columns of the wrong kinds for some trades.
type badTrade struct {
	ID     *string `parquet:"id,optional"`
	Strike string  `parquet:"strike"`
	Paths  int64   `parquet:"paths"`
	Type   string  `parquet:"type"`
}

func TestParquetBadValuesAreRowErrors(t *testing.T) {
	t.Parallel()
	id := func(s string) *string { return &s }
	file := parquetFile(t, []badTrade{
		{ID: id("A"), Strike: "50", Paths: 10, Type: "call"},
		{ID: id("B"), Strike: "fifty", Paths: 10, Type: "CALL"},
		{ID: id("C"), Strike: "50", Paths: -1, Type: "CALL"},
		{ID: id("D"), Strike: "50", Paths: 1 << 40, Type: "CALL"},
		{ID: nil, Strike: "50", Paths: 1, Type: "CALL"},
		{ID: id("F"), Strike: "50", Paths: 1, Type: "STRADDLE"},
		{ID: id("G"), Strike: "", Paths: 0, Type: ""},
	})
	r, d := parquetInput(t, tradeDesc(t), file, codec.DecoderOptions{})
	rows := readAll(t, r)
	for _, tc := range []struct {
		line  int64
		field string
		msg   string
		id    string
	}{
		{2, "strike", `"fifty" is not a number`, "B"},
		{3, "paths", `"-1" is not an unsigned 32-bit integer`, "C"},
		{4, "paths", `"1099511627776" is not an unsigned 32-bit integer`, "D"},
		{5, "id", "missing id", ""},
		{6, "type", `"STRADDLE" is not a value of pricer.OptionType`, "F"},
		// An empty string is a value, as in JSON, not a missing one.
		{7, "strike", `"" is not a number`, "G"},
	} {
		_, err := d.Decode(rows[tc.line-1])
		re := rowError(t, err, "in.parquet", tc.line, tc.field)
		if re.Msg != tc.msg || re.ID != tc.id {
			t.Errorf("row %d: %q id %q, want %q id %q", tc.line, re.Msg, re.ID, tc.msg, tc.id)
		}
	}
	e, err := d.Decode(rows[0])
	if err != nil {
		t.Fatal(err)
	}
	wantPayload(t, e.Payload, msg(t, tradeDesc(t), "id", "A", "strike", 50.0, "paths", uint32(10), "type", "CALL"))
	if got := string(d.ElementJSON(rows[1])); got != `{"id":"B","strike":"fifty","paths":10,"type":"CALL"}` {
		t.Errorf("element JSON %s", got)
	}
	if got := string(d.ElementJSON(rows[4])); got != `{"id":null,"strike":"50","paths":1,"type":"CALL"}` {
		t.Errorf("element JSON %s", got)
	}
}

func TestParquetConfigErrors(t *testing.T) {
	t.Parallel()
	type unknownCol struct {
		ID   string `parquet:"id"`
		Desk string `parquet:"desk"`
	}
	type groupForScalar struct {
		ID     string `parquet:"id"`
		Strike struct {
			Value float64 `parquet:"value"`
		} `parquet:"strike"`
	}
	type listForMessage struct {
		ID    string    `parquet:"id"`
		Inner []float64 `parquet:"inner,list"`
	}
	type listID struct {
		ID []string `parquet:"id,list"`
	}
	type noID struct {
		Trade string `parquet:"trade"`
	}
	trade, kinds := tradeDesc(t), kindsDesc(t)
	for _, tc := range []struct {
		name string
		desc protoreflect.MessageDescriptor
		file []byte
		opts codec.DecoderOptions
		msg  []string
	}{
		{"column not a field", trade, parquetFile(t, []unknownCol{{}}), codec.DecoderOptions{}, []string{"in.parquet", `column "desk"`, "pricer.Trade", "underlying"}},
		{"group for a double", trade, parquetFile(t, []groupForScalar{{}}), codec.DecoderOptions{}, []string{`column "strike" is a group`, "a double"}},
		{"list for a message", kinds, parquetFile(t, []listForMessage{{}}), codec.DecoderOptions{}, []string{`column "inner" is a list`, "a message"}},
		{"list for the id", kinds, parquetFile(t, []listID{{}}), codec.DecoderOptions{}, []string{`id column "id" is a list`}},
		{"no id column", trade, parquetFile(t, []noID{{}}), codec.DecoderOptions{IgnoreUnknown: true}, []string{`no id column "id"`, "trade"}},
		{"key column missing", trade, parquetFile(t, []unknownCol{{}}), codec.DecoderOptions{IgnoreUnknown: true, Key: tmpl(t, "{underlying}")}, []string{`no column "underlying"`}},
	} {
		r, err := codec.NewParquetReader(bytes.NewReader(tc.file), int64(len(tc.file)), "in.parquet")
		if err != nil {
			t.Fatal(err)
		}
		_, err = codec.NewDecoder(tc.desc, r, codec.Parquet, tc.opts)
		if err == nil {
			t.Errorf("%s: NewDecoder succeeded", tc.name)
			continue
		}
		contains(t, err, tc.msg...)
	}
	// Unknown columns are fine when asked for.
	file := parquetFile(t, []unknownCol{{ID: "x", Desk: "fx"}})
	r, d := parquetInput(t, trade, file, codec.DecoderOptions{IgnoreUnknown: true})
	if e, err := d.Decode(readAll(t, r)[0]); err != nil || e.ID != "x" {
		t.Fatalf("%+v, %v", e, err)
	}
	// Not Parquet at all.
	if _, err := codec.NewParquetReader(strings.NewReader("id,x\n1,2\n"), 9, "in.parquet"); err == nil {
		t.Fatal("a CSV file read as Parquet")
	} else {
		contains(t, err, "in.parquet", "not a Parquet file")
	}
	if _, err := codec.NewReader(strings.NewReader(""), "in.parquet", codec.Parquet, false); err == nil {
		t.Fatal("NewReader read Parquet as a stream")
	}
}

// kindsMessage returns a Kinds message with random values in every field,
// some of them unset, built with reflection alone.
func kindsMessage(r *rand.Rand, desc protoreflect.MessageDescriptor, id string) *dynamicpb.Message {
	m := dynamicpb.NewMessage(desc)
	fs := desc.Fields()
	scalar := func(fd protoreflect.FieldDescriptor) protoreflect.Value {
		switch fd.Kind() {
		case protoreflect.BoolKind:
			return protoreflect.ValueOfBool(r.IntN(2) == 1)
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			return protoreflect.ValueOfInt32(int32(r.Uint32()))
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			return protoreflect.ValueOfInt64(int64(r.Uint64()))
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
			return protoreflect.ValueOfUint32(r.Uint32())
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			return protoreflect.ValueOfUint64(r.Uint64())
		case protoreflect.FloatKind:
			return protoreflect.ValueOfFloat32([]float32{0.1, -3.5e30, float32(math.Inf(1)), r.Float32()}[r.IntN(4)])
		case protoreflect.DoubleKind:
			return protoreflect.ValueOfFloat64([]float64{0.1, -1e300, math.Inf(-1), r.NormFloat64()}[r.IntN(4)])
		case protoreflect.StringKind:
			return protoreflect.ValueOfString([]string{"", "a", "ünïcode \"quoted\"", fmt.Sprint(r.Int())}[r.IntN(4)])
		case protoreflect.BytesKind:
			return protoreflect.ValueOfBytes([]byte{byte(r.Uint32()), 0, 0xff})
		case protoreflect.EnumKind:
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(r.IntN(3)))
		}
		panic(fd.Kind())
	}
	inner := func(fd protoreflect.FieldDescriptor) protoreflect.Value {
		im := dynamicpb.NewMessage(fd.Message())
		ifs := fd.Message().Fields()
		for i := range ifs.Len() {
			if r.IntN(3) > 0 {
				im.Set(ifs.Get(i), scalar(ifs.Get(i)))
			}
		}
		return protoreflect.ValueOfMessage(im)
	}
	for i := range fs.Len() {
		fd := fs.Get(i)
		if r.IntN(4) == 0 && fd.Name() != "id" {
			continue // unset
		}
		switch {
		case fd.Name() == "id":
			m.Set(fd, protoreflect.ValueOfString(id))
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for range r.IntN(4) {
				mp.Set(protoreflect.ValueOfString(fmt.Sprint("k", r.IntN(10))).MapKey(), scalar(fd.MapValue()))
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range r.IntN(4) {
				if fd.Kind() == protoreflect.MessageKind {
					l.Append(inner(fd))
				} else {
					l.Append(scalar(fd))
				}
			}
		case fd.Message() != nil && fd.Message().FullName() == "google.protobuf.Timestamp":
			ts := dynamicpb.NewMessage(fd.Message())
			ts.Set(fd.Message().Fields().ByName("seconds"), protoreflect.ValueOfInt64(r.Int64N(4e9)))
			ts.Set(fd.Message().Fields().ByName("nanos"), protoreflect.ValueOfInt32(r.Int32N(1e6)*1000))
			m.Set(fd, protoreflect.ValueOfMessage(ts))
		case fd.Kind() == protoreflect.MessageKind:
			m.Set(fd, inner(fd))
		default:
			m.Set(fd, scalar(fd))
		}
	}
	return m
}

// Results written as Parquet read back as the same messages, through the
// Parquet input: every kind, nested messages, lists, maps and Timestamps.
// The dead letters' JSON of each row is protobuf's JSON of the message.
func TestParquetResultsRoundTrip(t *testing.T) {
	t.Parallel()
	kinds := kindsDesc(t)
	r := rand.New(rand.NewPCG(7, 8))
	var want []*dynamicpb.Message
	var buf bytes.Buffer
	w, err := codec.NewParquetWriter(&buf, kinds)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		m := kindsMessage(r, kinds, fmt.Sprintf("k%03d", i))
		want = append(want, m)
		if n, err := w.Write(fmt.Sprintf("k%03d", i), m); err != nil || n < 0 {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// The element's id is the id column; the message's own id field is
	// result_id, which is no field of Kinds.
	in, d := parquetInput(t, kinds, buf.Bytes(), codec.DecoderOptions{IgnoreUnknown: true})
	rows := readAll(t, in)
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, row := range rows {
		e, err := d.Decode(row)
		if err != nil {
			t.Fatalf("row %d: %v", i+1, err)
		}
		if e.ID != fmt.Sprintf("k%03d", i) {
			t.Fatalf("row %d: id %q", i+1, e.ID)
		}
		wantPayload(t, e.Payload, want[i])
		got := dynamicpb.NewMessage(kinds)
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(d.ElementJSON(row), got); err != nil {
			t.Fatalf("row %d: element JSON %s: %v", i+1, d.ElementJSON(row), err)
		}
		if !proto.Equal(got, want[i]) {
			t.Fatalf("row %d: element JSON %s\nis %v\nwant %v", i+1, d.ElementJSON(row), got, want[i])
		}
	}
}

// The results file is what the library reads with a Go struct of its own:
// the id first, then the fields in the .proto's order, nulls where fields
// with presence are unset.
func TestParquetResultsColumns(t *testing.T) {
	t.Parallel()
	price := priceDesc(t)
	var buf bytes.Buffer
	w, err := codec.NewParquetWriter(&buf, price)
	if err != nil {
		t.Fatal(err)
	}
	w.Write("T1", msg(t, price, "price", 1.5, "value", -3.0, "paths", uint32(10000), "method", "monte-carlo"))
	w.Write("T2", msg(t, price))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range f.Schema().Columns() {
		names = append(names, strings.Join(c, "."))
	}
	if want := []string{"id", "price", "value", "delta", "gamma", "vega", "std_error", "paths", "method"}; !slices.Equal(names, want) {
		t.Fatalf("columns %q, want %q", names, want)
	}
	type row struct {
		ID     string  `parquet:"id"`
		Price  float64 `parquet:"price"`
		Value  float64 `parquet:"value"`
		Paths  uint32  `parquet:"paths"`
		Method string  `parquet:"method"`
	}
	rows, err := parquet.Read[row](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if want := []row{{"T1", 1.5, -3, 10000, "monte-carlo"}, {"T2", 0, 0, 0, ""}}; !slices.Equal(rows, want) {
		t.Fatalf("rows %+v, want %+v", rows, want)
	}
}

// Columns of logical types render as their JSON (for the dead letters) and
// set string fields with their text.
func TestParquetLogicalTypes(t *testing.T) {
	t.Parallel()
	type logical struct {
		ID    int64     `parquet:"id"`
		Date  int32     `parquet:"date,date"`
		TS    time.Time `parquet:"ts,timestamp(millisecond)"`
		TSNS  int64     `parquet:"tsns,timestamp(nanosecond)"`
		Dec   int32     `parquet:"dec,decimal(2:9)"`
		Dec64 int64     `parquet:"dec64,decimal(4:18)"`
		U8    uint8     `parquet:"u8"`
		U64   uint64    `parquet:"u64"`
		JS    string    `parquet:"js,json"`
		Bin   []byte    `parquet:"bin"`
		Enum  string    `parquet:"enum,enum"`
		F32   float32   `parquet:"f32"`
	}
	at := time.Date(2026, 11, 20, 21, 0, 0, 123e6, time.UTC)
	file := parquetFile(t, []logical{{
		ID: 42, Date: 20000, TS: at, TSNS: at.UnixNano() + 456, Dec: -12345, Dec64: 5, U8: 200, U64: math.MaxUint64,
		JS: `{"a": [1, 2]}`, Bin: []byte{0, 1, 0xfe}, Enum: "RED", F32: 0.1,
	}})
	r, d := parquetInput(t, kindsDesc(t), file, codec.DecoderOptions{IgnoreUnknown: true})
	row := readAll(t, r)[0]
	const want = `{"id":42,"date":"2024-10-04","ts":"2026-11-20T21:00:00.123Z","tsns":"2026-11-20T21:00:00.123000456Z",` +
		`"dec":-123.45,"dec64":0.0005,"u8":200,"u64":18446744073709551615,"js":{"a":[1,2]},"bin":"AAH+","enum":"RED","f32":0.1}`
	if got := string(d.ElementJSON(row)); got != want {
		t.Fatalf("element JSON\n%s\nwant\n%s", got, want)
	}
	e, err := d.Decode(row)
	if err != nil || e.ID != "42" {
		t.Fatalf("%+v, %v", e, err)
	}
}

// A file that ends early fails its input with the file's name.
func TestParquetTruncated(t *testing.T) {
	t.Parallel()
	trades := testgen.Trades(2000, testgen.Quotes(5, 1), 3, testgen.TradeOptions{})
	file := tradesParquet(t, trades, 500)
	// Dropping the footer leaves no file; corrupting a page leaves the rows
	// before it.
	if _, err := codec.NewParquetReader(bytes.NewReader(file[:len(file)/2]), int64(len(file)/2), "t.parquet"); err == nil {
		t.Fatal("opened half a file")
	}
	bad := slices.Clone(file)
	for i := len(bad) / 2; i < len(bad)/2+64; i++ {
		bad[i] ^= 0x5a
	}
	r, err := codec.NewParquetReader(bytes.NewReader(bad), int64(len(bad)), "t.parquet")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, err := r.Read()
		if errors.Is(err, io.EOF) {
			t.Fatalf("read %d rows of a corrupt file without an error", n)
		}
		if err != nil {
			contains(t, err, "t.parquet")
			break
		}
		n++
	}
	if n >= 2000 {
		t.Fatalf("%d rows", n)
	}
}

// Groups, lists (standard and bare repeated columns) and maps written by
// another program fill message, repeated and map fields.
func TestParquetNestedColumns(t *testing.T) {
	t.Parallel()
	type inner struct {
		Name string `parquet:"name"`
		N    *int32 `parquet:"n,optional"`
	}
	type nested struct {
		ID     string           `parquet:"id"`
		Ints   []int64          `parquet:"ints,list"`
		Strs   []string         `parquet:"strs"` // a bare repeated column
		Colors []string         `parquet:"colors,list"`
		Inner  *inner           `parquet:"inner,optional"`
		Counts map[string]int32 `parquet:"counts"`
		Inners []inner          `parquet:"inners,list"`
		At     *time.Time       `parquet:"at,optional,timestamp(microsecond)"`
	}
	three := int32(3)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	file := parquetFile(t, []nested{
		{ID: "a", Ints: []int64{1, -2}, Strs: []string{"x", "y", "z"}, Colors: []string{"RED", "green"},
			Inner: &inner{Name: "in", N: &three}, Counts: map[string]int32{"b": 2, "a": 1},
			Inners: []inner{{Name: "p"}, {Name: "q", N: &three}}, At: &at},
		{ID: "b"},
		{ID: "c", Ints: []int64{1 << 40}},
	})
	r, d := parquetInput(t, kindsDesc(t), file, codec.DecoderOptions{})
	rows := readAll(t, r)
	const want = `{"id":"a","ints":[1,-2],"strs":["x","y","z"],"colors":["RED","green"],"inner":{"name":"in","n":3},` +
		`"counts":{"a":1,"b":2},"inners":[{"name":"p","n":null},{"name":"q","n":3}],"at":"2026-01-02T03:04:05.000006Z"}`
	if got := string(d.ElementJSON(rows[0])); got != want {
		t.Fatalf("element JSON\n%s\nwant\n%s", got, want)
	}
	e, err := d.Decode(rows[0])
	if err != nil {
		t.Fatal(err)
	}
	wantMsg := dynamicpb.NewMessage(kindsDesc(t))
	if err := protojson.Unmarshal([]byte(`{"id":"a","ints":[1,-2],"strs":["x","y","z"],"colors":["RED","GREEN"],"inner":{"name":"in","n":3},`+
		`"counts":{"a":1,"b":2},"inners":[{"name":"p"},{"name":"q","n":3}],"at":"2026-01-02T03:04:05.000006Z"}`), wantMsg); err != nil {
		t.Fatal(err)
	}
	wantPayload(t, e.Payload, wantMsg)
	if got := string(d.ElementJSON(rows[1])); got != `{"id":"b","ints":[],"strs":[],"colors":[],"inner":null,"counts":{},"inners":[],"at":null}` {
		t.Fatalf("element JSON of an empty row %s", got)
	}
	e, err = d.Decode(rows[1])
	if err != nil {
		t.Fatal(err)
	}
	wantPayload(t, e.Payload, msg(t, kindsDesc(t), "id", "b"))
	_, err = d.Decode(rows[2])
	rowError(t, err, "in.parquet", 3, "ints[0]")
}

// legacyList is the two-level list older writers (parquet-mr's Avro and
// Thrift writers) produce: a LIST group whose repeated child is the
// element itself.
type legacyList struct{ parquet.Node }

func (legacyList) Type() parquet.Type { return parquet.List(parquet.Int(64)).Type() }
func (legacyList) Optional() bool     { return true }
func (legacyList) Required() bool     { return false }
func (l legacyList) Fields() []parquet.Field {
	return parquet.Group{"array": parquet.Repeated(parquet.Int(64))}.Fields()
}

func TestParquetTwoLevelList(t *testing.T) {
	t.Parallel()
	schema := parquet.NewSchema("legacy", parquet.Group{"id": parquet.String(), "ints": legacyList{parquet.Group{}}})
	var buf bytes.Buffer
	// The generic writer refuses this schema, which readers must read.
	w := parquet.NewWriter(&buf, schema)
	// Columns in name order: id (0), ints.array (1), with the levels of an
	// optional group around a repeated leaf.
	rows := []parquet.Row{
		{parquet.ByteArrayValue([]byte("a")).Level(0, 0, 0), parquet.Int64Value(1).Level(0, 2, 1), parquet.Int64Value(2).Level(1, 2, 1)},
		{parquet.ByteArrayValue([]byte("b")).Level(0, 0, 0), parquet.NullValue().Level(0, 1, 1)},
		{parquet.ByteArrayValue([]byte("c")).Level(0, 0, 0), parquet.NullValue().Level(0, 0, 1)},
	}
	if _, err := w.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, d := parquetInput(t, kindsDesc(t), buf.Bytes(), codec.DecoderOptions{})
	got := readAll(t, r)
	for i, want := range []string{`{"id":"a","ints":[1,2]}`, `{"id":"b","ints":[]}`, `{"id":"c","ints":null}`} {
		if js := string(d.ElementJSON(got[i])); js != want {
			t.Errorf("row %d: %s, want %s", i+1, js, want)
		}
	}
	e, err := d.Decode(got[0])
	if err != nil {
		t.Fatal(err)
	}
	want := msg(t, kindsDesc(t), "id", "a")
	want.Mutable(kindsDesc(t).Fields().ByName("ints")).List().Append(protoreflect.ValueOfInt32(1))
	want.Mutable(kindsDesc(t).Fields().ByName("ints")).List().Append(protoreflect.ValueOfInt32(2))
	wantPayload(t, e.Payload, want)
}

// Damaged copies of a file fail as inputs, with the file's name, or read
// (some of) their rows; none panics or hangs the reader.
func TestParquetDamagedFiles(t *testing.T) {
	t.Parallel()
	desc := kindsDesc(t)
	seed := tradesParquet(t, testgen.Trades(20, testgen.Quotes(3, 1), 1, testgen.TradeOptions{AsianShare: 0.5, Paths: 10}), 8)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		data := slices.Clone(seed)
		for range 1 + r.IntN(4) {
			data[r.IntN(len(data))] = byte(r.Uint32())
		}
		in, err := codec.NewParquetReader(bytes.NewReader(data), int64(len(data)), "d.parquet")
		if err != nil {
			contains(t, err, "d.parquet: ")
			continue
		}
		d, err := codec.NewDecoder(desc, in, codec.Parquet, codec.DecoderOptions{IgnoreUnknown: true})
		if err != nil {
			continue
		}
		for n := 0; ; n++ {
			row, err := in.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				contains(t, err, "d.parquet: ")
				break
			}
			if n > 20 {
				t.Fatalf("copy %d: more rows than the file has", i)
			}
			d.Decode(row)
			if !json.Valid(d.ElementJSON(row)) {
				t.Fatalf("copy %d: row %d renders as %s", i, n+1, d.ElementJSON(row))
			}
		}
	}
}

// Presence, well-known types, maps keyed by numbers and recursive messages
// survive a results file: written as Parquet, they read back as the same
// messages, through the Parquet input and through the library alone.
func TestParquetResultsSpecialShapes(t *testing.T) {
	t.Parallel()
	wkt := schema(t, wktSchema).Result
	var want []*dynamicpb.Message
	for _, js := range []string{
		`{}`,
		`{"maybe":0,"word":"","dv":0,"sv":"","du":"0s","st":{},"times":[],"points":{},"tree":{}}`,
		`{"maybe":-7,"number":"42","dv":1.5,"sv":"s","du":"1.500s","st":{"a":[1,"x",null,{"b":true}]},` +
			`"times":["2026-11-20T21:00:00Z","1970-01-01T00:00:00.000001Z"],"points":{"-3":{"x":1},"10":{"x":2,"y":0}},` +
			`"tags":{"b":"2","a":"1"},"tree":{"name":"root","children":[{"name":"leaf","children":[{"name":"deep"}]}]},` +
			`"path":[{"x":1,"y":2},{"x":3}],"blob":"AAH+"}`,
	} {
		m := dynamicpb.NewMessage(wkt)
		if err := protojson.Unmarshal([]byte(js), m); err != nil {
			t.Fatal(err)
		}
		want = append(want, m)
	}
	var buf bytes.Buffer
	w, err := codec.NewParquetWriter(&buf, wkt)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range want {
		if _, err := w.Write(fmt.Sprint(i), m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var leaves []string
	for _, c := range f.Schema().Columns() {
		leaves = append(leaves, strings.Join(c, "."))
	}
	wantLeaves := []string{"id", "maybe", "word", "number", "dv", "sv", "du", "st", "times.list.element",
		"points.key_value.key", "points.key_value.value.x", "points.key_value.value.y",
		"tags.key_value.key", "tags.key_value.value", "tree.name", "tree.children.list.element", "path.list.element.x", "path.list.element.y", "blob"}
	if !slices.Equal(leaves, wantLeaves) {
		t.Fatalf("columns\n%q\nwant\n%q", leaves, wantLeaves)
	}
	// The library's own reading: nulls for unset fields with presence.
	type row struct {
		ID    string   `parquet:"id"`
		Maybe *int32   `parquet:"maybe,optional"`
		DV    *float64 `parquet:"dv,optional"`
		Du    *string  `parquet:"du,optional"`
	}
	rows, err := parquet.Read[row](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if rows[0].Maybe != nil || rows[0].DV != nil || rows[0].Du != nil || *rows[1].Maybe != 0 || *rows[2].Maybe != -7 || *rows[2].DV != 1.5 || *rows[2].Du != `"1.500s"` {
		t.Fatalf("rows %+v %+v %+v", rows[0], rows[1], rows[2])
	}
	in, d := parquetInput(t, wkt, buf.Bytes(), codec.DecoderOptions{IgnoreUnknown: true})
	for i, r := range readAll(t, in) {
		e, err := d.Decode(r)
		if err != nil {
			t.Fatalf("row %d: %v\n%s", i+1, err, d.ElementJSON(r))
		}
		wantPayload(t, e.Payload, want[i])
	}
}
