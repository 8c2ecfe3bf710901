package codec_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/wrapper"
)

var flatSchema = sync.OnceValues(func() (*wrapper.Schema, error) {
	return wrapper.SchemaFromProtoFiles(context.Background(),
		[]string{"testdata/kinds.proto"}, nil, "codectest.Flat", "codectest.Flat", "")
})

// agree checks that when the fast path takes a line, the general path
// takes it too and makes the same element.
func agree(t *testing.T, d *codec.Decoder, line string) {
	t.Helper()
	fast, ok := codec.FastDecode(d, []byte(line))
	slow, err := codec.SlowDecoder(d).Decode(codec.Row{Line: 1, Data: []byte(line)})
	if !ok {
		return // declined: the general path answers alone
	}
	if err != nil {
		t.Fatalf("%s: the fast path took a line the general path refuses: %v", line, err)
	}
	if fast.ID != slow.ID || fast.Key != slow.Key {
		t.Fatalf("%s: id/key %q/%q, general path %q/%q", line, fast.ID, fast.Key, slow.ID, slow.Key)
	}
	desc := schema(t, flatSchema).Input
	a, b := dynamicpb.NewMessage(desc), dynamicpb.NewMessage(desc)
	if err := proto.Unmarshal(fast.Payload, a); err != nil {
		t.Fatalf("%s: fast payload: %v", line, err)
	}
	if err := proto.Unmarshal(slow.Payload, b); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(a, b) {
		t.Fatalf("%s:\n fast    %v\n general %v", line, a, b)
	}
}

func flatDecoder(t *testing.T) *codec.Decoder {
	t.Helper()
	key, err := codec.ParseTemplate("{str}/{i32}")
	if err != nil {
		t.Fatal(err)
	}
	_, d := input(t, schema(t, flatSchema).Input, "flat.jsonl", codec.JSONL, "", codec.DecoderOptions{Key: key})
	return d
}

func TestFastDecodeAgreesWithTheGeneralPath(t *testing.T) {
	t.Parallel()
	d := flatDecoder(t)
	if fast, _ := codec.HasFastPaths(d, codec.NewResultEncoder(tradeDesc(t))); !fast {
		t.Fatal("no fast path for a flat message")
	}
	took := 0
	for _, line := range fastSeeds {
		agree(t, d, line)
		if _, ok := codec.FastDecode(d, []byte(line)); ok {
			took++
		}
	}
	if took < 10 {
		t.Fatalf("the fast path took only %d of the %d lines", took, len(fastSeeds))
	}
}

// The fast path remembers the key order of the rows it read; rows whose
// keys come in any order, or change names at a position, still decode as
// the general path decodes them.
func TestFastDecodeRowsInAnyKeyOrder(t *testing.T) {
	t.Parallel()
	d := flatDecoder(t)
	pairs := []string{`"id":"a"`, `"str":"x"`, `"i32":7`, `"db":1.5`, `"color":"GREEN"`, `"tradeDate":"2026-11-20"`, `"b":true`}
	alternates := map[string]string{`"tradeDate":"2026-11-20"`: `"trade_date":"2026-11-21"`, `"str":"x"`: `"str":"y"`}
	r := rand.New(rand.NewPCG(3, 3))
	took := 0
	for range 500 {
		row := slices.Clone(pairs)
		for i, p := range row {
			if alt, ok := alternates[p]; ok && r.IntN(2) == 0 {
				row[i] = alt
			}
		}
		r.Shuffle(len(row), func(i, j int) { row[i], row[j] = row[j], row[i] })
		row = row[:len(row)-r.IntN(3)] // sometimes without the id or the key's fields
		line := "{" + strings.Join(row, ",") + "}"
		agree(t, d, line)
		if _, ok := codec.FastDecode(d, []byte(line)); ok {
			took++
		}
	}
	if took < 100 {
		t.Fatalf("the fast path took only %d of 500 rows", took)
	}
}

// Rows wider than the key order remembered decode as the general path
// decodes them, the first time and the next.
func TestFastDecodeWideRows(t *testing.T) {
	t.Parallel()
	key, err := codec.ParseTemplate("{str}/{i32}")
	if err != nil {
		t.Fatal(err)
	}
	_, d := input(t, schema(t, flatSchema).Input, "flat.jsonl", codec.JSONL, "", codec.DecoderOptions{Key: key, IgnoreUnknown: true})
	var keys []string
	for i := range 300 {
		keys = append(keys, fmt.Sprintf(`"extra%d":%d`, i, i))
	}
	for _, at := range []int{0, 100, 299, 300} {
		row := slices.Insert(slices.Clone(keys), at, `"id":"a"`, `"str":"x"`, `"i32":7`)
		line := "{" + strings.Join(row, ",") + "}"
		for range 2 {
			agree(t, d, line)
			if _, ok := codec.FastDecode(d, []byte(line)); !ok {
				t.Fatalf("the fast path declined a row with the id at key %d", at)
			}
		}
	}
}

