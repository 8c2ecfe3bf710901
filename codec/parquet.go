package codec

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Parquet is read and written with github.com/parquet-go/parquet-go: pure
// Go (no cgo, so the binary still builds static), maintained (frequent
// releases, the successor of Segment's library), and it reads a file the
// way a job needs: the footer first, then one row group at a time, each
// column's pages decoded as the rows reach them, so memory follows the
// page and batch sizes, never the file's. Apache Arrow's Go module reads
// Parquet too, but brings Arrow's whole dependency tree for one format.

// Parquet: read with random access, from the footer, a row group at a
// time; its pages are compressed inside, so the file is never gzipped.
func init() {
	RegisterFormat(Parquet, InputFormat{
		Exts:              []string{".parquet", ".parq"},
		NoGzip:            "a Parquet file compresses its own pages and cannot be read gzipped; gunzip it",
		NewRandomReader:   NewParquetReader,
		SplitsAt:          parquetSplits,
		NewRandomReaderAt: newParquetReaderAt,
		NewDecoder:        newParquetDecoder,
		ElementJSON:       parquetElement,
		CountRowsAt:       countParquet,
	})
}

// countParquet reads a file's row count from its footer.
func countParquet(r io.ReaderAt, size int64, name string) (int64, error) {
	rd, err := NewParquetReader(r, size, name)
	if err != nil {
		return 0, err
	}
	return rd.(*parquetReader).total, nil
}

// parquetSplits splits a file at its row groups, each split at least
// every rows after the one before: a row group is read whole or not at
// all, so a split inside one would read it twice.
func parquetSplits(r io.ReaderAt, size int64, name string, every int64) ([]Split, error) {
	rd, err := NewParquetReader(r, size, name)
	if err != nil {
		return nil, err
	}
	out := []Split{{}}
	var row int64
	for _, g := range rd.(*parquetReader).groups {
		if row-out[len(out)-1].Row >= every {
			out = append(out, Split{Offset: row, Row: row, Line: row})
		}
		row += g.NumRows()
	}
	return out, nil
}

// newParquetReaderAt reads from the row at.Offset: from the start of its
// row group, skipping the rows before it.
func newParquetReaderAt(r io.ReaderAt, size int64, name string, at Split) (SplitReader, error) {
	rd, err := NewParquetReader(r, size, name)
	if err != nil {
		return nil, err
	}
	pr := rd.(*parquetReader)
	if at.Offset < 0 || at.Offset > pr.total {
		return nil, fmt.Errorf("%s: split at row %d of %d", name, at.Offset, pr.total)
	}
	for len(pr.groups) > 0 && pr.index+pr.groups[0].NumRows() <= at.Offset {
		pr.index += pr.groups[0].NumRows()
		pr.groups = pr.groups[1:]
	}
	pr.skip, pr.first = at.Offset-pr.index, pr.index
	return pr, nil
}

// Next: a row's index.
func (r *parquetReader) Next() (Split, bool) {
	i := r.index + r.skip
	return Split{Offset: i, Row: i, Line: i}, true
}

const (
	// parquetBatch is how many rows a Parquet reader decodes at a time.
	parquetBatch = 256
	// parquetReadAhead is the read buffer of all of a file's columns
	// together: each column chunk is read through its own buffer, and from
	// Cloud Storage every refill is a request.
	parquetReadAhead = 16 << 20
)

