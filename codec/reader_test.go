package codec_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/codec"
)

func newReader(tb testing.TB, name string, f codec.Format, data string) codec.Reader {
	tb.Helper()
	r, err := codec.NewReader(strings.NewReader(data), name, f, false)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// rowAt is what a test expects of a row: where it is and what it holds.
type rowAt struct {
	index, line int64
	data        string
	cells       []string
	bad         bool
}

func checkRows(t *testing.T, got []codec.Row, want []rowAt) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Index != w.index || g.Line != w.line {
			t.Errorf("row %d: index %d line %d, want index %d line %d", i, g.Index, g.Line, w.index, w.line)
		}
		if (g.Err != nil) != w.bad {
			t.Errorf("row %d: Err %v, want bad=%v", i, g.Err, w.bad)
		}
		if w.cells != nil && !slices.Equal(g.Cells, w.cells) {
			t.Errorf("row %d: cells %q, want %q", i, g.Cells, w.cells)
		}
		if w.cells == nil && string(g.Data) != w.data {
			t.Errorf("row %d: data %q, want %q", i, g.Data, w.data)
		}
	}
}

func TestJSONLRows(t *testing.T) {
	t.Parallel()
	// Blank and whitespace-only lines are not rows, but count as lines;
	// CRLF endings are dropped; the last line needs no newline.
	data := "{\"id\":\"a\"}\n\n  \n{\"id\":\"b\"}\r\n\t\r\n\n{\"id\":\"c\"} "
	r := newReader(t, "in.jsonl", codec.JSONL, data)
	if r.Name() != "in.jsonl" || r.Header() != nil {
		t.Fatalf("Name %q Header %q", r.Name(), r.Header())
	}
	checkRows(t, readAll(t, r), []rowAt{
		{index: 0, line: 1, data: `{"id":"a"}`},
		{index: 1, line: 4, data: `{"id":"b"}`},
		{index: 2, line: 7, data: `{"id":"c"} `},
	})
	if _, err := r.Read(); err != io.EOF {
		t.Fatalf("Read after EOF = %v, want io.EOF", err)
	}
}

func TestJSONLEmpty(t *testing.T) {
	t.Parallel()
	for _, data := range []string{"", "\n", "\n\n \r\n"} {
		if rows := readAll(t, newReader(t, "in.jsonl", codec.JSONL, data)); len(rows) != 0 {
			t.Errorf("%q: rows %+v, want none", data, rows)
		}
	}
}

// Rows are fresh slices, not views of the reader's buffer.
func TestJSONLRowDataIsNotReused(t *testing.T) {
	t.Parallel()
	r := newReader(t, "in.jsonl", codec.JSONL, "{\"id\":\"a\"}\n{\"id\":\"b\"}\n")
	first, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(); err != nil {
		t.Fatal(err)
	}
	if string(first.Data) != `{"id":"a"}` {
		t.Fatalf("first row's data changed to %q", first.Data)
	}
}

// repeat is n bytes of b.
type repeat struct {
	b     byte
	n     int
	block []byte
}

func (r *repeat) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	if r.block == nil {
		r.block = bytes.Repeat([]byte{r.b}, 64<<10)
	}
	k := copy(p[:min(len(p), r.n)], r.block)
	r.n -= k
	return k, nil
}

// longLine returns a reader of a JSON object line of exactly n bytes, without
// its newline.
func longLine(n int) io.Reader {
	const head, tail = `{"id":"long","pad":"`, `"}`
	return io.MultiReader(strings.NewReader(head), &repeat{b: 'x', n: n - len(head) - len(tail)}, strings.NewReader(tail))
}

// A CSV row is bounded like a JSON line; past the bound the input ends with
// an error naming the line, as the parser cannot find the next row.
func TestCSVLongRows(t *testing.T) {
	t.Parallel()
	const head = "id,pad\nbefore,x\n"
	for _, tc := range []struct {
		name string
		row  io.Reader // the third line on
		rows int       // read before the end or the error
		err  string
	}{
		{"at the bound", io.MultiReader(strings.NewReader("long,"), &repeat{b: 'x', n: codec.MaxRowSize - 5}, strings.NewReader("\nafter,y\n")), 3, ""},
		{"a quoted cell with line breaks", strings.NewReader("\"multi\nline\",x\n\nafter,y\n"), 3, ""},
		{"past the bound", io.MultiReader(strings.NewReader("long,"), &repeat{b: 'x', n: codec.MaxRowSize}, strings.NewReader("\nafter,y\n")), 1, "big.csv:3: the row starting on this line"},
		{"a quote left open", io.MultiReader(strings.NewReader("\"open,"), &repeat{b: '\n', n: codec.MaxRowSize + 5<<20}), 1, "big.csv:3: the row starting on this line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := codec.NewReader(io.MultiReader(strings.NewReader(head), tc.row), "big.csv", codec.CSV, false)
			if err != nil {
				t.Fatal(err)
			}
			var rows []codec.Row
			for {
				row, err := r.Read()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					if tc.err == "" || !strings.Contains(err.Error(), tc.err) {
						t.Fatalf("after %d rows: %v, want %q", len(rows), err, tc.err)
					}
					break
				}
				if row.Err != nil {
					t.Fatalf("row %d: %v", row.Line, row.Err)
				}
				rows = append(rows, row)
			}
			if len(rows) != tc.rows {
				t.Fatalf("%d rows, want %d", len(rows), tc.rows)
			}
			if tc.err == "" {
				if after := rows[len(rows)-1]; after.Cells[0] != "after" || after.Index != 2 {
					t.Fatalf("last row %+v", after.Cells)
				}
			}
		})
	}
}

