package codec_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/codec"
)

// checkDecoded holds for every row of every input: it decodes to an element
// with an id and a payload of the message type, or fails with a *RowError
// that places it in the input.
func checkDecoded(t *testing.T, desc protoreflect.MessageDescriptor, d *codec.Decoder, name string, row codec.Row, maxLine int64) {
	t.Helper()
	if row.Line < 1 || row.Line > maxLine {
		t.Fatalf("row %d at line %d, outside 1..%d", row.Index, row.Line, maxLine)
	}
	e, err := d.Decode(row)
	if err != nil {
		var re *codec.RowError
		if !errors.As(err, &re) {
			t.Fatalf("row %d: %v (%T), not a *RowError", row.Index, err, err)
		}
		if re.File != name || re.Line != row.Line {
			t.Fatalf("row %d at line %d: error placed at %s:%d", row.Index, row.Line, re.File, re.Line)
		}
		if !strings.HasPrefix(err.Error(), fmt.Sprintf("%s:%d: ", name, row.Line)) {
			t.Fatalf("message %q does not start with the place", err)
		}
	} else {
		if e.ID == "" {
			t.Fatalf("row %d decoded without an id", row.Index)
		}
		m := dynamicpb.NewMessage(desc)
		if err := proto.Unmarshal(e.Payload, m); err != nil {
			t.Fatalf("row %d: payload does not parse: %v", row.Index, err)
		}
	}
	if js := d.ElementJSON(row); !json.Valid(js) {
		t.Fatalf("row %d: dead-letter form is not JSON: %q", row.Index, js)
	}
}

// checkOrder holds for the rows of any input: indexes count up from 0 and
// lines never go back.
func checkOrder(t *testing.T, prev *codec.Row, row codec.Row) {
	t.Helper()
	if row.Index != prev.Index+1 || row.Line <= prev.Line {
		t.Fatalf("row index %d line %d after index %d line %d", row.Index, row.Line, prev.Index, prev.Line)
	}
	*prev = row
}

func FuzzDecodeJSONL(f *testing.F) {
	desc := kindsDesc(f)
	key := tmpl(f, "{str}/{color}")
	f.Fuzz(func(t *testing.T, data []byte, ignoreUnknown bool) {
		const name = "fuzz.jsonl"
		r, err := codec.NewReader(bytes.NewReader(data), name, codec.JSONL, false)
		if err != nil {
			t.Fatal(err)
		}
		d, err := codec.NewDecoder(desc, r, codec.JSONL, codec.DecoderOptions{Key: key, IgnoreUnknown: ignoreUnknown})
		if err != nil {
			t.Fatal(err)
		}
		lines := int64(bytes.Count(data, []byte("\n")) + 1)
		prev := codec.Row{Index: -1}
		for {
			row, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("read: %v", err) // an in-memory input has no read errors
			}
			if len(bytes.TrimSpace(row.Data)) == 0 {
				t.Fatalf("row %d at line %d is blank", row.Index, row.Line)
			}
			checkOrder(t, &prev, row)
			checkDecoded(t, desc, d, name, row, lines)
		}
	})
}

func FuzzDecodeCSV(f *testing.F) {
	desc := kindsDesc(f)
	f.Fuzz(func(t *testing.T, data []byte, ignoreUnknown bool) {
		const name = "fuzz.csv"
		r, err := codec.NewReader(bytes.NewReader(data), name, codec.CSV, false)
		if err != nil {
			if !strings.Contains(err.Error(), name) {
				t.Fatalf("header error %q does not name the file", err)
			}
			return
		}
		header := r.Header()
		if len(header) == 0 {
			t.Fatal("a reader without a header")
		}
		// The first column is the id, the last the key, whatever they are.
		opts := codec.DecoderOptions{IDField: header[0], IgnoreUnknown: ignoreUnknown}
		if k, err := codec.ParseTemplate("{" + header[len(header)-1] + "}"); err == nil {
			opts.Key = k
		}
		d, err := codec.NewDecoder(desc, r, codec.CSV, opts)
		if err != nil {
			return // columns that are not fields; checked by the unit tests
		}
		lines := int64(bytes.Count(data, []byte("\n")) + 1)
		prev := codec.Row{Index: -1, Line: 1} // the header
		for {
			row, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if row.Err == nil && len(row.Cells) != len(header) {
				t.Fatalf("row %d has %d cells for %d columns and no error", row.Index, len(row.Cells), len(header))
			}
			checkOrder(t, &prev, row)
			checkDecoded(t, desc, d, name, row, lines)
		}
	})
}

func FuzzDelimitedReader(f *testing.F) {
	desc := kindsDesc(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.pb"
		r, err := codec.NewReader(bytes.NewReader(data), name, codec.Delimited, false)
		if err != nil {
			t.Fatal(err)
		}
		d, err := codec.NewDecoder(desc, r, codec.Delimited, codec.DecoderOptions{Key: tmpl(t, "{str}")})
		if err != nil {
			t.Fatal(err)
		}
		var off int // where the next record starts, computed independently
		for n := int64(1); ; n++ {
			row, err := r.Read()
			if err == io.EOF {
				if off != len(data) {
					t.Fatalf("clean end after %d of %d bytes", off, len(data))
				}
				return
			}
			if err != nil {
				want := fmt.Sprintf("%s: record %d at byte %d: ", name, n, off)
				if !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("error %q, want it to start %q", err, want)
				}
				return
			}
			size, k := binary.Uvarint(data[off:])
			if k <= 0 || uint64(len(data)-off-k) < size {
				t.Fatalf("record %d at byte %d read, but its frame is not whole", n, off)
			}
			if row.Index != n-1 || row.Line != n || !bytes.Equal(row.Data, data[off+k:off+k+int(size)]) {
				t.Fatalf("record %d: index %d line %d data %x", n, row.Index, row.Line, row.Data)
			}
			off += k + int(size)
			checkDecoded(t, desc, d, name, row, n)
			if e, err := d.Decode(row); err == nil && !bytes.Equal(e.Payload, row.Data) {
				t.Fatalf("record %d: payload %x is not the record %x", n, e.Payload, row.Data)
			}
		}
	})
}