// NewParquetReader reads the rows of the Parquet file r of size bytes. name
// is used in messages. It reads the footer now and the row groups one after
// the other as rows are read, holding one batch of rows at a time.
//
// Each top-level column (field of the file's root) is one field of the
// input message, and a row converts as the JSON object of its columns
// would in a JSON lines file: a column of values sets its field from its
// typed value when the kinds agree and through its JSON otherwise; a
// group, list or map column is rendered as the JSON value it holds, which
// fills a message, repeated or map field. A row's Line is its 1-based
// number in the file.
func NewParquetReader(r io.ReaderAt, size int64, name string) (_ Reader, err error) {
	defer func() {
		// The library trusts a file's structure in places; a file that
		// lies about it must fail the input, not the process.
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: not a Parquet file: corrupt footer: %v", name, p)
		}
	}()
	// The library allocates the footer its last bytes announce before it
	// reads it: a damaged end must not ask for gigabytes.
	var tail [8]byte
	if size < 12 {
		return nil, fmt.Errorf("%s: not a Parquet file: %d bytes", name, size)
	}
	if _, err := r.ReadAt(tail[:], size-8); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if n := int64(binary.LittleEndian.Uint32(tail[:4])); n > size-12 {
		return nil, fmt.Errorf("%s: not a Parquet file: a footer of %d bytes in %d", name, n, size)
	}
	opts := []parquet.FileOption{parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true)}
	f, err := parquet.OpenFile(r, size, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: not a Parquet file: %w", name, err)
	}
	// Reopened with read buffers sized to the columns: the number of
	// columns is only known from the footer.
	buf := min(max(parquetReadAhead/max(len(f.Schema().Columns()), 1), 64<<10), 1<<20)
	if f, err = parquet.OpenFile(r, size, append(opts, parquet.ReadBufferSize(buf))...); err != nil {
		return nil, fmt.Errorf("%s: not a Parquet file: %w", name, err)
	}
	layout, err := newParquetLayout(f.Root())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &parquetReader{name: name, layout: layout, groups: f.RowGroups(), size: size, total: f.NumRows()}, nil
}

type parquetReader struct {
	name    string
	layout  *parquetLayout
	groups  []parquet.RowGroup
	rows    parquet.Rows // of the row group being read
	due     int64        // rows of the group not read yet
	idle    int          // reads in a row that returned nothing
	buf     []parquet.Row
	pending []parquet.Row
	index   int64
	// skip is the rows to pass over before the first Read returns one,
	// for a reader from a split inside a row group.
	skip int64
	// first is the index the reader started at.
	first int64
	size  int64 // bytes of the file
	total int64 // rows of the file

	// fast is the fast path a decoder chose before the first read; nil
	// reads every column through the general path.
	fast *parquetPlan
	unit parquetUnit
	// slow keeps the fast path off, for the tests that hold it to the
	// general path.
	slow bool
}

func (r *parquetReader) Name() string { return r.name }

// Offset is the share of the file's bytes the rows read so far stand for:
// columns are read side by side, so a byte offset means nothing, but the
// footer says how many rows there are.
func (r *parquetReader) Offset() int64 {
	if r.total == 0 {
		return r.size
	}
	return r.size * r.index / r.total
}

// Header returns the names of the file's top-level columns.
func (r *parquetReader) Header() []string { return r.layout.names }

func (r *parquetReader) Read() (Row, error) {
	for ; r.skip > 0; r.skip-- {
		if _, err := r.read(); err != nil {
			return Row{}, err
		}
	}
	return r.read()
}

func (r *parquetReader) read() (Row, error) {
	if r.fast != nil {
		return r.readFast()
	}
	for len(r.pending) == 0 {
		if err := r.fill(); err != nil {
			return Row{}, err
		}
	}
	row := Row{Index: r.index, Line: r.index + 1, parquet: &parquetRow{layout: r.layout, values: r.pending[0]}}
	r.pending = r.pending[1:]
	r.index++
	return row, nil
}

func (r *parquetReader) readFast() (Row, error) {
	u := &r.unit
	for len(u.pending) > 0 && len(u.pending[0]) == 0 {
		u.pending = u.pending[1:]
	}
	for len(u.pending) == 0 {
		if err := r.fillFast(); err != nil {
			return Row{}, err
		}
	}
	row := Row{Index: r.index, Line: r.index + 1, parquet: &u.pending[0][0]}
	u.pending[0] = u.pending[0][1:]
	r.index++
	return row, nil
}

// started reports whether rows have been read, after which the columns a
// reader reads are settled.
func (r *parquetReader) started() bool {
	return r.index > r.first || r.rows != nil || len(r.unit.cursors) > 0
}