func TestJSONLLongLines(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		n       int
		newline bool
		bad     bool
	}{
		{"at the bound", codec.MaxRowSize, true, false},
		{"past the bound", codec.MaxRowSize + 1, true, true},
		{"far past the bound", codec.MaxRowSize + 5<<20 + 12345, true, true},
		{"at the bound, last line", codec.MaxRowSize, false, false},
		{"past the bound, last line", codec.MaxRowSize + 1, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			parts := []io.Reader{strings.NewReader("{\"id\":\"before\"}\n"), longLine(tc.n)}
			if tc.newline {
				parts = append(parts, strings.NewReader("\n\n{\"id\":\"after\"}\n"))
			}
			r, err := codec.NewReader(io.MultiReader(parts...), "big.jsonl", codec.JSONL, false)
			if err != nil {
				t.Fatal(err)
			}
			rows := readAll(t, r)
			want := 2
			if tc.newline {
				want = 3
			}
			if len(rows) != want {
				t.Fatalf("%d rows, want %d", len(rows), want)
			}
			long := rows[1]
			if long.Index != 1 || long.Line != 2 {
				t.Fatalf("long row at index %d line %d, want 1 and 2", long.Index, long.Line)
			}
			if tc.bad {
				if long.Err == nil || long.Data != nil {
					t.Fatalf("long row: Err %v, %d bytes of data; want an error and no data", long.Err, len(long.Data))
				}
				_, d := input(t, tradeDesc(t), "big.jsonl", codec.JSONL, "", codec.DecoderOptions{})
				_, err := d.Decode(long)
				re := rowError(t, err, "big.jsonl", 2, "")
				if !strings.Contains(re.Msg, "longer than") {
					t.Fatalf("message %q", re.Msg)
				}
			} else if long.Err != nil || len(long.Data) != tc.n {
				t.Fatalf("long row: Err %v, %d bytes; want %d bytes", long.Err, len(long.Data), tc.n)
			}
			if tc.newline {
				after := rows[2]
				if after.Err != nil || after.Index != 2 || after.Line != 4 || string(after.Data) != `{"id":"after"}` {
					t.Fatalf("row after the long one: %+v", after)
				}
			}
		})
	}
}

const tradeHeader = "id,underlying,type,strike\r\n"

func TestCSVRows(t *testing.T) {
	t.Parallel()
	data := tradeHeader + // line 1
		"T1,AAPL,call,100\r\n" + // line 2
		"\r\n" + // line 3: blank lines are skipped
		"\"T2\",\"multi\r\nline\",PUT,\"1,5\"\r\n" + // lines 4-5
		"T3,MSFT,CALL,7" // line 6, no newline
	r := newReader(t, "in.csv", codec.CSV, data)
	if h := r.Header(); !slices.Equal(h, []string{"id", "underlying", "type", "strike"}) {
		t.Fatalf("header %q", h)
	}
	checkRows(t, readAll(t, r), []rowAt{
		{index: 0, line: 2, cells: []string{"T1", "AAPL", "call", "100"}},
		{index: 1, line: 4, cells: []string{"T2", "multi\nline", "PUT", "1,5"}},
		{index: 2, line: 6, cells: []string{"T3", "MSFT", "CALL", "7"}},
	})
}

