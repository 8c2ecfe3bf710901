package codec

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// MaxRowSize bounds one input row. A longer JSON line is a bad row; a longer
// protobuf record or CSV row ends the input, since the stream cannot be
// resynchronised (a CSV row that long is most likely a quote left open,
// which makes the rest of the file one cell).
const MaxRowSize = 64 << 20

// readBuffer is the read-ahead of a reader: large enough for throughput,
// small enough that the bytes read from a file say how far the rows are.
const readBuffer = 64 << 10

// Row is one record of an input, not yet decoded.
type Row struct {
	// Index is the 0-based number of the record in its file. Together with
	// the file it names the element for resuming a job.
	Index int64
	// Line is the 1-based line where a JSONL or CSV row starts, or the
	// 1-based record or row number in a delimited protobuf or Parquet file.
	Line int64
	// Data is the JSON line or the protobuf message.
	Data []byte
	// Cells are the values of a CSV row, named by Header.
	Cells  []string
	Header []string
	// parquet is a Parquet row's column values.
	parquet *parquetRow
	// Err is a problem found while reading this row, such as a CSV row
	// with the wrong number of cells; the row is a bad input, the rest of
	// the file is fine.
	Err error
}

// Reader reads the rows of one input.
type Reader interface {
	// Read returns the next row, or io.EOF after the last. Any other error
	// means the rest of the input cannot be read.
	Read() (Row, error)
	// Name is the input's name in messages.
	Name() string
	// Header returns the column names of a CSV or Parquet input, nil
	// otherwise.
	Header() []string
	// Offset is how far into the input the rows read so far reach, in the
	// bytes given to NewReader: exact for plain inputs, the compressed
	// bytes read so far for gzipped ones. With the input's size it says how
	// many rows are left.
	Offset() int64
}