var fastSeeds = []string{
	`{"id":"a","str":"x","i32":7}`,
	`{"id":"a","str":"x","i32":"7"}`,
	`{ "id" : "a" , "str" : "x" , "i32" : -7 , "db" : 1e-7 , "fl" : 3.25 }`,
	`{"id":"a","str":"x","i32":0,"b":true,"color":"GREEN","u64":"18446744073709551615"}`,
	`{"id":"a","str":"x","i32":1,"color":"green","s32":-5,"s64":"-9223372036854775808"}`,
	`{"id":"a","str":"x","i32":1,"color":2,"sf32":-1,"sf64":-2,"fx32":4294967295,"fx64":1}`,
	`{"id":"a","str":"x","i32":1,"db":-0,"fl":-0.0,"by":"aGVsbG8="}`,
	`{"id":"a","str":"x","i32":1,"db":"NaN","fl":"Infinity","i64":1e3}`,
	`{"id":"a","str":"ünïcødé ✓","i32":1,"tradeDate":"2026-11-20"}`,
	`{"id":"a","str":"x","i32":1,"trade_date":"2026-11-20","b":false,"db":null}`,
	`{"id":12,"str":"x","i32":1}`,
	`{"id":"a","str":true,"i32":1}`,
	`{"id":"a","str":"x","i32":1,"u32":4294967296}`,
	`{"id":"a","str":"x","i32":1.5}`,
	`{"id":"a","str":"x","i32":01}`,
	`{"id":"a","str":"x","i32":+1}`,
	`{"id":"a","str":"a\"b","i32":1}`,
	`{"id":"a","str":"x","i32":1,"nope":1}`,
	`{"id":"a","str":"x","i32":1,"i32":2}`,
	`{"id":"","str":"x","i32":1}`,
	`{"str":"x","i32":1}`,
	`{"id":"a","i32":1}`,
	`{"id":"a","str":"x","i32":1,"db":"1e400"}`,
	`{"id":"a","str":"x","i32":1} x`,
	`{"id":"a","str":"x","i32":1,}`,
	`{"id":"a","str":"x","i32":[1]}`,
	`{"id":"a","str":"x","i32":{"n":1}}`,
	`{}`,
	`[]`,
	`{"id":"a","str":"x","i32":1,"b":"true"}`,
	`{"id":"a","str":"x","i32":1,"color":"PURPLE"}`,
	`{"id":"a","str":"x","i32":1,"by":"not base64!"}`,
}

func FuzzFastDecode(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		agree(t, flatDecoder(t), line)
	})
}

// The fast rendering of results is byte for byte the general one.
func TestFastResultsAreTheGeneralOnes(t *testing.T) {
	t.Parallel()
	for _, desc := range []protoreflect.MessageDescriptor{priceDesc(t), schema(t, flatSchema).Result} {
		e := codec.NewResultEncoder(desc)
		if _, fast := codec.HasFastPaths(nil, e); !fast {
			t.Fatalf("%s: no fast path", desc.FullName())
		}
		slow := codec.SlowEncoder(e)
		r := rand.New(rand.NewPCG(9, 9))
		for i := range 3000 {
			m := randomFlat(r, desc)
			payload, err := proto.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			id := []string{"T1", "a<b>&c", "qu\"ote", "tab\there", "é"}[i%5]
			got, err1 := e.AppendLine(nil, id, payload)
			want, err2 := slow.AppendLine(nil, id, payload)
			if (err1 == nil) != (err2 == nil) || !bytes.Equal(got, want) {
				t.Fatalf("%v:\n fast    %s (%v)\n general %s (%v)", m, got, err1, want, err2)
			}
		}
	}
}

// randomFlat fills a flat message with values chosen to hit the formatting
// corners: zeros, extremes, NaN and infinities, -0, tiny and huge floats,
// control characters, unknown enum numbers.
func randomFlat(r *rand.Rand, desc protoreflect.MessageDescriptor) *dynamicpb.Message {
	m := dynamicpb.NewMessage(desc)
	fs := desc.Fields()
	floats := []float64{0, math.Copysign(0, -1), 1, -1.5, 1e-7, 1e21, 123456789.125, math.NaN(), math.Inf(1), math.Inf(-1), math.SmallestNonzeroFloat64, math.MaxFloat64}
	for i := range fs.Len() {
		fd := fs.Get(i)
		if r.IntN(4) == 0 {
			continue
		}
		var v protoreflect.Value
		switch fd.Kind() {
		case protoreflect.BoolKind:
			v = protoreflect.ValueOfBool(r.IntN(2) == 1)
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			v = protoreflect.ValueOfInt32([]int32{0, -1, 1, math.MinInt32, math.MaxInt32, int32(r.Uint32())}[r.IntN(6)])
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			v = protoreflect.ValueOfInt64([]int64{0, -1, math.MinInt64, math.MaxInt64, int64(r.Uint64())}[r.IntN(5)])
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
			v = protoreflect.ValueOfUint32([]uint32{0, 1, math.MaxUint32, r.Uint32()}[r.IntN(4)])
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			v = protoreflect.ValueOfUint64([]uint64{0, 1, math.MaxUint64, r.Uint64()}[r.IntN(4)])
		case protoreflect.FloatKind:
			v = protoreflect.ValueOfFloat32(float32(floats[r.IntN(len(floats))] * r.Float64()))
		case protoreflect.DoubleKind:
			f := floats[r.IntN(len(floats))]
			if r.IntN(2) == 0 {
				f *= r.NormFloat64()
			}
			v = protoreflect.ValueOfFloat64(f)
		case protoreflect.StringKind:
			v = protoreflect.ValueOfString([]string{"", "plain", "é✓", "ctl\x01\x1f", "q\"b\\s", "<>&", strings.Repeat("x", 200)}[r.IntN(7)])
		case protoreflect.BytesKind:
			v = protoreflect.ValueOfBytes([]byte{0, 255, byte(r.IntN(256))}[:r.IntN(4)])
		case protoreflect.EnumKind:
			v = protoreflect.ValueOfEnum(protoreflect.EnumNumber(r.IntN(5)))
		default:
			continue
		}
		m.Set(fd, v)
	}
	return m
}
