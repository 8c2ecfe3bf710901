package codec_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

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