// fuzzRow is a row of a Parquet file and the same row as a JSON line: a
// column for each kind of value, some of them of kinds other than their
// fields', nested columns, nulls.
type fuzzRow struct {
	ID     string           `parquet:"id" json:"id"`
	Str    string           `parquet:"str" json:"str"`
	I64    int64            `parquet:"i64" json:"i64"`
	I32    int64            `parquet:"i32" json:"i32"` // into an int32 field
	U32    int32            `parquet:"u32" json:"u32"` // signed, into a uint32 field
	U64    uint64           `parquet:"u64" json:"u64"`
	Db     *float64         `parquet:"db,optional" json:"db"`
	Fl     float64          `parquet:"fl" json:"fl"`   // a double, into a float field
	S32    float32          `parquet:"s32" json:"s32"` // a float, into an int32 field
	B      bool             `parquet:"b" json:"b"`
	Color  string           `parquet:"color" json:"color"`
	Ints   []int64          `parquet:"ints,list" json:"ints"`
	Strs   []string         `parquet:"strs" json:"strs"`
	Inner  *fuzzInner       `parquet:"inner,optional" json:"inner"`
	Counts map[string]int32 `parquet:"counts" json:"counts"`
}

type fuzzInner struct {
	Name string `parquet:"name" json:"name"`
	N    *int64 `parquet:"n,optional" json:"n"`
}

// FuzzParquetIsJSON holds a Parquet row to what the JSON object of its
// columns would be in a JSON lines file: the same element, or a failure
// about the same field.
func FuzzParquetIsJSON(f *testing.F) {
	desc := kindsDesc(f)
	f.Add("a", "x", int64(1), int64(2), int32(3), uint64(4), 1.5, 2.5, float32(3), true, "RED", []byte{1, 2}, "k", int64(5), true)
	f.Add("", "", int64(0), int64(1<<40), int32(-1), uint64(1<<63), 1e300, 1e300, float32(0.5), false, "red", []byte{}, "", int64(-1), false)
	f.Fuzz(func(t *testing.T, id, str string, i64, i32 int64, u32 int32, u64 uint64, db, fl float64, s32 float32, b bool, color string, ints []byte, key string, n int64, inner bool) {
		for _, s := range []string{id, str, color, key} {
			if !utf8.ValidString(s) {
				return // JSON cannot hold it
			}
		}
		if math.IsNaN(db) || math.IsInf(db, 0) || math.IsNaN(fl) || math.IsInf(fl, 0) || math.IsNaN(float64(s32)) || math.IsInf(float64(s32), 0) {
			return // nor these, as numbers
		}
		row := fuzzRow{ID: id, Str: str, I64: i64, I32: i32, U32: u32, U64: u64, Fl: fl, S32: s32, B: b, Color: color, Counts: map[string]int32{}}
		if db != 0 {
			row.Db = &db
		}
		for _, x := range ints {
			row.Ints = append(row.Ints, int64(int8(x))<<(x%40))
			row.Strs = append(row.Strs, fmt.Sprint(x))
		}
		if key != "" {
			row.Counts[key] = int32(n)
		}
		if inner {
			row.Inner = &fuzzInner{Name: str, N: &n}
		}
		file := parquetFile(t, []fuzzRow{row})
		r, pd := parquetInput(t, desc, file, codec.DecoderOptions{Key: tmpl(t, "{str}/{color}")})
		line, err := json.Marshal(row)
		if err != nil {
			t.Fatal(err)
		}
		jr, jd := input(t, desc, "in.jsonl", codec.JSONL, string(line), codec.DecoderOptions{Key: tmpl(t, "{str}/{color}")})
		prow, jrow := readAll(t, r)[0], readAll(t, jr)[0]
		checkDecoded(t, desc, pd, "in.parquet", prow, 1)
		pe, perr := pd.Decode(prow)
		je, jerr := jd.Decode(jrow)
		if (perr == nil) != (jerr == nil) {
			t.Fatalf("Parquet: %v\nJSON: %v\n%s", perr, jerr, line)
		}
		if perr != nil {
			// The JSON decoder goes through the keys in order, the Parquet
			// one through the columns; the field that failed first in
			// Parquet fails alone in JSON.
			var pre *codec.RowError
			errors.As(perr, &pre)
			var obj map[string]json.RawMessage
			json.Unmarshal(line, &obj)
			name, _, _ := strings.Cut(pre.Field, "[")
			alone, _ := json.Marshal(map[string]json.RawMessage{"id": obj["id"], name: obj[name]})
			ar, ad := input(t, desc, "in.jsonl", codec.JSONL, string(alone), codec.DecoderOptions{})
			_, aerr := ad.Decode(readAll(t, ar)[0])
			var are *codec.RowError
			if !errors.As(aerr, &are) || are.Field != pre.Field {
				t.Fatalf("Parquet fails on %q: %v\nJSON of %s: %v", pre.Field, perr, alone, aerr)
			}
			return
		}
		if pe.ID != je.ID || pe.Key != je.Key || !bytes.Equal(pe.Payload, je.Payload) {
			t.Fatalf("Parquet %q %q %x\nJSON %q %q %x\n%s", pe.ID, pe.Key, pe.Payload, je.ID, je.Key, je.Payload, line)
		}
	})
}
