package codec

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// CSV: a header row naming the fields, then one row of text cells per
// element.
func init() {
	RegisterFormat(CSV, InputFormat{
		Exts:  []string{".csv"},
		Gzip:  true,
		Table: true,
		NewReader: func(r io.Reader, name string) (Reader, error) {
			return newCSVReader(r, name)
		},
		NewReaderAt: newCSVReaderAt,
		NewDecoder:  newCSVDecoder,
		ElementJSON: csvElement,
		CountRows:   countCSVRecords,
	})
}

type csvReader struct {
	name   string
	cr     *csv.Reader
	header []string
	index  int64
	limit  *rowLimit
	bom    int64 // bytes of byte order mark before what cr reads
	next   int   // the line after the last row read
	// base is the byte offset and lines the line count, in the input,
	// of where cr starts reading: 0 but for a reader from a split.
	base  int64
	lines int
	// lost is set by a row the parser could not parse, after which next
	// is not known for sure until a row parses.
	lost bool
}

// newCSVReaderAt reads the rows from a split: the header from the head
// of the input, the rows from body, a new parser started at a row start
// (never inside a quoted cell, since Splits found it reading the rows
// before it), its line numbers counted on from the split's.
func newCSVReaderAt(head, body io.Reader, name string, at Split) (SplitReader, error) {
	h, err := newCSVReader(head, name)
	if err != nil {
		return nil, err
	}
	limit := &rowLimit{r: body, max: MaxRowSize + int64(len("\r\n"))}
	limit.from(0)
	cr := csv.NewReader(bufio.NewReader(limit))
	cr.FieldsPerRecord = -1
	return &csvReader{name: name, cr: cr, header: h.header, limit: limit, index: at.Row,
		next: int(at.Line) + 1, base: at.Offset, lines: int(at.Line)}, nil
}

// Next: the byte the parser stops at after a row, its line break
// included, and the lines of the rows read.
func (r *csvReader) Next() (Split, bool) {
	return Split{Offset: r.base + r.bom + r.cr.InputOffset(), Row: r.index, Line: int64(r.next - 1)}, !r.lost
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
func (r *csvReader) Offset() int64    { return r.base + r.cr.InputOffset() }

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
	r.lost = false
	if n := len(cells); n > 0 {
		line, _ := r.cr.FieldPos(0)
		row.Line = int64(r.lines + line)
		// The row ends on the line of its last cell, or later when that
		// cell holds line breaks.
		last, _ := r.cr.FieldPos(n - 1)
		r.next = r.lines + last + strings.Count(cells[n-1], "\n") + 1
	}
	var pe *csv.ParseError
	switch {
	case errors.As(err, &pe):
		row.Line = int64(r.lines + pe.StartLine)
		row.Err = pe.Err
		r.lost = true
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

// csvDecoder decodes the rows of one CSV file, knowing its header.
type csvDecoder struct {
	b       *ElementBuilder
	header  []string
	columns []protoreflect.FieldDescriptor // by column; nil for a column that is not a field
	idCol   int
}

func newCSVDecoder(b *ElementBuilder, in Reader) (RowDecoder, error) {
	opts, msg := b.opts, b.fields.Desc()
	header := in.Header()
	d := &csvDecoder{b: b, header: header, columns: make([]protoreflect.FieldDescriptor, len(header)), idCol: -1}
	for i, col := range header {
		if col == opts.IDField {
			d.idCol = i
		}
		fd := b.fields.Lookup(col)
		if fd == nil && col != opts.IDField && !opts.IgnoreUnknown {
			return nil, fmt.Errorf("%s:1: column %q is not a field of %s (fields: %s)", b.name, col, msg.FullName(), fieldList(msg))
		}
		d.columns[i] = fd
	}
	if d.idCol < 0 {
		return nil, fmt.Errorf("%s:1: no id column %q in the header (columns: %s); name the id column with --id-field", b.name, opts.IDField, Columns(header))
	}
	if opts.Key != nil {
		for _, f := range opts.Key.Fields() {
			// A CSV row renders its key from its cells: a field of the
			// message without a column would be missing from every row.
			if !slices.Contains(header, f) {
				return nil, fmt.Errorf("%s:1: join key %q: no column %q (columns: %s)", b.name, opts.Key, f, strings.Join(header, ", "))
			}
		}
	}
	return d, nil
}

func (d *csvDecoder) Decode(row Row) (Element, error) {
	cells := row.Cells
	m := dynamicpb.NewMessage(d.b.fields.Desc())
	for i, fd := range d.columns {
		if fd == nil {
			continue
		}
		if err := SetString(m, fd, cells[i]); err != nil {
			return Element{}, err
		}
	}
	get := func(name string) (string, bool) {
		i := slices.Index(d.header, name)
		if i < 0 || cells[i] == "" {
			return "", false
		}
		return cells[i], true
	}
	return d.b.Build(m, get)
}

func (d *csvDecoder) ID(row Row) (string, bool) {
	if d.idCol < len(row.Cells) {
		return row.Cells[d.idCol], true
	}
	return "", false
}

// csvElement is a CSV row as a JSON object of its cells, named by the
// header, or by their column numbers past it.
func csvElement(row Row, _ protoreflect.MessageDescriptor) json.RawMessage {
	obj := make([]byte, 0, 64)
	obj = append(obj, '{')
	for i, c := range row.Cells {
		name := fmt.Sprintf("column %d", i+1)
		if i < len(row.Header) {
			name = row.Header[i]
		}
		if i > 0 {
			obj = append(obj, ',')
		}
		k, _ := json.Marshal(name)
		v, _ := json.Marshal(c)
		obj = append(append(append(obj, k...), ':'), v...)
	}
	return append(obj, '}')
}