func TestCSVBadRowsDoNotStopTheFile(t *testing.T) {
	t.Parallel()
	data := tradeHeader + // 1
		"T1,AAPL\n" + // 2: too few cells
		"T2,AAPL,CALL,1,extra\n" + // 3: too many
		"T3,AA\"PL,CALL,1\n" + // 4: bare quote
		"\"T4\",\"a\nb\"x,CALL,1\n" + // 5-6: text after a closing quote
		"T5,AAPL,CALL,1\n" // 7
	rows := readAll(t, newReader(t, "in.csv", codec.CSV, data))
	checkRows(t, rows, []rowAt{
		{index: 0, line: 2, cells: []string{"T1", "AAPL"}, bad: true},
		{index: 1, line: 3, cells: []string{"T2", "AAPL", "CALL", "1", "extra"}, bad: true},
		{index: 2, line: 4, cells: []string{"T3"}, bad: true},
		{index: 3, line: 5, cells: []string{"T4"}, bad: true},
		{index: 4, line: 7, cells: []string{"T5", "AAPL", "CALL", "1"}},
	})
	contains(t, rows[0].Err, "2 cells", "header has 4")
	contains(t, rows[1].Err, "5 cells", "header has 4")
	for i, line := range []int64{2, 3, 4, 5} {
		_, d := input(t, tradeDesc(t), "in.csv", codec.CSV, tradeHeader, codec.DecoderOptions{})
		_, err := d.Decode(rows[i])
		rowError(t, err, "in.csv", line, "")
	}
}

func TestCSVUnterminatedQuote(t *testing.T) {
	t.Parallel()
	rows := readAll(t, newReader(t, "in.csv", codec.CSV, tradeHeader+"T1,AAPL,CALL,1\nT2,\"AAPL,CALL,1\nT3,X,CALL,1\n"))
	if len(rows) != 2 || rows[0].Err != nil || rows[1].Err == nil || rows[1].Line != 3 {
		t.Fatalf("rows %+v; want a good row, then a bad one at line 3 that runs to the end", rows)
	}
}

func TestCSVHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, data string
		want       []string
	}{
		{"plain", "id,x\n", []string{"id", "x"}},
		{"byte order mark", "\ufeffid,x\n", []string{"id", "x"}},
		{"byte order mark before a quoted name", "\ufeff\"id\",\"x\"\r\n", []string{"id", "x"}},
		{"quoted", "\"id\",\"x,y\"\n", []string{"id", "x,y"}},
		{"no newline", "id", []string{"id"}},
		{"mark inside a name is kept", "id,\ufeffx\n", []string{"id", "\ufeffx"}},
	} {
		r, err := codec.NewReader(strings.NewReader(tc.data), "h.csv", codec.CSV, false)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.Equal(r.Header(), tc.want) {
			t.Errorf("%s: header %q, want %q", tc.name, r.Header(), tc.want)
		}
		if rows := readAll(t, r); len(rows) != 0 {
			t.Errorf("%s: rows %+v", tc.name, rows)
		}
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, data string
		msg        []string
	}{
		{"empty file", "", []string{"h.csv", "empty file"}},
		{"blank lines only", "\n\n", []string{"h.csv", "empty file"}},
		{"duplicate names", "id,x,id\n1,2,3\n", []string{"h.csv:1", "columns 1 and 3", `"id"`}},
		{"duplicate after the mark", "\ufeffid,id\n", []string{"h.csv:1", "columns 1 and 2", `"id"`}},
		{"unnamed column", "id,,x\n", []string{"h.csv:1", "column 2 has no name"}},
		{"bad quoting", "id,\"x\n", []string{"h.csv", "header"}},
	} {
		_, err := codec.NewReader(strings.NewReader(tc.data), "h.csv", codec.CSV, false)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		contains(t, err, tc.msg...)
	}
}

// delimited frames messages as a varint length and the bytes.
func delimited(records ...[]byte) []byte {
	var out []byte
	for _, r := range records {
		out = binary.AppendUvarint(out, uint64(len(r)))
		out = append(out, r...)
	}
	return out
}

func TestDelimitedRows(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte{0x0a, 0x01, 'x'}, 100) // a length of two varint bytes
	data := delimited([]byte{0x0a, 0x01, 'a'}, nil, big)
	r := newReader(t, "in.pb", codec.Delimited, string(data))
	if r.Header() != nil {
		t.Fatalf("Header %q", r.Header())
	}
	checkRows(t, readAll(t, r), []rowAt{
		{index: 0, line: 1, data: "\x0a\x01a"},
		{index: 1, line: 2, data: ""},
		{index: 2, line: 3, data: string(big)},
	})
}