// NewReader reads rows in format f from r. name is used in messages. A
// Parquet file is read from its end, so it needs NewParquetReader.
func NewReader(r io.Reader, name string, f Format, gzipped bool) (Reader, error) {
	if f == Parquet {
		return nil, fmt.Errorf("%s: a Parquet file is read with random access (NewParquetReader), not as a stream", name)
	}
	var compressed *countingReader
	if gzipped {
		compressed = &countingReader{r: r}
		zr, err := gzip.NewReader(compressed)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		r = zr
	}
	var rd Reader
	switch f {
	case JSONL:
		rd = &jsonlReader{name: name, br: bufio.NewReaderSize(r, readBuffer)}
	case CSV:
		c, err := newCSVReader(r, name)
		if err != nil {
			return nil, err
		}
		rd = c
	case Delimited:
		rd = &pbReader{name: name, br: bufio.NewReaderSize(r, readBuffer)}
	default:
		return nil, fmt.Errorf("%s: unknown format %q", name, f)
	}
	if compressed != nil {
		return gzipReader{rd, compressed}, nil
	}
	return rd, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// gzipReader reports its offset in compressed bytes.
type gzipReader struct {
	Reader
	compressed *countingReader
}

func (g gzipReader) Offset() int64 { return g.compressed.n }

type jsonlReader struct {
	name  string
	br    *bufio.Reader
	line  int64
	index int64
	off   int64
}

func (r *jsonlReader) Name() string     { return r.name }
func (r *jsonlReader) Header() []string { return nil }
func (r *jsonlReader) Offset() int64    { return r.off }

func (r *jsonlReader) Read() (Row, error) {
	for {
		line, tooLong, err := r.readLine()
		if err == io.EOF && len(line) == 0 && !tooLong {
			return Row{}, err
		}
		if err != nil && err != io.EOF {
			return Row{}, fmt.Errorf("%s:%d: %w", r.name, r.line+1, err)
		}
		r.line++
		if tooLong {
			row := Row{Index: r.index, Line: r.line, Err: fmt.Errorf("line longer than %d bytes", MaxRowSize)}
			r.index++
			return row, nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue // blank lines are not rows
		}
		row := Row{Index: r.index, Line: r.line, Data: line}
		r.index++
		return row, nil
	}
}

// readLine returns the next line without its newline, in a fresh slice.
func (r *jsonlReader) readLine() (line []byte, tooLong bool, err error) {
	for {
		chunk, err := r.br.ReadSlice('\n')
		r.off += int64(len(chunk))
		if !tooLong {
			n := len(chunk) // without the newline, which the last line may lack
			if n > 0 && chunk[n-1] == '\n' {
				n--
			}
			if len(line)+n > MaxRowSize {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return line, tooLong, err
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		return line, tooLong, nil
	}
}

type csvReader struct {
	name   string
	cr     *csv.Reader
	header []string
	index  int64
	limit  *rowLimit
	bom    int64 // bytes of byte order mark before what cr reads
	next   int   // the line after the last row read
}

func newCSVReader(r io.Reader, name string) (*csvReader, error) {
	// The parser keeps a row in memory whatever its size: the limit under
	// its buffer stops one that grows past MaxRowSize and its line break.
	// The buffer reads ahead up to the limit, never past it, so a row
	// within the bound never sees the limit's error.
	limit := &rowLimit{r: r, max: MaxRowSize + int64(len("\r\n"))}
	limit.from(0) // the header is a row too
	br := bufio.NewReader(limit)
	// The byte order mark some spreadsheets write goes before the parser
	// sees it: in front of a quoted name it would make the quote bare.
	var bom int64
	if b, _ := br.Peek(3); string(b) == "\ufeff" {
		br.Discard(3)
		bom = 3
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // we report the count ourselves, with both numbers
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty file; a CSV input needs a header row", name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	for i, h := range header {
		if h == "" {
			return nil, fmt.Errorf("%s:1: column %d has no name", name, i+1)
		}
		if j := slices.Index(header[:i], h); j >= 0 {
			return nil, fmt.Errorf("%s:1: columns %d and %d are both named %q", name, j+1, i+1, h)
		}
	}
	return &csvReader{name: name, cr: cr, header: header, limit: limit, bom: bom, next: 2}, nil
}

func (r *csvReader) Name() string     { return r.name }
func (r *csvReader) Header() []string { return r.header }
func (r *csvReader) Offset() int64    { return r.cr.InputOffset() }

func (r *csvReader) Read() (Row, error) {
	r.limit.from(r.bom + r.cr.InputOffset())
	cells, err := r.cr.Read()
	switch {
	case err == io.EOF:
		return Row{}, err
	case errors.Is(err, errRowTooLong):
		return Row{}, fmt.Errorf("%s:%d: the row starting on this line (or after blank lines) is longer than %d bytes; is a quote left open?", r.name, r.next, MaxRowSize)
	}
	row := Row{Index: r.index, Cells: cells, Header: r.header}
	if n := len(cells); n > 0 {
		line, _ := r.cr.FieldPos(0)
		row.Line = int64(line)
		// The row ends on the line of its last cell, or later when that
		// cell holds line breaks.
		last, _ := r.cr.FieldPos(n - 1)
		r.next = last + strings.Count(cells[n-1], "\n") + 1
	}
	var pe *csv.ParseError
	switch {
	case errors.As(err, &pe):
		row.Line = int64(pe.StartLine)
		row.Err = pe.Err
	case err != nil:
		return Row{}, fmt.Errorf("%s: %w", r.name, err)
	case len(cells) != len(r.header):
		row.Err = fmt.Errorf("row has %d cells, the header has %d", len(cells), len(r.header))
	}
	r.index++
	return row, nil
}

var errRowTooLong = errors.New("row too long")

// rowLimit lets a reader read at most max bytes past a point, the start of
// the row being read.
type rowLimit struct {
	r     io.Reader
	max   int64
	n     int64 // bytes read
	limit int64 // n may not pass it
}

func (l *rowLimit) from(off int64) { l.limit = off + l.max }

func (l *rowLimit) Read(p []byte) (int, error) {
	if l.n >= l.limit {
		return 0, errRowTooLong
	}
	if rest := l.limit - l.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

type pbReader struct {
	name  string
	br    *bufio.Reader
	index int64
	off   int64
}

func (r *pbReader) Name() string     { return r.name }
func (r *pbReader) Header() []string { return nil }
func (r *pbReader) Offset() int64    { return r.off }

func (r *pbReader) Read() (Row, error) {
	prefix := &countingByteReader{br: r.br}
	size, err := binary.ReadUvarint(prefix)
	if err == io.EOF {
		return Row{}, io.EOF
	}
	if err != nil {
		return Row{}, fmt.Errorf("%s: record %d at byte %d: bad length prefix: %w", r.name, r.index+1, r.off, err)
	}
	if size > MaxRowSize {
		return Row{}, fmt.Errorf("%s: record %d at byte %d: length %d exceeds %d bytes", r.name, r.index+1, r.off, size, MaxRowSize)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r.br, data); err != nil {
		return Row{}, fmt.Errorf("%s: record %d at byte %d: truncated: %w", r.name, r.index+1, r.off, err)
	}
	r.off += prefix.n + int64(size)
	row := Row{Index: r.index, Line: r.index + 1, Data: data}
	r.index++
	return row, nil
}

// countingByteReader counts the bytes of a length prefix: a varint need not
// be in its shortest form, so its value does not tell its length.
type countingByteReader struct {
	br *bufio.Reader
	n  int64
}

func (c *countingByteReader) ReadByte() (byte, error) {
	b, err := c.br.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}