// fill reads the next batch of rows, moving on to the next row group when
// one ends.
func (r *parquetReader) fill() (err error) {
	defer func() {
		if p := recover(); p != nil { // as in NewParquetReader
			err = fmt.Errorf("%s: row %d: corrupt file: %v", r.name, r.index+1, p)
		}
	}()
	if r.rows == nil {
		if len(r.groups) == 0 {
			return io.EOF
		}
		r.rows, r.due, r.groups = r.groups[0].Rows(), r.groups[0].NumRows(), r.groups[1:]
	}
	if r.buf == nil {
		r.buf = make([]parquet.Row, parquetBatch)
	}
	n, err := r.rows.ReadRows(r.buf)
	// The values' bytes belong to the reader's pages, which the next read
	// reuses; the rows outlive it, in the decoders.
	r.pending = cloneRows(r.buf[:n])
	r.due -= int64(n)
	r.idle++
	if n > 0 {
		r.idle = 0
	}
	switch {
	case errors.Is(err, io.EOF) && r.due != 0:
		err = fmt.Errorf("the row group ended %d rows off its count: %w", r.due, parquet.ErrCorrupted)
	case errors.Is(err, io.EOF):
		err = r.rows.Close()
		r.rows = nil
	case err == nil && r.idle > 16:
		// A reader may return fewer rows than asked for, but one that
		// keeps returning none is reading a file that lies.
		err = fmt.Errorf("no rows where %d more are due: %w", r.due, parquet.ErrCorrupted)
	}
	if err != nil {
		return fmt.Errorf("%s: row %d: %w", r.name, r.index+int64(n)+1, err)
	}
	return nil
}

// cloneRows copies rows into two allocations, one for the values and one
// for their bytes.
func cloneRows(rows []parquet.Row) []parquet.Row {
	var nv, nb int
	for _, row := range rows {
		nv += len(row)
		for _, v := range row {
			if isBytes(v) {
				nb += len(v.ByteArray())
			}
		}
	}
	values := make([]parquet.Value, 0, nv)
	data := make([]byte, 0, nb)
	out := make([]parquet.Row, len(rows))
	for i, row := range rows {
		start := len(values)
		for _, v := range row {
			if isBytes(v) {
				b := v.ByteArray()
				data = append(data, b...)
				b = data[len(data)-len(b) : len(data) : len(data)]
				c := parquet.ByteArrayValue(b)
				if v.Kind() == parquet.FixedLenByteArray {
					c = parquet.FixedLenByteArrayValue(b)
				}
				v = c.Level(v.RepetitionLevel(), v.DefinitionLevel(), v.Column())
			}
			values = append(values, v)
		}
		out[i] = parquet.Row(values[start:len(values):len(values)])
	}
	return out
}

func isBytes(v parquet.Value) bool {
	k := v.Kind()
	return (k == parquet.ByteArray || k == parquet.FixedLenByteArray) && !v.IsNull()
}

// parquetRow is one row of a Parquet file: the values of its leaf columns,
// in column order, with their levels.
type parquetRow struct {
	layout *parquetLayout
	values parquet.Row
	// plan is the fast path that read the row, nil for the general path:
	// then values hold only the columns it read. fast says it encoded the
	// row's message as payload.
	plan *parquetPlan
	fast bool
	// cols hold a fast row's values by column, the row's at index at;
	// whole gathers them.
	cols [][]parquet.Value
	at   int
	elem Element // the fast path's, with its error
	err  error
}

// parquetLayout is what a file's schema says about its rows.
type parquetLayout struct {
	columns []parquetColumn // top-level
	names   []string
	leaves  []leafType // by leaf column index
}

// parquetColumn is one top-level column, which spans the leaf columns
// [first, end).
type parquetColumn struct {
	name       string
	node       parquet.Node
	first, end int
	// leaf is set for a column of single values (not repeated, not a
	// group), which sets its field with the typed setters.
	leaf *leafType
}

func newParquetLayout(root *parquet.Column) (*parquetLayout, error) {
	l := &parquetLayout{}
	for _, c := range root.Columns() {
		pc := parquetColumn{name: c.Name(), node: c, first: len(l.leaves)}
		var walk func(c *parquet.Column) error
		walk = func(c *parquet.Column) error {
			if c.Leaf() {
				l.leaves = append(l.leaves, leafTypeOf(c.Type()))
				return nil
			}
			for _, sub := range c.Columns() {
				if err := walk(sub); err != nil {
					return err
				}
			}
			return nil
		}
		if err := walk(c); err != nil {
			return nil, err
		}
		pc.end = len(l.leaves)
		if pc.end == pc.first {
			return nil, fmt.Errorf("column %s: an empty group", c.Name())
		}
		l.columns = append(l.columns, pc)
		l.names = append(l.names, pc.name)
	}
	// Now that l.leaves no longer grows.
	for i := range l.columns {
		if c := &l.columns[i]; c.node.Leaf() && !c.node.Repeated() {
			c.leaf = &l.leaves[c.first]
		}
	}
	return l, nil
}

