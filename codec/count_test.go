package codec_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/codec"
)

// readRows counts rows the slow way, by reading them.
func readRows(t *testing.T, data []byte, f codec.Format, gz bool) int64 {
	t.Helper()
	rd, err := codec.Open(bytes.NewReader(data), "in", f, gz)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for {
		if _, err := rd.Read(); err == io.EOF {
			return n
		} else if err != nil {
			t.Fatal(err)
		}
		n++
	}
}

func gzipped(t *testing.T, data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// randomJSONL writes n rows among blank lines, CRLF endings and a last
// line with or without its newline.
func randomJSONL(r *rand.Rand, n int) []byte {
	var b strings.Builder
	for i := range n {
		switch r.IntN(6) {
		case 0:
			b.WriteString("\n")
		case 1:
			b.WriteString("  \t\r\n")
		}
		fmt.Fprintf(&b, `{"id":"e%d","pad":"%s"}`, i, strings.Repeat("x", r.IntN(300)))
		if i < n-1 || r.IntN(2) == 0 {
			if r.IntN(3) == 0 {
				b.WriteString("\r")
			}
			b.WriteString("\n")
		}
	}
	if r.IntN(2) == 0 {
		b.WriteString("\n \n")
	}
	return []byte(b.String())
}

// randomCSV writes a header and n records with quoted cells holding
// commas, doubled quotes and line breaks, among empty lines.
func randomCSV(r *rand.Rand, n int) []byte {
	var b strings.Builder
	if r.IntN(2) == 0 {
		b.WriteString("\ufeff")
	}
	b.WriteString("id,note\n")
	for i := range n {
		if r.IntN(6) == 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "e%d,", i)
		switch r.IntN(4) {
		case 0:
			b.WriteString(`"a ""quoted"", word"`)
		case 1:
			b.WriteString("\"two\nlines\r\nand \"\"more\"\"\"")
		case 2:
			b.WriteString(strings.Repeat("y", r.IntN(2000)))
		}
		if i < n-1 || r.IntN(2) == 0 {
			if r.IntN(3) == 0 {
				b.WriteString("\r")
			}
			b.WriteString("\n")
		}
	}
	return []byte(b.String())
}

// randomDelimited writes n length-prefixed records, some larger than the
// counter's read buffer.
func randomDelimited(r *rand.Rand, n int) []byte {
	var b []byte
	for range n {
		size := r.IntN(200)
		if r.IntN(50) == 0 {
			size = 1<<20 + r.IntN(1<<20)
		}
		b = binary.AppendUvarint(b, uint64(size))
		b = append(b, make([]byte, size)...)
	}
	return b
}

// Count agrees with the rows written and with the rows read, for every
// format, plain and gzipped.
func TestCountAgreesWithTheRowsWrittenAndRead(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	gens := map[codec.Format]func(*rand.Rand, int) []byte{
		codec.JSONL: randomJSONL, codec.CSV: randomCSV, codec.Delimited: randomDelimited,
	}
	for f, gen := range gens {
		for _, n := range []int{0, 1, 2, 17, 5000} {
			for _, gz := range []bool{false, true} {
				data := gen(r, n)
				if gz {
					data = gzipped(t, data)
				}
				got, err := codec.Count(bytes.NewReader(data), "in", f, gz)
				if err != nil {
					t.Fatalf("%s n=%d gz=%v: %v", f, n, gz, err)
				}
				if got != int64(n) {
					t.Errorf("%s n=%d gz=%v: counted %d", f, n, gz, got)
				}
				if read := readRows(t, data, f, gz); read != int64(n) {
					t.Errorf("%s n=%d gz=%v: the reader read %d rows of %d written", f, n, gz, read, n)
				}
			}
		}
	}
}

func TestCountReadsAParquetFooter(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../testdata/trades.parquet")
	if err != nil {
		t.Fatal(err)
	}
	got, err := codec.Count(bytes.NewReader(data), "trades.parquet", codec.Parquet, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := readRows(t, data, codec.Parquet, false); got != want || want == 0 {
		t.Errorf("counted %d rows, read %d", got, want)
	}
	if _, err := codec.Count(bytes.NewReader(data[:100]), "cut.parquet", codec.Parquet, false); err == nil || !strings.Contains(err.Error(), "cut.parquet") {
		t.Errorf("a cut file: %v, want an error naming it", err)
	}
}

// A truncated last record is not counted, as the reader stops before it.
func TestCountStopsBeforeATruncatedRecord(t *testing.T) {
	t.Parallel()
	data := binary.AppendUvarint(nil, 3)
	data = append(data, "abc"...)
	data = binary.AppendUvarint(data, 10)
	data = append(data, "abc"...)
	if got, err := codec.Count(bytes.NewReader(data), "in.pb", codec.Delimited, false); got != 1 || err != nil {
		t.Errorf("counted %d, %v; want 1", got, err)
	}
}
