package codec_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/gridrun/gridrun/codec"
)

// spliceAgrees checks that when the splice takes a record, the general
// path (proto.Unmarshal into a dynamic message) takes it too, with the
// same id and key, and that the payload is the record itself.
func spliceAgrees(t *testing.T, d *codec.Decoder, record []byte) bool {
	t.Helper()
	fast, ok := codec.SpliceDecode(d, record)
	slow, err := codec.SlowDecoder(d).Decode(codec.Row{Line: 1, Data: record})
	if !ok {
		return false // declined: the general path answers alone
	}
	if err != nil {
		t.Fatalf("%x: the splice took a record the general path refuses: %v", record, err)
	}
	if fast.ID != slow.ID || fast.Key != slow.Key {
		t.Fatalf("%x: id/key %q/%q, general path %q/%q", record, fast.ID, fast.Key, slow.ID, slow.Key)
	}
	if !bytes.Equal(fast.Payload, record) {
		t.Fatalf("%x: payload %x is not the record", record, fast.Payload)
	}
	return true
}

// spliceDecoders are delimited decoders of the flat message with ids and
// keys drawn from every kind of field.
func spliceDecoders(t testing.TB) []*codec.Decoder {
	t.Helper()
	var ds []*codec.Decoder
	for _, c := range []struct{ id, key string }{
		{"id", "{str}/{i32}"},
		{"id", ""},
		{"u64", "{color}|{b}|{s32}|{sf32}|{i64}|{s64}|{sf64}"},
		{"i32", "{u32}|{fx32}|{fx64}|{fl}|{db}|{trade_date}"},
		{"color", "{by}"},
		{"db", "{fl}"},
	} {
		opts := codec.DecoderOptions{IDField: c.id}
		if c.key != "" {
			opts.Key = tmpl(t, c.key)
		}
		_, d := input(t, schema(t, flatSchema).Input, "flat.pb", codec.Delimited, "", opts)
		if !codec.HasSplice(d) {
			t.Fatal("no splice for a flat message")
		}
		ds = append(ds, d)
	}
	return ds
}

// mangle returns variants of a record the splice must either read as the
// general path does or decline: unknown fields, fields repeated (the last
// wins), a known field with another wire type, zeros written out, bad
// UTF-8, groups, truncation, bad field numbers.
func mangle(r *rand.Rand, rec []byte) [][]byte {
	tag := func(b []byte, num protowire.Number, typ protowire.Type) []byte {
		return protowire.AppendTag(b, num, typ)
	}
	out := [][]byte{rec}
	out = append(out, protowire.AppendVarint(tag(bytes.Clone(rec), 99, protowire.VarintType), 7))
	out = append(out, protowire.AppendBytes(tag(bytes.Clone(rec), 100, protowire.BytesType), []byte{0xff}))
	out = append(out, protowire.AppendBytes(tag(bytes.Clone(rec), 16, protowire.BytesType), []byte("last")))              // str again
	out = append(out, protowire.AppendVarint(tag(bytes.Clone(rec), 3, protowire.VarintType), 0))                          // i32 = 0 written out
	out = append(out, protowire.AppendVarint(tag(bytes.Clone(rec), 3, protowire.VarintType), 1<<32))                      // i32 truncated to 0
	out = append(out, protowire.AppendVarint(tag(bytes.Clone(rec), 11, protowire.VarintType), 0))                         // u64 = 0
	out = append(out, protowire.AppendFixed64(tag(bytes.Clone(rec), 14, protowire.Fixed64Type), 1<<63))                   // db = -0
	out = append(out, protowire.AppendFixed32(tag(bytes.Clone(rec), 3, protowire.Fixed32Type), 5))                        // i32 with a wrong type
	out = append(out, protowire.AppendBytes(tag(bytes.Clone(rec), 1, protowire.BytesType), []byte{'a', 0xff}))            // id not UTF-8
	out = append(out, protowire.AppendBytes(tag(bytes.Clone(rec), 1, protowire.BytesType), nil))                          // id emptied
	out = append(out, protowire.AppendVarint(tag(bytes.Clone(rec), 17, protowire.VarintType), 9))                         // unknown enum number
	out = append(out, protowire.AppendVarint(tag(bytes.Clone(rec), 2, protowire.VarintType), 300))                        // bool from a big varint
	out = append(out, tag(tag(bytes.Clone(rec), 50, protowire.StartGroupType), 50, protowire.EndGroupType))               // a group
	out = append(out, protowire.AppendVarint(tag(bytes.Clone(rec), protowire.MaxValidNumber+1, protowire.VarintType), 1)) // bad number
	out = append(out, append(bytes.Clone(rec), 0x00))                                                                     // field 0
	if len(rec) > 0 {
		out = append(out, rec[:r.IntN(len(rec))]) // truncated
		b := bytes.Clone(rec)
		b[r.IntN(len(b))] ^= byte(1 + r.IntN(255)) // a flipped byte
		out = append(out, b)
	}
	return out
}

func TestSpliceAgreesWithTheGeneralPath(t *testing.T) {
	t.Parallel()
	ds := spliceDecoders(t)
	desc := schema(t, flatSchema).Input
	r := rand.New(rand.NewPCG(3, 4))
	took, tried := 0, 0
	for range 1500 {
		m := randomFlat(r, desc)
		rec, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range mangle(r, rec) {
			for _, d := range ds {
				tried++
				if spliceAgrees(t, d, v) {
					took++
				}
			}
		}
	}
	// Most random records lack some field a key needs, and most variants
	// are meant to be declined; still, the common case must be taken.
	if took < tried/20 {
		t.Fatalf("the splice took only %d of %d records", took, tried)
	}
}

// The demo's trades, as the pricer's Trade records, all go through the
// splice, with their ids and keys.
func TestSpliceTakesTrades(t *testing.T) {
	t.Parallel()
	trade := tradeDesc(t)
	_, d := input(t, trade, "trades.pb", codec.Delimited, "", codec.DecoderOptions{Key: tmpl(t, "{underlying}/{type}")})
	for i, m := range []proto.Message{
		msg(t, trade, "id", "T1", "underlying", "AAPL", "type", "CALL", "strike", 101.5),
		msg(t, trade, "id", "T2", "underlying", "MSFT", "type", "PUT", "expiry", 0.5, "quantity", -3.0),
	} {
		rec, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		e, ok := codec.SpliceDecode(d, rec)
		want := []struct{ id, key string }{{"T1", "AAPL/CALL"}, {"T2", "MSFT/PUT"}}[i]
		if !ok || e.ID != want.id || e.Key != want.key || !bytes.Equal(e.Payload, rec) {
			t.Errorf("record %d: %+v, %v; want %s %s and the record", i+1, e, ok, want.id, want.key)
		}
	}
}

func FuzzSpliceDelimited(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 20 {
		rec, err := proto.Marshal(randomFlat(r, schema(f, flatSchema).Input))
		if err != nil {
			f.Fatal(err)
		}
		for _, v := range mangle(r, rec) {
			f.Add(v)
		}
	}
	ds := spliceDecoders(f)
	f.Fuzz(func(t *testing.T, record []byte) {
		for _, d := range ds {
			spliceAgrees(t, d, record)
		}
	})
}