// column returns the index of the top-level column called name, or -1.
func (l *parquetLayout) column(name string) int {
	for i := range l.columns {
		if l.columns[i].name == name {
			return i
		}
	}
	return -1
}

// shape names what a column holds, for messages.
func (c *parquetColumn) shape() string {
	switch {
	case c.leaf != nil:
		return "column of values"
	case isParquetList(c.node) || c.node.Repeated():
		return "list"
	case isParquetMap(c.node):
		return "map"
	}
	return "group"
}

// fits reports whether the column's shape can set fd at all, so that a job
// whose file and message disagree stops before it starts rather than with
// every row a dead letter.
func (c *parquetColumn) fits(fd protoreflect.FieldDescriptor) bool {
	message := fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind
	switch c.shape() {
	case "list":
		if fd.IsList() {
			return true
		}
		if message && !fd.IsMap() {
			switch fd.Message().FullName() {
			case "google.protobuf.ListValue", "google.protobuf.Value":
				return true
			}
		}
		return false
	case "map", "group":
		return fd.IsMap() || message && !fd.IsList()
	}
	return true
}

// whole returns the row with its values in row order.
func (r *parquetRow) whole() *parquetRow {
	if r.cols == nil {
		return r
	}
	c := *r
	c.values = make(parquet.Row, len(r.cols))
	for j, col := range r.cols {
		c.values[j] = col[r.at]
	}
	c.cols = nil
	return &c
}

// split returns the values of each top-level column of the row.
func (r *parquetRow) split() [][]parquet.Value {
	cols := make([][]parquet.Value, len(r.layout.columns))
	i := 0
	for k := range r.layout.columns {
		end := r.layout.columns[k].end
		j := i
		for j < len(r.values) && r.values[j].Column() < end {
			j++
		}
		cols[k] = r.values[i:j:j]
		i = j
	}
	return cols
}

// JSON renders the row as the JSON object of its columns, for the dead
// letters.
func (r *parquetRow) JSON() json.RawMessage {
	if r.cols != nil {
		return r.whole().JSON()
	}
	cols := r.split()
	dst := []byte{'{'}
	for i := range r.layout.columns {
		if len(cols[i]) == 0 {
			continue // a column the fast path did not read: every column of a row read whole has a value, if only a null
		}
		if len(dst) > 1 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, r.layout.columns[i].name)
		dst = append(dst, ':')
		dst = r.layout.appendColumn(dst, i, cols[i])
	}
	return append(dst, '}')
}

// text returns the text of a column of values in the row, as an id or a
// key template takes it; false when the column is not one of values or the
// value is null.
func (r *parquetRow) text(cols [][]parquet.Value, name string) (string, bool) {
	i := r.layout.column(name)
	if i < 0 || r.layout.columns[i].leaf == nil || len(cols[i]) == 0 || cols[i][0].IsNull() {
		return "", false
	}
	return r.layout.columns[i].leaf.text(cols[i][0]), true
}

// set sets the fields of m from the row's columns; fields[i] is the field
// of column i, nil for a column that sets none.
func (r *parquetRow) set(m protoreflect.Message, fields []protoreflect.FieldDescriptor, cols [][]parquet.Value) error {
	for i, fd := range fields {
		if fd == nil {
			continue
		}
		c := &r.layout.columns[i]
		if c.leaf != nil {
			if len(cols[i]) == 0 {
				return &FieldError{Field: string(fd.Name()), Msg: "no value in the row"}
			}
			if err := c.leaf.set(m, fd, cols[i][0]); err != nil {
				return err
			}
			continue
		}
		if err := SetJSON(m, fd, r.layout.appendColumn(nil, i, cols[i])); err != nil {
			return err
		}
	}
	return nil
}

// levels are the repetition depth and definition level reached while
// walking down a column's schema.
type levels struct{ rep, def int }

// appendColumn appends the JSON of top-level column i, whose values are
// vals: Dremel's record assembly, one node of the schema at a time.
func (l *parquetLayout) appendColumn(dst []byte, i int, vals []parquet.Value) []byte {
	c := &l.columns[i]
	cols := make([][]parquet.Value, c.end-c.first)
	k := 0
	for j := range cols {
		start := k
		for k < len(vals) && vals[k].Column() == c.first+j {
			k++
		}
		cols[j] = vals[start:k:k]
	}
	return l.appendNode(dst, c.node, levels{}, cols)
}

