package codec_test

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gridrun/gridrun/codec"
)

func tmpl(tb testing.TB, s string) *codec.Template {
	tb.Helper()
	t, err := codec.ParseTemplate(s)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func TestNewDecoderConfigErrors(t *testing.T) {
	t.Parallel()
	trade, kinds := tradeDesc(t), kindsDesc(t)
	for _, tc := range []struct {
		name   string
		desc   protoreflect.MessageDescriptor
		format codec.Format
		data   string
		opts   codec.DecoderOptions
		msg    []string
	}{
		{"CSV column not a field", trade, codec.CSV, "id,strike,desk\n", codec.DecoderOptions{},
			[]string{"in:1", `column "desk"`, "pricer.Trade", "underlying"}},
		{"CSV without the id column", trade, codec.CSV, "trade,strike\n", codec.DecoderOptions{IgnoreUnknown: true},
			[]string{"in:1", `no id column "id"`}},
		{"CSV without a named id column", trade, codec.CSV, "id,strike\n", codec.DecoderOptions{IDField: "trade_id", IgnoreUnknown: true},
			[]string{"in:1", `"trade_id"`, "(columns: id, strike)"}},
		{"CSV key field not a column", trade, codec.CSV, "id,strike\n", codec.DecoderOptions{Key: tmpl(t, "{underlying}")},
			[]string{"in", `"underlying"`}},
		{"CSV key field unknown", trade, codec.CSV, "id,strike\n", codec.DecoderOptions{Key: tmpl(t, "{desk}")},
			[]string{"in", `"desk"`, "{desk}"}},
		{"JSONL key field unknown", trade, codec.JSONL, "", codec.DecoderOptions{Key: tmpl(t, "{underlying}/{desk}")},
			[]string{"in", `"desk"`, "{underlying}/{desk}", "pricer.Trade"}},
		{"pb key field unknown", trade, codec.Delimited, "", codec.DecoderOptions{Key: tmpl(t, "{desk}"), IgnoreUnknown: true},
			[]string{"in", `"desk"`}},
		{"pb id not a field", trade, codec.Delimited, "", codec.DecoderOptions{IDField: "row"},
			[]string{"in", `id field "row"`, "pricer.Trade"}},
		{"id bytes", kinds, codec.JSONL, "", codec.DecoderOptions{IDField: "by"}, []string{`"by"`, "not a string or number"}},
		{"id repeated", kinds, codec.JSONL, "", codec.DecoderOptions{IDField: "ints"}, []string{`"ints"`, "not a string or number"}},
		{"id message", kinds, codec.CSV, "inner\n", codec.DecoderOptions{IDField: "inner"}, []string{`"inner"`, "not a string or number"}},
		{"id map", kinds, codec.Delimited, "", codec.DecoderOptions{IDField: "counts"}, []string{`"counts"`, "not a string or number"}},
		{"id timestamp", kinds, codec.Delimited, "", codec.DecoderOptions{IDField: "at"}, []string{`"at"`, "not a string or number"}},
	} {
		r := newReader(t, "in", tc.format, tc.data)
		d, err := codec.NewDecoder(tc.desc, r, tc.format, tc.opts)
		if err == nil {
			t.Errorf("%s: NewDecoder succeeded", tc.name)
			continue
		}
		if d != nil {
			t.Errorf("%s: a decoder with the error", tc.name)
		}
		contains(t, err, tc.msg...)
	}
}

func TestNewDecoderAccepts(t *testing.T) {
	t.Parallel()
	trade, kinds := tradeDesc(t), kindsDesc(t)
	for _, tc := range []struct {
		name   string
		desc   protoreflect.MessageDescriptor
		format codec.Format
		data   string
		opts   codec.DecoderOptions
	}{
		{"CSV extra column ignored", trade, codec.CSV, "id,desk\n", codec.DecoderOptions{IgnoreUnknown: true}},
		{"CSV key from a column that is not a field", trade, codec.CSV, "id,desk\n", codec.DecoderOptions{IgnoreUnknown: true, Key: tmpl(t, "{desk}")}},
		{"CSV key from the id column", trade, codec.CSV, "row,strike\n", codec.DecoderOptions{IDField: "row", Key: tmpl(t, "{row}")}},
		{"CSV columns by JSON name", kinds, codec.CSV, "id,tradeDate\n", codec.DecoderOptions{}},
		{"JSONL id not a field", trade, codec.JSONL, "", codec.DecoderOptions{IDField: "row", Key: tmpl(t, "{row}")}},
		{"JSONL key from unknown fields when they are accepted", trade, codec.JSONL, "", codec.DecoderOptions{IgnoreUnknown: true, Key: tmpl(t, "{desk}")}},
		{"numeric id", kinds, codec.Delimited, "", codec.DecoderOptions{IDField: "u64"}},
		{"enum id", kinds, codec.Delimited, "", codec.DecoderOptions{IDField: "color"}},
		{"bool id", kinds, codec.JSONL, "", codec.DecoderOptions{IDField: "b"}},
	} {
		if _, err := codec.NewDecoder(tc.desc, newReader(t, "in", tc.format, tc.data), tc.format, tc.opts); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// decodeAll decodes every row of an input, returning the elements and the
// errors by row.
func decodeAll(tb testing.TB, r codec.Reader, d *codec.Decoder) ([]codec.Element, []error) {
	tb.Helper()
	var (
		elems []codec.Element
		errs  []error
	)
	for _, row := range readAll(tb, r) {
		e, err := d.Decode(row)
		elems, errs = append(elems, e), append(errs, err)
	}
	return elems, errs
}

func wantElement(tb testing.TB, e codec.Element, err error, id, key string, want proto.Message) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("element %s: %v", id, err)
	}
	if e.ID != id || e.Key != key {
		tb.Fatalf("element %q key %q, want %q key %q", e.ID, e.Key, id, key)
	}
	wantPayload(tb, e.Payload, want)
}

// wantIDs checks the id each failed row's *RowError carries, by row.
func wantIDs(tb testing.TB, errs []error, want map[int]string) {
	tb.Helper()
	for i, id := range want {
		var re *codec.RowError
		if !errors.As(errs[i], &re) {
			tb.Fatalf("row %d: %v, want a *RowError", i, errs[i])
		}
		if re.ID != id {
			tb.Errorf("row %d (%v): id %q, want %q", i, re, re.ID, id)
		}
	}
}

func TestDecodeJSONL(t *testing.T) {
	t.Parallel()
	trade := tradeDesc(t)
	data := strings.Join([]string{
		`{"id":"T1","underlying":"AAPL","type":"CALL","style":"EUROPEAN","strike":101.5,"expiry":"0.5","quantity":1e2,"paths":"1000","fixings":12}`,
		``,
		`{"id":"T2","underlying":"MSFT","type":"put","strike":"90","bogus":1}`,
		`   `,
		`{"id":"T3","underlying":"MSFT","type":2,"strike":"ninety"}`,
		`{"underlying":"X","type":"CALL"}`,
		`{"id":"T4","type":"CALL"}`,
		`{"id":`,
		`{"id":"T5","underlying":"GOOG","type":"put","style":null,"strike":null}`,
		`[1,2]`,
		`{"id":"T6","underlying":"IBM","type":"CALL","paths":-1}`,
		`{"id":"T7","underlying":"IBM","type":"CALL","paths":4294967296}`,
		`{"id":"T8","underlying":"IBM","type":"CALLABLE"}`,
		`{"id":"T9","underlying":"IBM","type":"CALL","strike":{"v":1}}`,
		`null`,
		`{"id":"T10","underlying":"IBM","type":"PUT","quantity":"NaN","expiry":"Infinity"}`,
	}, "\n") + "\n"
	r, d := input(t, trade, "trades.jsonl", codec.JSONL, data, codec.DecoderOptions{Key: tmpl(t, "{underlying}/{type}")})
	elems, errs := decodeAll(t, r, d)
	if len(elems) != 14 {
		t.Fatalf("%d rows, want 14", len(elems))
	}
	wantElement(t, elems[0], errs[0], "T1", "AAPL/CALL", msg(t, trade,
		"id", "T1", "underlying", "AAPL", "type", "CALL", "style", "EUROPEAN",
		"strike", 101.5, "expiry", 0.5, "quantity", 100.0, "paths", uint32(1000), "fixings", uint32(12)))
	re := rowError(t, errs[1], "trades.jsonl", 3, "bogus")
	if !strings.Contains(re.Msg, "pricer.Trade") {
		t.Errorf("unknown field message %q does not name the message", re.Msg)
	}
	rowError(t, errs[2], "trades.jsonl", 5, "strike")
	rowError(t, errs[3], "trades.jsonl", 6, "id")
	rowError(t, errs[4], "trades.jsonl", 7, "underlying")
	contains(t, rowError(t, errs[5], "trades.jsonl", 8, ""), "trades.jsonl:8", "not a JSON object")
	// The key is the text as written: a lowercase enum name stays lowercase.
	wantElement(t, elems[6], errs[6], "T5", "GOOG/put", msg(t, trade, "id", "T5", "underlying", "GOOG", "type", "PUT"))
	rowError(t, errs[7], "trades.jsonl", 10, "")
	rowError(t, errs[8], "trades.jsonl", 11, "paths")
	rowError(t, errs[9], "trades.jsonl", 12, "paths")
	rowError(t, errs[10], "trades.jsonl", 13, "type")
	rowError(t, errs[11], "trades.jsonl", 14, "strike")
	rowError(t, errs[12], "trades.jsonl", 15, "id")
	if errs[13] != nil {
		t.Fatalf("T10: %v", errs[13])
	}
	// A row that fails is still found by id when its id can be read.
	wantIDs(t, errs, map[int]string{1: "T2", 2: "T3", 3: "", 4: "T4", 5: "", 7: "", 8: "T6", 9: "T7", 10: "T8", 11: "T9", 12: ""})
	got := decodeTrade(t, elems[13].Payload)
	q, e := got.Get(field(t, trade, "quantity")).Float(), got.Get(field(t, trade, "expiry")).Float()
	if !math.IsNaN(q) || !math.IsInf(e, 1) {
		t.Fatalf("quantity %v expiry %v, want NaN and +Inf", q, e)
	}
	for i, e := range errs {
		if e == nil && elems[i].ID == "" {
			t.Errorf("row %d decoded without an id", i)
		}
		if e != nil && (elems[i].ID != "" || elems[i].Payload != nil) {
			t.Errorf("row %d: error %v with element %+v", i, e, elems[i])
		}
	}
}

func decodeTrade(tb testing.TB, payload []byte) protoreflect.Message {
	tb.Helper()
	m := msg(tb, tradeDesc(tb))
	if err := proto.Unmarshal(payload, m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// The two unknown fields are reported in the same order every time, not in
// Go's random map order.
func TestDecodeJSONLErrorsAreStable(t *testing.T) {
	t.Parallel()
	r, d := input(t, tradeDesc(t), "t.jsonl", codec.JSONL, `{"id":"a","zeta":1,"alpha":2,"strike":"x"}`+"\n", codec.DecoderOptions{})
	row := readAll(t, r)[0]
	for range 20 {
		_, err := d.Decode(row)
		rowError(t, err, "t.jsonl", 1, "alpha")
	}
}

func TestDecodeJSONLIDs(t *testing.T) {
	t.Parallel()
	trade, kinds := tradeDesc(t), kindsDesc(t)
	for _, tc := range []struct {
		name     string
		desc     protoreflect.MessageDescriptor
		opts     codec.DecoderOptions
		line     string
		id, key  string
		want     []any // fields of the expected payload
		errField string
	}{
		{name: "id from a key that is not a field", desc: trade, opts: codec.DecoderOptions{IDField: "row", Key: tmpl(t, "{row}-{underlying}")},
			line: `{"row":"r1","underlying":"X"}`, id: "r1", key: "r1-X", want: []any{"underlying", "X"}},
		{name: "numeric id in a string field", desc: trade,
			line: `{"id":42}`, id: "42", want: []any{"id", "42"}},
		{name: "numeric id field", desc: kinds, opts: codec.DecoderOptions{IDField: "i64"},
			line: `{"i64":42,"str":"a"}`, id: "42", want: []any{"i64", i64(42), "str", "a"}},
		{name: "quoted numeric id field", desc: kinds, opts: codec.DecoderOptions{IDField: "i64"},
			line: `{"i64":"43"}`, id: "43", want: []any{"i64", i64(43)}},
		{name: "id by JSON name", desc: kinds, opts: codec.DecoderOptions{IDField: "tradeDate"},
			line: `{"tradeDate":"2024-01-02"}`, id: "2024-01-02", want: []any{"trade_date", "2024-01-02"}},
		{name: "unknown fields accepted", desc: trade, opts: codec.DecoderOptions{IgnoreUnknown: true, Key: tmpl(t, "{desk}")},
			line: `{"id":"a","desk":"eq","bogus":[1]}`, id: "a", key: "eq", want: []any{"id", "a"}},
		{name: "key from a number", desc: trade, opts: codec.DecoderOptions{Key: tmpl(t, "{underlying}@{strike}")},
			line: `{"id":"a","underlying":"X","strike":100}`, id: "a", key: "X@100", want: []any{"id", "a", "underlying", "X", "strike", 100.0}},
		{name: "empty id", desc: trade, line: `{"id":""}`, errField: "id"},
		{name: "null id", desc: trade, line: `{"id":null,"underlying":"X"}`, errField: "id"},
		{name: "object id", desc: trade, line: `{"id":{"a":1}}`, errField: "id"},
		{name: "missing id not a field", desc: trade, opts: codec.DecoderOptions{IDField: "row"}, line: `{"id":"a"}`, errField: "row"},
		{name: "null key field", desc: trade, opts: codec.DecoderOptions{Key: tmpl(t, "{underlying}")}, line: `{"id":"a","underlying":null}`, errField: "underlying"},
		{name: "id of the wrong type", desc: kinds, opts: codec.DecoderOptions{IDField: "i64"}, line: `{"i64":"x"}`, errField: "i64"},
	} {
		r, d := input(t, tc.desc, "in.jsonl", codec.JSONL, "\n"+tc.line+"\n", tc.opts)
		rows := readAll(t, r)
		e, err := d.Decode(rows[0])
		if tc.errField != "" {
			rowError(t, err, "in.jsonl", 2, tc.errField)
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if e.ID != tc.id || e.Key != tc.key {
			t.Errorf("%s: id %q key %q, want %q and %q", tc.name, e.ID, e.Key, tc.id, tc.key)
		}
		wantPayload(t, e.Payload, msg(t, tc.desc, tc.want...))
	}
}

// The same row gives the same bytes every time, whatever the order of its
// keys.
func TestDecodePayloadIsDeterministic(t *testing.T) {
	t.Parallel()
	kinds := kindsDesc(t)
	lines := `{"id":"a","counts":{"z":1,"a":2,"m":3},"ints":[3,1],"i32":5,"str":"s"}` + "\n" +
		`{"str":"s","i32":5,"ints":[3,1],"counts":{"m":3,"z":1,"a":2},"id":"a"}` + "\n"
	r, d := input(t, kinds, "in.jsonl", codec.JSONL, lines, codec.DecoderOptions{})
	elems, errs := decodeAll(t, r, d)
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if !bytes.Equal(elems[0].Payload, elems[1].Payload) {
		t.Fatalf("same row, different bytes:\n%x\n%x", elems[0].Payload, elems[1].Payload)
	}
	for range 10 {
		e, _ := d.Decode(readAll(t, newReader(t, "in.jsonl", codec.JSONL, lines))[0])
		if !bytes.Equal(e.Payload, elems[0].Payload) {
			t.Fatal("bytes differ between decodes")
		}
	}
}

func TestDecodeCSV(t *testing.T) {
	t.Parallel()
	trade := tradeDesc(t)
	data := "id,underlying,type,style,strike,expiry,quantity,paths\n" + // 1
		"T1,AAPL,call,European,101.5,0.5,1e2,1000\n" + // 2
		"T2,MSFT,PUT,,90,,,\n" + // 3: empty cells leave the defaults
		"\"T3\",\"multi\nline\",CALL,,x,,,\n" + // 4-5
		",MSFT,CALL,,1,,,\n" + // 6: no id
		"\n" + // 7
		"T5,,CALL,,1,,,\n" + // 8: no key
		"T6,GOOG,CALL\n" + // 9: cells missing
		"T7,GOOG,STRADDLE,,1,,,\n" + // 10
		"T8,GOOG,PUT,,1,,,-3\n" // 11
	for _, eol := range []string{"\n", "\r\n"} {
		r, d := input(t, trade, "trades.csv", codec.CSV, strings.ReplaceAll(data, "\n", eol), codec.DecoderOptions{Key: tmpl(t, "{underlying}")})
		elems, errs := decodeAll(t, r, d)
		if len(elems) != 8 {
			t.Fatalf("%d rows, want 8", len(elems))
		}
		wantElement(t, elems[0], errs[0], "T1", "AAPL", msg(t, trade,
			"id", "T1", "underlying", "AAPL", "type", "CALL", "style", "EUROPEAN",
			"strike", 101.5, "expiry", 0.5, "quantity", 100.0, "paths", uint32(1000)))
		wantElement(t, elems[1], errs[1], "T2", "MSFT", msg(t, trade, "id", "T2", "underlying", "MSFT", "type", "PUT", "strike", 90.0))
		rowError(t, errs[2], "trades.csv", 4, "strike")
		rowError(t, errs[3], "trades.csv", 6, "id")
		rowError(t, errs[4], "trades.csv", 8, "underlying")
		contains(t, rowError(t, errs[5], "trades.csv", 9, ""), "3 cells", "header has 8")
		rowError(t, errs[6], "trades.csv", 10, "type")
		rowError(t, errs[7], "trades.csv", 11, "paths")
		wantIDs(t, errs, map[int]string{2: "T3", 3: "", 4: "T5", 5: "T6", 6: "T7", 7: "T8"})
	}
}

// After a bad cell the row fails; the next row does not inherit its values.
func TestDecodeCSVRowsAreIndependent(t *testing.T) {
	t.Parallel()
	trade := tradeDesc(t)
	r, d := input(t, trade, "t.csv", codec.CSV, "id,strike,underlying\nA,1,X\nB,,\n", codec.DecoderOptions{})
	elems, errs := decodeAll(t, r, d)
	wantElement(t, elems[0], errs[0], "A", "", msg(t, trade, "id", "A", "strike", 1.0, "underlying", "X"))
	wantElement(t, elems[1], errs[1], "B", "", msg(t, trade, "id", "B"))
}

func TestDecodeCSVColumns(t *testing.T) {
	t.Parallel()
	trade, kinds := tradeDesc(t), kindsDesc(t)
	// A column that is not a field, accepted, can be the key; the id can
	// come from a column that is not a field.
	r, d := input(t, trade, "t.csv", codec.CSV, "row,desk,underlying\nr1,eq,AAPL\n",
		codec.DecoderOptions{IDField: "row", IgnoreUnknown: true, Key: tmpl(t, "{desk}/{underlying}")})
	elems, errs := decodeAll(t, r, d)
	wantElement(t, elems[0], errs[0], "r1", "eq/AAPL", msg(t, trade, "underlying", "AAPL"))

	// Columns named by JSON name; composite cells as JSON.
	r, d = input(t, kinds, "k.csv", codec.CSV,
		"id,tradeDate,ints,counts,inner,at,by\n"+
			`k1,2024-01-02,"[1,2]","{""a"":1}","{""name"":""n""}",1970-01-01T00:00:10Z,AQI=`+"\n", codec.DecoderOptions{})
	elems, errs = decodeAll(t, r, d)
	want := msg(t, kinds, "id", "k1", "trade_date", "2024-01-02", "by", bin([]byte{1, 2}))
	ints := want.Mutable(field(t, kinds, "ints")).List()
	ints.Append(i32(1))
	ints.Append(i32(2))
	want.Mutable(field(t, kinds, "counts")).Map().Set(protoreflect.ValueOfString("a").MapKey(), i32(1))
	inner := want.Mutable(field(t, kinds, "inner")).Message()
	inner.Set(inner.Descriptor().Fields().ByName("name"), str("n"))
	at := want.Mutable(field(t, kinds, "at")).Message()
	at.Set(at.Descriptor().Fields().ByName("seconds"), i64(10))
	wantElement(t, elems[0], errs[0], "k1", "", want)
}

func TestDecodeDelimited(t *testing.T) {
	t.Parallel()
	trade := tradeDesc(t)
	marshal := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t1 := marshal(msg(t, trade, "id", "T1", "underlying", "AAPL", "type", "CALL", "strike", 101.5))
	// Fields out of order and a field the schema does not know: the payload
	// is passed through as it is, not re-encoded.
	t2 := append(marshal(msg(t, trade, "strike", 90.0)), marshal(msg(t, trade, "id", "T2", "underlying", "MSFT", "type", "PUT"))...)
	t2 = append(t2, 0x98, 0x06, 0x01) // field 99, varint 1
	noID := marshal(msg(t, trade, "underlying", "X", "type", "CALL"))
	noKey := marshal(msg(t, trade, "id", "T4", "type", "CALL"))
	badUTF8 := []byte{0x0a, 0x02, 0xff, 0xfe}
	records := [][]byte{t1, {0xff, 0xff, 0xff}, t2, noID, noKey, badUTF8, {}}
	r, d := input(t, trade, "trades.pb", codec.Delimited, string(delimited(records...)), codec.DecoderOptions{Key: tmpl(t, "{underlying}/{type}")})
	elems, errs := decodeAll(t, r, d)
	if len(elems) != len(records) {
		t.Fatalf("%d rows, want %d", len(elems), len(records))
	}
	for i, want := range []struct{ id, key string }{{"T1", "AAPL/CALL"}, {}, {"T2", "MSFT/PUT"}} {
		if want.id == "" {
			continue
		}
		if errs[i] != nil || elems[i].ID != want.id || elems[i].Key != want.key {
			t.Fatalf("record %d: %+v %v", i+1, elems[i], errs[i])
		}
		if !bytes.Equal(elems[i].Payload, records[i]) {
			t.Fatalf("record %d: payload %x, want the record %x", i+1, elems[i].Payload, records[i])
		}
	}
	contains(t, rowError(t, errs[1], "trades.pb", 2, ""), "trades.pb:2", "pricer.Trade")
	rowError(t, errs[3], "trades.pb", 4, "id")
	rowError(t, errs[4], "trades.pb", 5, "underlying")
	rowError(t, errs[5], "trades.pb", 6, "")
	rowError(t, errs[6], "trades.pb", 7, "id")
	wantIDs(t, errs, map[int]string{1: "", 3: "", 4: "T4", 5: "", 6: ""})
}

func TestDecodeDelimitedIDsAndKeysFromFields(t *testing.T) {
	t.Parallel()
	kinds := kindsDesc(t)
	rec, err := proto.Marshal(msg(t, kinds, "u64", u64(18446744073709551615), "color", enm(2), "db", f64(0.25), "fl", f32(0.1), "b", boo(true)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ id, key, wantID, wantKey string }{
		{"u64", "{color}", "18446744073709551615", "GREEN"},
		{"color", "{db}|{fl}|{b}", "GREEN", "0.25|0.1|true"},
		{"db", "{tradeDate}{color}", "0.25", ""},
	} {
		r, d := input(t, kinds, "k.pb", codec.Delimited, string(delimited(rec)), codec.DecoderOptions{IDField: tc.id, Key: tmpl(t, tc.key)})
		e, err := d.Decode(readAll(t, r)[0])
		if tc.wantKey == "" {
			// A field the record does not set is missing.
			rowError(t, err, "k.pb", 1, "tradeDate")
			continue
		}
		if err != nil || e.ID != tc.wantID || e.Key != tc.wantKey {
			t.Errorf("id %s key %s: %+v %v; want %q %q", tc.id, tc.key, e, err, tc.wantID, tc.wantKey)
		}
	}
}

// Decode checks nothing it was not asked to: a row's own error comes first.
func TestDecodeReportsTheReadersRowError(t *testing.T) {
	t.Parallel()
	_, d := input(t, tradeDesc(t), "in.jsonl", codec.JSONL, "", codec.DecoderOptions{})
	_, err := d.Decode(codec.Row{Line: 7, Data: []byte(`{"id":"fine"}`), Err: &codec.FieldError{Field: "x", Msg: "bad"}})
	contains(t, rowError(t, err, "in.jsonl", 7, "x"), "in.jsonl:7: field x: bad")
}

func TestRowErrorText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&codec.RowError{File: "a.csv", Line: 3, Field: "strike", Msg: `"x" is not a number`}, `a.csv:3: field strike: "x" is not a number`},
		{&codec.RowError{File: "a.csv", Line: 3, Msg: "row has 2 cells"}, "a.csv:3: row has 2 cells"},
		{&codec.FieldError{Field: "id", Msg: "missing id"}, "field id: missing id"},
	} {
		if tc.err.Error() != tc.want {
			t.Errorf("%q, want %q", tc.err.Error(), tc.want)
		}
	}
}

func TestMarshalIsDeterministic(t *testing.T) {
	t.Parallel()
	kinds := kindsDesc(t)
	m := msg(t, kinds, "id", "x")
	mp := m.Mutable(field(t, kinds, "counts")).Map()
	for i := range 50 {
		mp.Set(protoreflect.ValueOfString(strings.Repeat("k", i+1)).MapKey(), i32(int32(i)))
	}
	want, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		got, err := codec.Marshal(m)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Marshal = %x, %v; want %x", got, err, want)
		}
	}
}
