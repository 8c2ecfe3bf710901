package codec_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/parquet-go/parquet-go"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/internal/testgen"
	"github.com/gridrun/gridrun/wrapper"
)

var fastParquetSchema = sync.OnceValues(func() (*wrapper.Schema, error) {
	return wrapper.SchemaFromProtoFiles(context.Background(),
		[]string{"testdata/parquetfast.proto"}, nil, "codecfast.Row", "codecfast.Row", "")
})

// genColumn is one column of a generated file: its node and a value
// generator, which returns nil for a null.
type genColumn struct {
	node  parquet.Node
	value func(r *rand.Rand, row int) any
}

// pick returns one of xs.
func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

var (
	edgeInts = []int64{0, 1, -1, math.MaxInt32, math.MinInt32, math.MaxInt32 + 1, math.MinInt32 - 1,
		math.MaxInt64, math.MinInt64, math.MaxUint32, 1 << 53, 1<<53 + 1}
	edgeFloats = []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e300, -1e-300, math.Inf(1), math.Inf(-1), math.NaN(),
		math.MaxFloat64, math.SmallestNonzeroFloat64}
	clean = []string{"", "a", "Ünïcödé", "BUY", "SELL", "SIDE_UNSPECIFIED"}
	texts = []string{"", "a", "Ünïcödé", "with \"quotes\"\n", "BUY", "SELL", "buy", "SIDE_UNSPECIFIED", "1", "2", "nope", "\xff\xfe", "{\"j\":1}"}
)

// Edge values are rare enough that most rows have none: a row with one
// the fast path declines is the general path's alone.
func genInt(r *rand.Rand) int64 {
	if r.IntN(60) == 0 {
		return pick(r, edgeInts...)
	}
	return r.Int64N(1000)
}

func genFloat(r *rand.Rand) float64 {
	if r.IntN(60) == 0 {
		return pick(r, edgeFloats...)
	}
	return r.NormFloat64() * 100
}

// intColumn is a column of integers of one of the physical and logical
// types a writer may choose for them.
func intColumn(r *rand.Rand) genColumn {
	switch r.IntN(4) {
	case 0:
		return genColumn{parquet.Int(32), func(r *rand.Rand, _ int) any { return int32(genInt(r)) }}
	case 1:
		return genColumn{parquet.Uint(32), func(r *rand.Rand, _ int) any { return uint32(genInt(r)) }}
	case 2:
		return genColumn{parquet.Uint(64), func(r *rand.Rand, _ int) any { return uint64(genInt(r)) }}
	}
	return genColumn{parquet.Int(64), func(r *rand.Rand, _ int) any { return genInt(r) }}
}

// columnFor returns a column that fills field name, or one of a type the
// fast path declines (a date, a timestamp) once in a while.
func columnFor(r *rand.Rand, fd protoreflect.FieldDescriptor, texts []string, odd bool) genColumn {
	if odd && r.IntN(10) == 0 {
		return genColumn{parquet.Date(), func(r *rand.Rand, _ int) any { return int32(r.IntN(30000)) }}
	}
	text := func(r *rand.Rand, _ int) any {
		if r.IntN(60) == 0 {
			return pick(r, texts...)
		}
		return pick(r, clean...)
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return genColumn{parquet.Leaf(parquet.BooleanType), func(r *rand.Rand, _ int) any { return r.IntN(2) == 0 }}
	case protoreflect.FloatKind:
		return genColumn{parquet.Leaf(parquet.FloatType), func(r *rand.Rand, _ int) any { return float32(genFloat(r)) }}
	case protoreflect.DoubleKind:
		if r.IntN(3) == 0 {
			return intColumn(r)
		}
		return genColumn{parquet.Leaf(parquet.DoubleType), func(r *rand.Rand, _ int) any { return genFloat(r) }}
	case protoreflect.BytesKind:
		if r.IntN(3) == 0 {
			return genColumn{parquet.Leaf(parquet.FixedLenByteArrayType(3)), func(r *rand.Rand, _ int) any {
				return []byte{byte(r.IntN(256)), 0, byte(r.IntN(3))}
			}}
		}
		return genColumn{parquet.Leaf(parquet.ByteArrayType), func(r *rand.Rand, _ int) any { return []byte(text(r, 0).(string)) }}
	case protoreflect.EnumKind:
		return genColumn{parquet.String(), func(r *rand.Rand, _ int) any {
			if r.IntN(60) == 0 {
				return pick(r, texts...)
			}
			return pick(r, "BUY", "SELL", "SIDE_UNSPECIFIED")
		}}
	case protoreflect.StringKind:
		return genColumn{parquet.String(), text}
	}
	return intColumn(r)
}