// appendNode appends the JSON of node n, whose leaf columns hold cols.
func (l *parquetLayout) appendNode(dst []byte, n parquet.Node, lv levels, cols [][]parquet.Value) []byte {
	if len(cols) == 0 || len(cols[0]) == 0 {
		return append(dst, "null"...) // a malformed row: nothing to show
	}
	switch {
	case n.Repeated():
		return l.appendItems(dst, lv, cols, '[', ']', func(dst []byte, lv levels, cols [][]parquet.Value) []byte {
			return l.appendRequired(dst, n, lv, cols)
		})
	case n.Optional():
		lv.def++
		if cols[0][0].DefinitionLevel() < lv.def {
			return append(dst, "null"...)
		}
	}
	return l.appendRequired(dst, n, lv, cols)
}

// appendRequired appends the JSON of one present value of node n.
func (l *parquetLayout) appendRequired(dst []byte, n parquet.Node, lv levels, cols [][]parquet.Value) []byte {
	if len(cols) == 0 || len(cols[0]) == 0 {
		return append(dst, "null"...)
	}
	if n.Leaf() {
		v := cols[0][0]
		return l.leaves[v.Column()].appendJSON(dst, v)
	}
	fields := n.Fields()
	switch {
	case isParquetList(n) && len(fields) == 1 && fields[0].Repeated():
		rep := fields[0]
		// The standard list: a repeated group of one element. Older writers
		// repeat the element itself (a leaf, or a group of several fields).
		var elem parquet.Node
		if !rep.Leaf() && len(rep.Fields()) == 1 && rep.Name() != "array" && !strings.HasSuffix(rep.Name(), "_tuple") {
			elem = rep.Fields()[0]
		}
		return l.appendItems(dst, lv, cols, '[', ']', func(dst []byte, lv levels, cols [][]parquet.Value) []byte {
			if elem != nil {
				return l.appendNode(dst, elem, lv, cols)
			}
			return l.appendRequired(dst, rep, lv, cols)
		})
	case isParquetMap(n) && len(fields) == 1 && fields[0].Repeated() && len(fields[0].Fields()) == 2:
		kv := fields[0].Fields()
		key, value := kv[0], kv[1]
		if key.Name() != "key" {
			key, value = value, key
		}
		if !key.Leaf() {
			break // not a map this reader knows: shown as the group it is
		}
		return l.appendItems(dst, lv, cols, '{', '}', func(dst []byte, lv levels, cols [][]parquet.Value) []byte {
			// The key is one leaf column, before the value's or after them.
			kcols, vcols := cols[:1], cols[1:]
			if key != kv[0] {
				kcols, vcols = cols[len(cols)-1:], cols[:len(cols)-1]
			}
			if len(kcols[0]) == 0 || kcols[0][0].IsNull() {
				dst = append(dst, `"":`...)
			} else {
				k := kcols[0][0]
				dst = appendJSONString(dst, l.leaves[k.Column()].text(k))
				dst = append(dst, ':')
			}
			return l.appendNode(dst, value, lv, vcols)
		})
	}
	dst = append(dst, '{')
	off := 0
	for i, f := range fields {
		n := parquetLeafCount(f)
		if off+n > len(cols) {
			break
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, f.Name())
		dst = append(dst, ':')
		dst = l.appendNode(dst, f, lv, cols[off:off+n])
		off += n
	}
	return append(dst, '}')
}

// appendItems appends the items of a repeated node between open and close.
// A value whose repetition level is this node's depth starts a new item;
// a deeper one continues the current item.
func (l *parquetLayout) appendItems(dst []byte, lv levels, cols [][]parquet.Value, open, close byte, item func([]byte, levels, [][]parquet.Value) []byte) []byte {
	lv.rep++
	lv.def++
	dst = append(dst, open)
	if cols[0][0].DefinitionLevel() < lv.def {
		return append(dst, close) // empty
	}
	next := make([]int, len(cols))
	sub := make([][]parquet.Value, len(cols))
	for first := true; next[0] < len(cols[0]); first = false {
		for j, col := range cols {
			start := next[j]
			end := start + 1
			for end < len(col) && col[end].RepetitionLevel() > lv.rep {
				end++
			}
			sub[j] = col[min(start, len(col)):min(end, len(col))]
			next[j] = end
		}
		if !first {
			dst = append(dst, ',')
		}
		dst = item(dst, lv, sub)
	}
	return append(dst, close)
}