func TestDelimitedStreamErrors(t *testing.T) {
	t.Parallel()
	first := delimited([]byte("0123456789")) // 11 bytes
	over := binary.AppendUvarint(nil, codec.MaxRowSize+1)
	for _, tc := range []struct {
		name string
		data []byte
		msg  []string
	}{
		{"truncated payload", append(slices.Clone(first), 5, 'a', 'b'), []string{"s.pb", "record 2", "at byte 11", "truncated"}},
		{"truncated length", append(slices.Clone(first), 0x80), []string{"s.pb", "record 2", "at byte 11", "length"}},
		{"overlong length", append(slices.Clone(first), bytes.Repeat([]byte{0xff}, 11)...), []string{"s.pb", "record 2", "at byte 11", "length"}},
		{"length past the bound", append(slices.Clone(first), over...), []string{"s.pb", "record 2", "at byte 11", "exceeds"}},
		{"truncated third", append(delimited([]byte("0123456789"), []byte("ab")), 3), []string{"s.pb", "record 3", "at byte 14"}},
	} {
		r := newReader(t, "s.pb", codec.Delimited, string(tc.data))
		if row, err := r.Read(); err != nil || row.Line != 1 {
			t.Fatalf("%s: first record: %+v, %v", tc.name, row, err)
		}
		var err error
		for err == nil {
			_, err = r.Read()
		}
		if err == io.EOF {
			t.Errorf("%s: read to the end without an error", tc.name)
			continue
		}
		contains(t, err, tc.msg...)
	}
}

func gz(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func TestGzippedInputs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		f    codec.Format
		data []byte
	}{
		{codec.JSONL, []byte("{\"id\":\"a\"}\n\n{\"id\":\"b\"}\n")},
		{codec.CSV, []byte("id,x\na,1\n\nb,2\n")},
		{codec.Delimited, delimited([]byte{0x0a, 0x01, 'a'}, []byte{0x0a, 0x01, 'b'})},
	} {
		plain, err := codec.NewReader(bytes.NewReader(tc.data), "in", tc.f, false)
		if err != nil {
			t.Fatal(err)
		}
		zipped, err := codec.NewReader(bytes.NewReader(gz(t, tc.data)), "in", tc.f, true)
		if err != nil {
			t.Fatal(err)
		}
		want, got := readAll(t, plain), readAll(t, zipped)
		if len(want) != 2 {
			t.Fatalf("%s: %d plain rows", tc.f, len(want))
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d gzipped rows, want %d", tc.f, len(got), len(want))
		}
		for i := range want {
			if got[i].Line != want[i].Line || got[i].Index != want[i].Index ||
				!bytes.Equal(got[i].Data, want[i].Data) || !slices.Equal(got[i].Cells, want[i].Cells) {
				t.Errorf("%s row %d: gzipped %+v, plain %+v", tc.f, i, got[i], want[i])
			}
		}
	}
}

func TestGzipErrorsNameTheFile(t *testing.T) {
	t.Parallel()
	_, err := codec.NewReader(strings.NewReader("not gzip at all"), "in.jsonl.gz", codec.JSONL, true)
	contains(t, err, "in.jsonl.gz")

	var lines bytes.Buffer
	for range 2000 {
		lines.WriteString("{\"id\":\"a fairly long identifier\",\"underlying\":\"AAPL\"}\n")
	}
	z := gz(t, lines.Bytes())
	cut := z[:len(z)/2]
	for _, f := range []codec.Format{codec.JSONL, codec.CSV, codec.Delimited} {
		data := cut
		if f == codec.CSV {
			var c bytes.Buffer
			c.WriteString("id,underlying\n")
			for range 2000 {
				c.WriteString("a fairly long identifier,AAPL\n")
			}
			z := gz(t, c.Bytes())
			data = z[:len(z)/2]
		}
		r, err := codec.NewReader(bytes.NewReader(data), "in.gz", f, true)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for err == nil {
			_, err = r.Read()
		}
		if err == io.EOF {
			t.Errorf("%s: a truncated gzip stream read to a clean end", f)
			continue
		}
		contains(t, err, "in.gz")
	}
}

func TestNewReaderUnknownFormat(t *testing.T) {
	t.Parallel()
	_, err := codec.NewReader(strings.NewReader(""), "in.parquet", codec.Format("parquet"), false)
	contains(t, err, "in.parquet", "parquet")
}

// A reader error other than EOF ends the input.
func TestReadErrorEndsTheInput(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk on fire")
	for _, f := range []codec.Format{codec.JSONL, codec.CSV, codec.Delimited} {
		head := "{\"id\":\"a\"}\n{\"id\""
		if f == codec.CSV {
			head = "id\na\nb"
		}
		if f == codec.Delimited {
			head = string(delimited([]byte("ab"))) + "\x05a"
		}
		r, err := codec.NewReader(io.MultiReader(strings.NewReader(head), &failing{boom}), "in", f, false)
		if err != nil {
			t.Fatal(err)
		}
		if row, err := r.Read(); err != nil || row.Line != 1 && row.Line != 2 {
			t.Fatalf("%s: first row %+v, %v", f, row, err)
		}
		for err == nil {
			_, err = r.Read()
		}
		if !errors.Is(err, boom) {
			t.Errorf("%s: error %v, want the reader's", f, err)
		}
	}
}

type failing struct{ err error }

func (f *failing) Read([]byte) (int, error) { return 0, f.err }
