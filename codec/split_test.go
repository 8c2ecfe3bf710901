package codec_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/internal/testgen"
)

// readSplits reads every row of r, with the split before each.
func readSplits(t *testing.T, r codec.SplitReader) (rows []codec.Row, at []codec.Split, exact []bool) {
	t.Helper()
	for {
		s, ok := r.Next()
		row, err := r.Read()
		if err == io.EOF {
			return rows, at, exact
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
		at, exact = append(at, s), append(exact, ok)
	}
}

// comparable strips what a row's reader owns (Parquet values) down to
// what names and holds it.
type rowView struct {
	Index, Line int64
	Data        string
	Cells       []string
	Err         string
}

func view(r codec.Row) rowView {
	v := rowView{Index: r.Index, Line: r.Line, Data: string(r.Data), Cells: r.Cells}
	if r.Err != nil {
		v.Err = r.Err.Error()
	}
	if r.Data == nil && r.Cells == nil {
		v.Data = fmt.Sprint(codec.RowJSON(r))
	}
	return v
}

// Reading from any exact split gives the rows a read from the start gives
// from there on, numbered the same; Splits cuts only at such places, the
// first at the start, at least every bytes apart.
func TestSplitsReadAsTheWholeInput(t *testing.T) {
	trades := testgen.Trades(300, testgen.Quotes(5, 1), 7, testgen.TradeOptions{})
	var pb bytes.Buffer
	for i := range 200 {
		msg := []byte(fmt.Sprintf("record %d %s", i, strings.Repeat("x", i%37)))
		pb.Write(binary.AppendUvarint(nil, uint64(len(msg))))
		pb.Write(msg)
	}
	var pq bytes.Buffer
	if err := testgen.WriteParquet(&pq, trades, 17); err != nil {
		t.Fatal(err)
	}
	var jsonl strings.Builder
	for i, tr := range trades[:150] {
		fmt.Fprintf(&jsonl, `{"id":%q,"qty":%d}`, tr.ID, i)
		switch i % 7 {
		case 0:
			jsonl.WriteString("\r\n")
		case 1:
			jsonl.WriteString("\n\n   \n") // blank lines are not rows
		default:
			jsonl.WriteString("\n")
		}
	}
	var csv strings.Builder
	csv.WriteString("\ufeffid,note\n")
	for i := range 150 {
		switch i % 9 {
		case 0:
			fmt.Fprintf(&csv, "t%d,\"two\nlines, and \"\"quotes\"\"\"\r\n", i) // a quoted line break
		case 1:
			fmt.Fprintf(&csv, "t%d,a \"bare\" quote\n", i) // a row the parser refuses
		case 2:
			fmt.Fprintf(&csv, "t%d,x,extra\n\n", i) // too many cells, a blank line
		default:
			fmt.Fprintf(&csv, "t%d,plain %d\n", i, i)
		}
	}
	for _, c := range []struct {
		f     codec.Format
		data  []byte
		every int64
	}{
		{codec.JSONL, []byte(jsonl.String()), 500},
		{codec.CSV, []byte(csv.String()), 300},
		{codec.Delimited, pb.Bytes(), 400},
		{codec.Parquet, pq.Bytes(), 40},
	} {
		t.Run(string(c.f), func(t *testing.T) {
			name := "in." + string(c.f)
			src := bytes.NewReader(c.data)
			whole, err := codec.Open(src, name, c.f, false)
			if err != nil {
				t.Fatal(err)
			}
			rows, at, exact := readSplits(t, whole.(codec.SplitReader))
			if len(rows) < 150 {
				t.Fatalf("%d rows", len(rows))
			}
			splits, err := codec.Splits(bytes.NewReader(c.data), name, c.f, false, c.every)
			if err != nil {
				t.Fatal(err)
			}
			if len(splits) < 3 || splits[0] != at[0] {
				t.Fatalf("splits %v; the first row at %v", splits, at[0])
			}
			// Every split is an exact row start of the whole read.
			for i, s := range splits {
				j := int(s.Row)
				if j >= len(at) || at[j] != s || !exact[j] {
					t.Fatalf("split %d %+v is no exact row start", i, s)
				}
				if i > 0 && s.Offset-splits[i-1].Offset < c.every {
					t.Errorf("splits %v and %v closer than %d", splits[i-1], s, c.every)
				}
			}
			checked := 0
			for j, s := range at {
				if !exact[j] || c.f == codec.Parquet && j%5 != 0 {
					continue // a Parquet file is slower to open
				}
				checked++
				r, err := codec.OpenAt(bytes.NewReader(c.data), int64(len(c.data)), name, c.f, s)
				if err != nil {
					t.Fatal(err)
				}
				got, gotAt, _ := readSplits(t, r)
				if len(got) != len(rows)-j {
					t.Fatalf("from row %d: %d rows, want %d", j, len(got), len(rows)-j)
				}
				for k := range got {
					if g, w := view(got[k]), view(rows[j+k]); !reflect.DeepEqual(g, w) || gotAt[k] != at[j+k] {
						t.Fatalf("from row %d, row %d:\n got  %+v at %+v\n want %+v at %+v", j, j+k, g, gotAt[k], w, at[j+k])
					}
				}
			}
			if c.f == codec.CSV && checked == len(at) {
				t.Error("no row left the CSV reader unsure of its lines")
			}
		})
	}
}

// A gzipped stream is not split: one split, at its start.
func TestGzippedInputsAreOneSplit(t *testing.T) {
	if codec.Splittable(codec.JSONL, true) || !codec.Splittable(codec.JSONL, false) || !codec.Splittable(codec.Parquet, false) {
		t.Fatal("Splittable")
	}
	s, err := codec.Splits(strings.NewReader("not gzip"), "in.jsonl.gz", codec.JSONL, true, 1)
	if err != nil || len(s) != 1 || s[0] != (codec.Split{}) {
		t.Fatalf("%v, %v", s, err)
	}
}