func parquetLeafCount(n parquet.Node) int {
	if n.Leaf() {
		return 1
	}
	count := 0
	for _, f := range n.Fields() {
		count += parquetLeafCount(f)
	}
	return count
}

func isParquetList(n parquet.Node) bool {
	if n.Leaf() {
		return false
	}
	lt := n.Type().LogicalType()
	_, ok := logicalValue(lt).(*format.ListType)
	return ok
}

func isParquetMap(n parquet.Node) bool {
	if n.Leaf() {
		return false
	}
	lt := n.Type().LogicalType()
	_, ok := logicalValue(lt).(*format.MapType)
	return ok
}

func logicalValue(lt *format.LogicalType) format.LogicalTypeValue {
	if lt == nil {
		return nil
	}
	return lt.Value
}

// leafKind is how the values of a leaf column become field values.
type leafKind uint8

const (
	leafBool leafKind = iota
	leafInt
	leafUint
	leafFloat
	leafDouble
	leafString // UTF-8 text
	leafJSON   // UTF-8 text holding JSON
	leafBytes
	leafDate      // days since 1970-01-01
	leafTime      // time of day, in units
	leafTimestamp // time since 1970-01-01T00:00:00Z, in units
	leafInt96     // the legacy timestamps of Impala and Spark
	leafDecimal   // an unscaled integer, scaled by scale
	leafUUID
)

type leafType struct {
	kind  leafKind
	unit  time.Duration // leafTime, leafTimestamp
	scale int32         // leafDecimal
}

// leafTypeOf says how a leaf column's values become field values. Logical
// types it does not know (FLOAT16, INTERVAL, BSON, geometries) are their
// bytes.
func leafTypeOf(t parquet.Type) leafType {
	lv := logicalValue(t.LogicalType())
	switch lt := lv.(type) {
	case *format.DecimalType:
		return leafType{kind: leafDecimal, scale: lt.Scale}
	case *format.DateType:
		return leafType{kind: leafDate}
	case *format.TimeType:
		return leafType{kind: leafTime, unit: timeUnit(lt.Unit)}
	case *format.TimestampType:
		return leafType{kind: leafTimestamp, unit: timeUnit(lt.Unit)}
	case *format.StringType, *format.EnumType, *format.NullType:
		return leafType{kind: leafString}
	case *format.JsonType:
		return leafType{kind: leafJSON}
	case *format.UUIDType:
		return leafType{kind: leafUUID}
	}
	switch t.Kind() {
	case parquet.Boolean:
		return leafType{kind: leafBool}
	case parquet.Int32, parquet.Int64:
		if it, ok := lv.(*format.IntType); ok && !it.IsSigned {
			return leafType{kind: leafUint}
		}
		return leafType{kind: leafInt}
	case parquet.Int96:
		return leafType{kind: leafInt96}
	case parquet.Float:
		return leafType{kind: leafFloat}
	case parquet.Double:
		return leafType{kind: leafDouble}
	}
	return leafType{kind: leafBytes}
}

func timeUnit(u format.TimeUnit) time.Duration {
	switch u.Value.(type) {
	case *format.MilliSeconds:
		return time.Millisecond
	case *format.MicroSeconds:
		return time.Microsecond
	}
	return time.Nanosecond
}

func (t *leafType) int(v parquet.Value) int64 {
	if v.Kind() == parquet.Int32 {
		return int64(v.Int32())
	}
	return v.Int64()
}

func (t *leafType) uint(v parquet.Value) uint64 {
	if v.Kind() == parquet.Int32 {
		return uint64(uint32(v.Int32()))
	}
	return uint64(v.Int64())
}

// set sets fd from v; a null leaves it unset.
func (t *leafType) set(m protoreflect.Message, fd protoreflect.FieldDescriptor, v parquet.Value) error {
	if v.IsNull() {
		return nil
	}
	switch t.kind {
	case leafBool:
		return setBool(m, fd, v.Boolean())
	case leafInt:
		return setInt(m, fd, t.int(v))
	case leafUint:
		return setUint(m, fd, t.uint(v))
	case leafFloat:
		return setFloat(m, fd, float64(v.Float()), 32)
	case leafDouble:
		return setFloat(m, fd, v.Double(), 64)
	case leafBytes:
		return setBytes(m, fd, v.ByteArray())
	case leafJSON:
		// A string field takes the JSON as text; any other field takes the
		// value the JSON holds.
		if b := v.ByteArray(); fd.Kind() != protoreflect.StringKind && json.Valid(b) {
			return SetJSON(m, fd, b)
		}
	}
	return setText(m, fd, t.text(v))
}