// genFile writes a Parquet file of the fast path's test message's fields,
// extra strings among its texts, some fields left out, each column required or optional, plain or dictionary,
// in row groups and pages of random sizes; and says whether it has a
// column the message does not know.
func genFile(t testing.TB, r *rand.Rand, desc protoreflect.MessageDescriptor, rows int, extra ...string) ([]byte, bool) {
	t.Helper()
	texts := append(slices.Clip(texts), extra...)
	cols := map[string]genColumn{}
	odd := r.IntN(15) == 0 // a file with columns the fast path declines
	fs := desc.Fields()
	for i := range fs.Len() {
		fd := fs.Get(i)
		if fd.Name() != "id" && r.IntN(5) == 0 {
			continue
		}
		cols[string(fd.Name())] = columnFor(r, fd, texts, odd)
	}
	// Ids mostly unique and present; now and then missing or empty.
	cols["id"] = genColumn{parquet.String(), func(r *rand.Rand, row int) any {
		if r.IntN(200) == 0 {
			return ""
		}
		return fmt.Sprintf("r%d", row)
	}}
	unknown := r.IntN(3) == 0
	if unknown {
		cols["note"] = genColumn{parquet.String(), func(r *rand.Rand, _ int) any { return pick(r, texts...) }}
	}
	group := parquet.Group{}
	optional := map[string]bool{}
	for name, c := range cols {
		n := c.node
		if r.IntN(3) == 0 {
			n = parquet.Encoded(n, &parquet.RLEDictionary)
		}
		if r.IntN(2) == 0 {
			n = parquet.Optional(n)
			optional[name] = true
		}
		group[name] = n
	}
	schema := parquet.NewSchema("row", group)
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, schema,
		parquet.PageBufferSize(64+r.IntN(4096)),
		parquet.MaxRowsPerRowGroup(int64(1+r.IntN(max(rows, 1)))),
		parquet.DataPageVersion(pick(r, 1, 2)))
	names := slices.Sorted(maps.Keys(cols)) // a group's columns are in name order
	for i := range rows {
		row := make(parquet.Row, len(names))
		for j, name := range names {
			var v any
			if !optional[name] || r.IntN(4) != 0 {
				v = cols[name].value(r, i)
			}
			def := 0
			if optional[name] && v != nil {
				def = 1
			}
			row[j] = parquetValue(v).Level(0, def, j)
		}
		if _, err := w.WriteRows([]parquet.Row{row}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), unknown
}

func parquetValue(v any) parquet.Value {
	switch v := v.(type) {
	case nil:
		return parquet.Value{}
	case bool:
		return parquet.BooleanValue(v)
	case int32:
		return parquet.Int32Value(v)
	case uint32:
		return parquet.Int32Value(int32(v))
	case int64:
		return parquet.Int64Value(v)
	case uint64:
		return parquet.Int64Value(int64(v))
	case float32:
		return parquet.FloatValue(v)
	case float64:
		return parquet.DoubleValue(v)
	case string:
		return parquet.ByteArrayValue([]byte(v))
	case []byte:
		if len(v) == 3 {
			return parquet.FixedLenByteArrayValue(v)
		}
		return parquet.ByteArrayValue(v)
	}
	panic(fmt.Sprintf("no Parquet value for %T", v))
}

// fastTally counts what the fast path did, so that a test can tell it
// was exercised and not merely declined.
type fastTally struct{ encoded, declined, files int }