// text is the value's text as a CSV cell would hold it.
func (t *leafType) text(v parquet.Value) string {
	switch t.kind {
	case leafBool:
		return strconv.FormatBool(v.Boolean())
	case leafInt:
		return strconv.FormatInt(t.int(v), 10)
	case leafUint:
		return strconv.FormatUint(t.uint(v), 10)
	case leafFloat:
		return formatFloat(float64(v.Float()), 32)
	case leafDouble:
		return formatFloat(v.Double(), 64)
	case leafString, leafJSON:
		return string(v.ByteArray())
	case leafBytes:
		return base64.StdEncoding.EncodeToString(v.ByteArray())
	case leafDate:
		return time.Unix(t.int(v)*86400, 0).UTC().Format(time.DateOnly)
	case leafTime:
		d := time.Duration(t.int(v)) * t.unit
		return time.Unix(0, 0).UTC().Add(d).Format("15:04:05.999999999")
	case leafTimestamp:
		n := t.int(v)
		var ts time.Time
		switch t.unit {
		case time.Millisecond:
			ts = time.UnixMilli(n)
		case time.Microsecond:
			ts = time.UnixMicro(n)
		default:
			ts = time.Unix(0, n)
		}
		return ts.UTC().Format(time.RFC3339Nano)
	case leafInt96:
		i := v.Int96()
		nanos := int64(uint64(i[0]) | uint64(i[1])<<32)
		const julianUnixEpoch = 2440588
		days := int64(i[2]) - julianUnixEpoch
		return time.Unix(days*86400, nanos).UTC().Format(time.RFC3339Nano)
	case leafDecimal:
		return t.decimal(v)
	case leafUUID:
		b := v.ByteArray()
		if len(b) != 16 {
			return hex.EncodeToString(b)
		}
		h := hex.EncodeToString(b)
		return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	}
	return v.String()
}

// decimal renders an unscaled integer (INT32, INT64, or big-endian two's
// complement bytes) with t.scale digits after the point.
func (t *leafType) decimal(v parquet.Value) string {
	var n big.Int
	switch v.Kind() {
	case parquet.Int32, parquet.Int64:
		n.SetInt64(t.int(v))
	default:
		b := v.ByteArray()
		n.SetBytes(b)
		if len(b) > 0 && b[0]&0x80 != 0 {
			var full big.Int
			full.Lsh(big.NewInt(1), uint(8*len(b)))
			n.Sub(&n, &full)
		}
	}
	s := n.String()
	if t.scale <= 0 {
		return s + strings.Repeat("0", int(-t.scale))
	}
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	if pad := int(t.scale) + 1 - len(s); pad > 0 {
		s = strings.Repeat("0", pad) + s
	}
	cut := len(s) - int(t.scale)
	return sign + s[:cut] + "." + s[cut:]
}

// appendJSON appends v as a JSON value: numbers and booleans as they are,
// JSON text as the JSON it holds, everything else as a string (bytes in
// base64, times in RFC 3339), which is what protobuf's JSON mapping expects
// of the fields they fill.
func (t *leafType) appendJSON(dst []byte, v parquet.Value) []byte {
	if v.IsNull() {
		return append(dst, "null"...)
	}
	switch t.kind {
	case leafBool, leafInt, leafUint, leafDecimal:
		return append(dst, t.text(v)...)
	case leafFloat:
		return appendJSONFloat(dst, float64(v.Float()), 32)
	case leafDouble:
		return appendJSONFloat(dst, v.Double(), 64)
	case leafJSON:
		if b := v.ByteArray(); json.Valid(b) {
			return append(dst, compact(b)...)
		}
	case leafString:
		if b := v.ByteArray(); !utf8.Valid(b) {
			return appendJSONString(dst, base64.StdEncoding.EncodeToString(b))
		}
	}
	return appendJSONString(dst, t.text(v))
}

// parquetDecoder decodes the rows of one Parquet file, knowing its
// columns.
type parquetDecoder struct {
	b       *ElementBuilder
	columns []protoreflect.FieldDescriptor // by top-level column; nil for a column that is not a field
	// plan is the fast path of the rows this decoder's reader reads; nil
	// when it declined the file.
	plan *parquetPlan
}

// newParquetDecoder maps the columns of a Parquet input to fields of the
// message, and checks the id and key columns, as a CSV decoder does its
// header.
func newParquetDecoder(b *ElementBuilder, in Reader) (RowDecoder, error) {
	pr, ok := in.(*parquetReader)
	if !ok {
		return nil, fmt.Errorf("%s: a Parquet input is read with NewParquetReader", b.name)
	}
	l := pr.layout
	msg, opts := b.fields.Desc(), b.opts
	d := &parquetDecoder{b: b, columns: make([]protoreflect.FieldDescriptor, len(l.columns))}
	idCol := -1
	for i := range l.columns {
		c := &l.columns[i]
		if c.name == opts.IDField {
			if c.leaf == nil {
				return nil, fmt.Errorf("%s: id column %q is a %s, not one value per row", b.name, c.name, c.shape())
			}
			idCol = i
		}
		fd := b.fields.Lookup(c.name)
		switch {
		case fd == nil && c.name != opts.IDField && !opts.IgnoreUnknown:
			return nil, fmt.Errorf("%s: column %q is not a field of %s (fields: %s)", b.name, c.name, msg.FullName(), fieldList(msg))
		case fd != nil && !c.fits(fd):
			return nil, fmt.Errorf("%s: column %q is a %s, which cannot set field %s of %s (%s)", b.name, c.name, c.shape(), fd.Name(), msg.FullName(), fieldShape(fd))
		}
		d.columns[i] = fd
	}
	if idCol < 0 {
		return nil, fmt.Errorf("%s: no id column %q (columns: %s); name the id column with --id-field", b.name, opts.IDField, strings.Join(l.names, ", "))
	}
	if opts.Key != nil {
		for _, f := range opts.Key.Fields() {
			i := l.column(f)
			if i < 0 {
				return nil, fmt.Errorf("%s: join key %q: no column %q (columns: %s)", b.name, opts.Key, f, strings.Join(l.names, ", "))
			}
			if l.columns[i].leaf == nil {
				return nil, fmt.Errorf("%s: join key %q: column %q is a %s, not one value per row", b.name, opts.Key, f, l.columns[i].shape())
			}
		}
	}
	// The fast path reads the columns this decoder needs: it is chosen
	// before the first read, by the first decoder of the reader.
	switch {
	case !pr.slow && !pr.started() && pr.fast == nil:
		pr.fast = newParquetPlan(l, d.columns, b)
		d.plan = pr.fast
	case pr.fast != nil:
		// A second decoder of the reader decodes the rows through the
		// general path, from the columns the first one read.
		for i, fd := range d.columns {
			if fd != nil && !pr.fast.reads(l.columns[i].name) {
				return nil, fmt.Errorf("%s: column %q is not read: the reader serves another decoder", b.name, l.columns[i].name)
			}
		}
	}
	return d, nil
}

func (d *parquetDecoder) Decode(r Row) (Element, error) {
	row := r.parquet
	if row == nil {
		return Element{}, errors.New("not a row of a Parquet file")
	}
	if p := row.plan; p != nil && row.fast && p == d.plan {
		return row.elem, row.err
	}
	row = row.whole()
	m := dynamicpb.NewMessage(d.b.fields.Desc())
	cols := row.split()
	if err := row.set(m, d.columns, cols); err != nil {
		return Element{}, err
	}
	return d.b.Build(m, func(name string) (string, bool) { return row.text(cols, name) })
}

func (d *parquetDecoder) ID(r Row) (string, bool) {
	if r.parquet == nil {
		return "", false
	}
	row := r.parquet.whole()
	return row.text(row.split(), d.b.opts.IDField)
}

// parquetElement is a Parquet row as the JSON object of its columns.
func parquetElement(r Row, _ protoreflect.MessageDescriptor) json.RawMessage {
	if r.parquet == nil {
		return json.RawMessage(`null`)
	}
	return r.parquet.JSON()
}

func fieldShape(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return "a map"
	case fd.IsList():
		return "repeated"
	case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
		return "a message"
	}
	return "a " + fd.Kind().String()
}