// compareParquetPaths reads file through the fast path and the general
// path and requires the same rows: ids, keys, payloads byte for byte, the
// same errors, and the same rows as given (less the columns the fast path
// does not read).
func compareParquetPaths(t testing.TB, desc protoreflect.MessageDescriptor, file []byte, opts codec.DecoderOptions, tally *fastTally) {
	t.Helper()
	fr, fd := parquetInput(t, desc, file, opts)
	sr, err := codec.NewSlowParquetReader(bytes.NewReader(file), int64(len(file)), "in.parquet")
	if err != nil {
		t.Fatal(err)
	}
	sd, err := codec.NewDecoder(desc, sr, codec.Parquet, opts)
	if err != nil {
		t.Fatal(err)
	}
	fast, slow := readAll(t, fr), readAll(t, sr)
	if len(fast) != len(slow) {
		t.Fatalf("%d rows through the fast path, %d through the general one", len(fast), len(slow))
	}
	read := false
	for i := range fast {
		f, s := fast[i], slow[i]
		if f.Index != s.Index || f.Line != s.Line {
			t.Fatalf("row %d: index/line %d/%d, general path %d/%d", i, f.Index, f.Line, s.Index, s.Line)
		}
		r, encoded := codec.ParquetFast(f)
		read = read || r
		if encoded {
			tally.encoded++
		} else if r {
			tally.declined++
		}
		fe, ferr := fd.Decode(f)
		se, serr := sd.Decode(s)
		if fmt.Sprint(ferr) != fmt.Sprint(serr) {
			t.Fatalf("row %d: error %v, general path %v\nrow %s", i, ferr, serr, sd.ElementJSON(s))
		}
		if fe.ID != se.ID || fe.Key != se.Key || !bytes.Equal(fe.Payload, se.Payload) {
			t.Fatalf("row %d (encoded by the fast path: %v):\n fast    %q %q %x\n general %q %q %x\nrow %s",
				i, encoded, fe.ID, fe.Key, fe.Payload, se.ID, se.Key, se.Payload, sd.ElementJSON(s))
		}
		fj, sj := fd.ElementJSON(f), sd.ElementJSON(s)
		if opts.IgnoreUnknown && r {
			// The fast path does not read the column the job ignores.
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(sj, &obj); err != nil {
				t.Fatal(err)
			}
			delete(obj, "note")
			var fobj map[string]json.RawMessage
			if err := json.Unmarshal(fj, &fobj); err != nil {
				t.Fatalf("row %d: %s: %v", i, fj, err)
			}
			if !maps.EqualFunc(obj, fobj, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }) {
				t.Fatalf("row %d as given: %s, general path %s", i, fj, sj)
			}
		} else if !bytes.Equal(fj, sj) {
			t.Fatalf("row %d as given: %s, general path %s", i, fj, sj)
		}
	}
	if read {
		tally.files++
	}
}

// The fast path makes the elements, errors and rows as given the general
// path makes, over files of every scalar kind, nulls, optional fields,
// several row groups and pages, plain and dictionary encodings.
func TestParquetFastPathIsTheGeneralPath(t *testing.T) {
	t.Parallel()
	desc := schema(t, fastParquetSchema).Input
	var tally fastTally
	for seed := range uint64(80) {
		r := rand.New(rand.NewPCG(seed, 19))
		file, unknown := genFile(t, r, desc, 1+r.IntN(2000))
		opts := codec.DecoderOptions{IgnoreUnknown: unknown}
		if r.IntN(2) == 0 {
			opts.Key = tmpl(t, "{id}")
		}
		t.Run(fmt.Sprint(seed), func(t *testing.T) { compareParquetPaths(t, desc, file, opts, &tally) })
	}
	// Held to the general path only where it took the row: it must have
	// taken most, and declined some.
	t.Logf("the fast path read %d files, encoded %d rows and declined %d", tally.files, tally.encoded, tally.declined)
	if tally.files < 40 || tally.encoded < 10*tally.declined || tally.declined == 0 {
		t.Fatalf("the fast path read %d files, encoded %d rows and declined %d", tally.files, tally.encoded, tally.declined)
	}
}

// The fast path reads the trades of the benchmark, in row groups and
// pages, as the general path does.
func TestParquetFastPathTrades(t *testing.T) {
	t.Parallel()
	trades := testgen.Trades(5000, testgen.Quotes(30, 1), 3, testgen.TradeOptions{AsianShare: 0.3, Paths: 5000})
	file := tradesParquet(t, trades, 1200)
	var tally fastTally
	compareParquetPaths(t, tradeDesc(t), file, codec.DecoderOptions{Key: tmpl(t, "{underlying}")}, &tally)
	if tally.encoded != len(trades) {
		t.Fatalf("the fast path encoded %d of %d trades (declined %d)", tally.encoded, len(trades), tally.declined)
	}
}

// FuzzParquetFastPath holds the fast path to the general one on files
// generated from the fuzzer's seed, with one string of its own in every
// text column.
func FuzzParquetFastPath(f *testing.F) {
	desc := schema(f, fastParquetSchema).Input
	f.Add(uint64(1), uint16(10), "BUY")
	f.Add(uint64(2), uint16(700), "\xff")
	f.Fuzz(func(t *testing.T, seed uint64, rows uint16, s string) {
		r := rand.New(rand.NewPCG(seed, 7))
		file, unknown := genFile(t, r, desc, int(rows%2000)+1, s, s+s)
		compareParquetPaths(t, desc, file, codec.DecoderOptions{IgnoreUnknown: unknown, Key: tmpl(t, "{id}")}, &fastTally{})
	})
}

// TestParquetValueViewFits checks that the fast path still reads the
// library's values in place: when a new version of parquet-go changes the
// value's layout, the fast path declines every file, which no other test
// would notice.
func TestParquetValueViewFits(t *testing.T) {
	if !codec.ParquetValueViewFits() {
		t.Fatal("parquet.Value's layout no longer matches valueView: the Parquet fast path is off")
	}
}
