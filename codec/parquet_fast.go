package codec

import (
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The Parquet fast path reads a file column by column and writes each
// row's input message as protobuf wire bytes straight from the columns'
// values: no message built by reflection, no JSON, no per-row map. It
// reads only the columns the decoder needs (the message's fields, the id
// and the join key's columns), a unit of rows at a time, and converts a
// unit's rows on several goroutines.
//
// It takes what it is sure of and declines the rest, as the JSON fast path
// does: a file whose columns it cannot all convert (a list, a group, a
// date, a field in a oneof...) is read by the general path; a row whose
// value it cannot convert directly (an int64 too big for an int32 field,
// an enum name it does not know, text that is not UTF-8) keeps its values
// and is decoded by the general path alone. What it takes, it must encode
// as the general path's deterministic Marshal would, byte for byte:
// parquet_fast_test.go holds it to that over generated files.
//
// Rows keep the values of the columns read, so a dead letter renders the
// row as given; columns the job ignores (--ignore-unknown-fields) are not
// read, and not shown.

// parquetFastUnit is how many rows of a row group the fast path reads from
// its columns at a time: the values of a unit's columns are held at once,
// then converted a batch (parquetBatch rows) per goroutine.
const parquetFastUnit = 16 * parquetBatch

// parquetPlan is how the fast path reads one file for one decoder.
type parquetPlan struct {
	// leaves are the leaf columns read, ascending; each is a top-level
	// column of single values.
	leaves []int
	// fields are the fields the read columns set, ordered by field number
	// as Marshal writes them; at is the read column's position in leaves.
	fields []fastParquetField
	// pos is the position in leaves of each named column read, for the id
	// and the key.
	names []string
	kind  []*leafType // by position in leaves
	// bytes says a read column holds byte arrays, whose lengths size a
	// batch's payloads.
	bytes []bool
	// b identifies a row's element: its id and key are made as its
	// payload is, on the converting goroutines.
	b *ElementBuilder
}

type fastParquetField struct {
	at       int
	num      protowire.Number
	kind     protoreflect.Kind
	presence bool
	src      leafKind
	// enums maps names to numbers, for an enum field set from text.
	enums []enumName
}

type enumName struct {
	name []byte
	num  protoreflect.EnumNumber
}

// newParquetPlan returns the fast path for columns mapped to fields
// (nil for a column that sets none), or nil when it declines the file.
func newParquetPlan(l *parquetLayout, fields []protoreflect.FieldDescriptor, b *ElementBuilder) *parquetPlan {
	if !valueViewFits() {
		return nil
	}
	msg, opts := b.fields.Desc(), b.opts
	// Marshal refuses a message whose required field is unset: that is
	// the general path's to say.
	fs := msg.Fields()
	for i := range fs.Len() {
		if fs.Get(i).Cardinality() == protoreflect.Required {
			return nil
		}
	}
	read := make([]bool, len(l.columns))
	named := map[string]bool{opts.IDField: true}
	if opts.Key != nil {
		for _, f := range opts.Key.Fields() {
			named[f] = true
		}
	}
	for i := range l.columns {
		read[i] = fields[i] != nil || named[l.columns[i].name]
		if read[i] && l.columns[i].leaf == nil {
			return nil
		}
	}
	p := &parquetPlan{b: b}
	seen := map[protowire.Number]bool{}
	for i := range l.columns {
		if !read[i] {
			continue
		}
		c := &l.columns[i]
		at := len(p.leaves)
		p.leaves = append(p.leaves, c.first)
		p.kind = append(p.kind, c.leaf)
		p.names = append(p.names, c.name)
		k := c.node.Type().Kind()
		p.bytes = append(p.bytes, k == parquet.ByteArray || k == parquet.FixedLenByteArray)
		fd := fields[i]
		if fd == nil {
			continue
		}
		if seen[fd.Number()] {
			return nil // two columns (a name and a JSON name) set one field
		}
		seen[fd.Number()] = true
		f, ok := fastParquetFieldOf(fd, c.leaf.kind)
		if !ok {
			return nil
		}
		f.at = at
		p.fields = append(p.fields, f)
	}
	slices.SortFunc(p.fields, func(a, b fastParquetField) int { return int(a.num) - int(b.num) })
	return p
}

// fastParquetFieldOf says how values of a column of kind src set fd, the
// way the typed setters (setInt, setText...) would; false when the fast
// path leaves that pair to the general path.
func fastParquetFieldOf(fd protoreflect.FieldDescriptor, src leafKind) (fastParquetField, bool) {
	f := fastParquetField{num: fd.Number(), kind: fd.Kind(), presence: fd.HasPresence(), src: src}
	if fd.IsList() || fd.IsMap() || fd.IsExtension() {
		return f, false
	}
	if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
		return f, false // Marshal writes oneofs after the other fields
	}
	k := fd.Kind()
	ok := false
	switch src {
	case leafBool:
		ok = k == protoreflect.BoolKind
	case leafInt, leafUint:
		switch k {
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
			protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
			protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind,
			protoreflect.DoubleKind:
			ok = true
		}
	case leafFloat:
		ok = k == protoreflect.FloatKind
	case leafDouble:
		ok = k == protoreflect.DoubleKind
	case leafString:
		switch k {
		case protoreflect.StringKind:
			ok = true
		case protoreflect.EnumKind:
			ok = true
			vals := fd.Enum().Values()
			for i := range vals.Len() {
				f.enums = append(f.enums, enumName{[]byte(vals.Get(i).Name()), vals.Get(i).Number()})
			}
		}
	case leafBytes:
		ok = k == protoreflect.BytesKind
	}
	return f, ok
}

// encode appends the wire bytes of one row of the read columns cols;
// false when a value is one the general path must convert.
func (p *parquetPlan) encode(b []byte, cols [][]parquet.Value, row int) ([]byte, bool) {
	for i := range p.fields {
		f := &p.fields[i]
		v := viewOf(&cols[f.at][row])
		if v.isNull() {
			continue // unset, as the general path leaves it
		}
		var ok bool
		if b, ok = f.append(b, v); !ok {
			return b, false
		}
	}
	return b, true
}

// append appends field f set from v. A field without presence is written
// only when it is not its zero value, as Marshal skips those.
func (f *fastParquetField) append(b []byte, v *valueView) ([]byte, bool) {
	switch f.src {
	case leafBool:
		x := v.u64 != 0
		if !x && !f.presence {
			return b, true
		}
		return protowire.AppendVarint(protowire.AppendTag(b, f.num, protowire.VarintType), protowire.EncodeBool(x)), true
	case leafInt:
		var n int64
		if v.kindOf() == parquet.Int32 {
			n = int64(int32(v.u64))
		} else {
			n = int64(v.u64)
		}
		return f.appendInt(b, n)
	case leafUint:
		var n uint64
		if v.kindOf() == parquet.Int32 {
			n = uint64(uint32(v.u64))
		} else {
			n = v.u64
		}
		return f.appendUint(b, n)
	case leafFloat:
		x := math.Float32frombits(uint32(v.u64))
		if x == 0 && !math.Signbit(float64(x)) && !f.presence {
			return b, true
		}
		return protowire.AppendFixed32(protowire.AppendTag(b, f.num, protowire.Fixed32Type), math.Float32bits(x)), true
	case leafDouble:
		return f.appendDouble(b, math.Float64frombits(v.u64)), true
	case leafString:
		s := v.bytes()
		if f.kind == protoreflect.EnumKind {
			// Enums are short lists: a scan costs less than hashing.
			i := slices.IndexFunc(f.enums, func(e enumName) bool { return string(e.name) == string(s) })
			if i < 0 {
				return b, false // a number, or a name in another case: the general path's
			}
			n := f.enums[i].num
			if n == 0 && !f.presence {
				return b, true
			}
			return protowire.AppendVarint(protowire.AppendTag(b, f.num, protowire.VarintType), uint64(int64(n))), true
		}
		if !utf8.Valid(s) {
			return b, false // Marshal refuses it, in proto3: the general path says so
		}
		return f.appendBytes(b, s), true
	case leafBytes:
		return f.appendBytes(b, v.bytes()), true
	}
	return b, false
}

func (f *fastParquetField) appendBytes(b, s []byte) []byte {
	if len(s) == 0 && !f.presence {
		return b
	}
	return protowire.AppendBytes(protowire.AppendTag(b, f.num, protowire.BytesType), s)
}

func (f *fastParquetField) appendDouble(b []byte, x float64) []byte {
	if x == 0 && !math.Signbit(x) && !f.presence {
		return b
	}
	return protowire.AppendFixed64(protowire.AppendTag(b, f.num, protowire.Fixed64Type), math.Float64bits(x))
}

func (f *fastParquetField) appendInt(b []byte, n int64) ([]byte, bool) {
	switch f.kind {
	case protoreflect.DoubleKind:
		return f.appendDouble(b, float64(n)), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if n < 0 {
			return b, false
		}
		return f.appendUint(b, uint64(n))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		if n != int64(int32(n)) {
			return b, false
		}
	}
	if n == 0 && !f.presence {
		return b, true
	}
	switch f.kind {
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return protowire.AppendVarint(protowire.AppendTag(b, f.num, protowire.VarintType), protowire.EncodeZigZag(n)), true
	case protoreflect.Sfixed32Kind:
		return protowire.AppendFixed32(protowire.AppendTag(b, f.num, protowire.Fixed32Type), uint32(n)), true
	case protoreflect.Sfixed64Kind:
		return protowire.AppendFixed64(protowire.AppendTag(b, f.num, protowire.Fixed64Type), uint64(n)), true
	}
	return protowire.AppendVarint(protowire.AppendTag(b, f.num, protowire.VarintType), uint64(n)), true
}

func (f *fastParquetField) appendUint(b []byte, n uint64) ([]byte, bool) {
	switch f.kind {
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if n != uint64(uint32(n)) {
			return b, false
		}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
	default:
		// A signed or double field: as its text would set it, which
		// appendInt does for the numbers an int64 holds.
		if n > math.MaxInt64 {
			return b, false
		}
		return f.appendInt(b, int64(n))
	}
	if n == 0 && !f.presence {
		return b, true
	}
	switch f.kind {
	case protoreflect.Fixed32Kind:
		return protowire.AppendFixed32(protowire.AppendTag(b, f.num, protowire.Fixed32Type), uint32(n)), true
	case protoreflect.Fixed64Kind:
		return protowire.AppendFixed64(protowire.AppendTag(b, f.num, protowire.Fixed64Type), n), true
	}
	return protowire.AppendVarint(protowire.AppendTag(b, f.num, protowire.VarintType), n), true
}

// text returns the text of a named column read, as parquetRow.text does.
// The text of a string shares the row's bytes (the page's, which
// nothing changes: see parquetCursor.read): ids need no copy of their own.
func (p *parquetPlan) text(cols [][]parquet.Value, row int, name string) (string, bool) {
	at := slices.Index(p.names, name)
	if at < 0 || viewOf(&cols[at][row]).isNull() {
		return "", false
	}
	if k := p.kind[at].kind; k == leafString || k == leafJSON {
		v := viewOf(&cols[at][row])
		return unsafe.String(v.ptr, v.u64), true
	}
	return p.kind[at].text(cols[at][row]), true
}

// reads reports whether the plan reads the column called name.
func (p *parquetPlan) reads(name string) bool { return slices.Contains(p.names, name) }

// parquetCursor reads the values of one column chunk across its pages.
type parquetCursor struct {
	pages  parquet.Pages
	values parquet.ValueReader
}

// read fills dst with the column's next values; fewer than len(dst) only
// with an error.
func (c *parquetCursor) read(dst []parquet.Value) (int, error) {
	n, idle := 0, 0
	for n < len(dst) {
		if c.values == nil {
			page, err := c.pages.ReadPage()
			if err != nil {
				return n, err
			}
			// The page is never released, so its buffers never go back
			// to the library's pool: a byte array's value points into
			// them for as long as a row (or an id) keeps it, and the
			// garbage collector frees the page after. Copying the bytes
			// out of the pages was most of the fast path's time.
			c.values = page.Values()
		}
		k, err := c.values.ReadValues(dst[n:])
		n += k
		if k == 0 {
			idle++
		}
		switch {
		case errors.Is(err, io.EOF):
			c.values = nil
		case err != nil:
			return n, err
		case k == 0 && idle > 16:
			return n, fmt.Errorf("a page that gives no values: %w", parquet.ErrCorrupted)
		}
	}
	return n, nil
}

// parquetUnit is the state of the fast path in a file.
type parquetUnit struct {
	cursors []parquetCursor
	pending [][]parquetRow // converted rows not yet read, by batch
	// next is the unit being converted while the rows of this one are
	// read; nil when none is.
	next chan unitResult
	// first is the row number of the unit's first row.
	first int64
}

type unitResult struct {
	rows [][]parquetRow
	err  error
}

// fillFast makes the next unit of rows the pending ones, and starts
// converting the one after it, so that the reader's caller and the
// conversion run side by side. The goroutine converting ends with its
// unit: a reader left unread holds none.
func (r *parquetReader) fillFast() error {
	u := &r.unit
	var res unitResult
	if u.next != nil {
		res = <-u.next
		u.next = nil
	} else {
		res.rows, res.err = r.nextUnit(nil)
	}
	if res.err != nil {
		return res.err
	}
	u.pending = res.rows
	if r.due > 0 || len(r.groups) > 0 {
		u.next = make(chan unitResult, 1)
		go func(spare [][]parquetRow) {
			rows, err := r.nextUnit(spare)
			u.next <- unitResult{rows, err}
		}(nil)
	}
	return nil
}

// nextUnit reads and converts the next unit of rows; io.EOF after the
// last.
func (r *parquetReader) nextUnit(pending [][]parquetRow) (_ [][]parquetRow, err error) {
	defer func() {
		if p := recover(); p != nil { // as in NewParquetReader
			err = fmt.Errorf("%s: row %d: corrupt file: %v", r.name, r.unit.first+1, p)
		}
	}()
	u := &r.unit
	for r.due == 0 {
		r.closeCursors()
		if len(r.groups) == 0 {
			return nil, io.EOF
		}
		g := r.groups[0]
		r.groups, r.due = r.groups[1:], g.NumRows()
		chunks := g.ColumnChunks()
		for _, leaf := range r.fast.leaves {
			u.cursors = append(u.cursors, parquetCursor{pages: chunks[leaf].Pages()})
		}
	}
	// Each batch's values get an allocation of their own, which its rows
	// keep: the values stay by column, and a row is gathered from them
	// only when it is shown or decoded by the general path.
	//
	// A goroutine reads a batch's values (in turn: the cursors read in
	// order) and converts them at once, while they are in its core's
	// cache: reading the whole unit first left the first batches' values
	// evicted by the last ones', and converting waited on memory for
	// most of its time.
	n := int(min(r.due, parquetFastUnit))
	width := len(r.fast.leaves)
	batches := (n + parquetBatch - 1) / parquetBatch
	pending = slices.Grow(pending[:0], batches)[:batches]
	var (
		mu     sync.Mutex // over the cursors, next and failed
		next   int
		failed error
	)
	read := func(b int) (cols [][]parquet.Value, err error) {
		defer func() {
			if p := recover(); p != nil { // as in NewParquetReader
				err = fmt.Errorf("%s: row %d: corrupt file: %v", r.name, u.first+1, p)
			}
		}()
		m := min((b+1)*parquetBatch, n) - b*parquetBatch
		block := make([]parquet.Value, width*m)
		cols = make([][]parquet.Value, width)
		for j := range cols {
			col := block[j*m : (j+1)*m : (j+1)*m]
			if k, err := u.cursors[j].read(col); k < m {
				if err == nil || errors.Is(err, io.EOF) {
					err = fmt.Errorf("column %d ended before its row group: %w", r.fast.leaves[j], parquet.ErrCorrupted)
				}
				return nil, fmt.Errorf("%s: row %d: %w", r.name, u.first+int64(b*parquetBatch+k)+1, err)
			}
			cols[j] = col
		}
		return cols, nil
	}
	work := func() {
		for {
			mu.Lock()
			if failed != nil || next >= batches {
				mu.Unlock()
				return
			}
			b := next
			next++
			cols, err := read(b)
			if err != nil {
				failed = err
				mu.Unlock()
				return
			}
			mu.Unlock()
			pending[b] = r.convert(cols)
		}
	}
	if workers := min(runtime.GOMAXPROCS(0), batches); workers <= 1 {
		work()
	} else {
		// Each goroutine ends with the unit.
		var wg sync.WaitGroup
		for range workers {
			wg.Go(work)
		}
		wg.Wait()
	}
	if failed != nil {
		return nil, failed
	}
	r.due -= int64(n)
	u.first += int64(n)
	if r.due == 0 {
		r.closeCursors()
	}
	return pending, nil
}

func (r *parquetReader) closeCursors() {
	for _, c := range r.unit.cursors {
		c.pages.Close()
	}
	r.unit.cursors = r.unit.cursors[:0]
}

// convert makes the rows of one batch, whose values cols holds by
// column: each row's payload, id and key.
func (r *parquetReader) convert(cols [][]parquet.Value) []parquetRow {
	p := r.fast
	n := len(cols[0])
	nb := 0
	for j, col := range cols {
		if p.bytes[j] {
			for k := range col {
				if v := viewOf(&col[k]); !v.isNull() {
					nb += int(v.u64)
				}
			}
		}
	}
	rows := make([]parquetRow, n)
	// Most payloads are about the size of their values: one slab for all,
	// grown by append when that guess is short.
	payloads := make([]byte, 0, n*(len(cols)*9+2)+nb)
	for i := range rows {
		row := &rows[i]
		*row = parquetRow{layout: r.layout, plan: p, cols: cols, at: i}
		start := len(payloads)
		out, ok := p.encode(payloads, cols, i)
		if !ok {
			continue
		}
		payloads = out
		row.fast = true
		row.elem, row.err = p.b.Identify(func(name string) (string, bool) { return p.text(cols, i, name) })
		row.elem.Payload = payloads[start:len(payloads):len(payloads)]
	}
	return rows
}

// valueView is the layout of a parquet.Value, read in place. The value's
// methods take it by copy, and the compiler copies its 24 bytes with two
// overlapping 16-byte stores, then loads across both: the load waits for
// the stores to retire, a stall on every value, which was most of the
// fast path's time. valueViewFits checks the layout against the methods
// once; the fast path declines the file if it no longer fits (a new
// version of the library).
type valueView struct {
	ptr             *byte
	u64             uint64
	kind            int8 // ^Kind, so that the zero value is null
	definitionLevel byte
	repetitionLevel byte
	columnIndex     uint16
}

func viewOf(v *parquet.Value) *valueView { return (*valueView)(unsafe.Pointer(v)) }

func (v *valueView) isNull() bool         { return v.kind == 0 }
func (v *valueView) kindOf() parquet.Kind { return ^parquet.Kind(v.kind) }
func (v *valueView) bytes() []byte        { return unsafe.Slice(v.ptr, v.u64) }

// valueViewFits reports whether valueView reads every kind of value the
// fast path reads as the value's own methods do.
var valueViewFits = sync.OnceValue(func() bool {
	if unsafe.Sizeof(valueView{}) != unsafe.Sizeof(parquet.Value{}) {
		return false
	}
	text := []byte("gridrun")
	for _, v := range []parquet.Value{
		{}, parquet.NullValue(), parquet.BooleanValue(true), parquet.BooleanValue(false),
		parquet.Int32Value(-7), parquet.Int32Value(math.MaxInt32), parquet.Int64Value(math.MinInt64),
		parquet.FloatValue(-1.5), parquet.DoubleValue(math.Pi), parquet.DoubleValue(math.Copysign(0, -1)),
		parquet.ByteArrayValue(text), parquet.ByteArrayValue(nil), parquet.FixedLenByteArrayValue(text[:4]),
		parquet.DoubleValue(2).Level(0, 1, 3),
	} {
		w := viewOf(&v)
		if w.isNull() != v.IsNull() {
			return false
		}
		if v.IsNull() {
			continue
		}
		if w.kindOf() != v.Kind() {
			return false
		}
		switch v.Kind() {
		case parquet.Boolean:
			if (w.u64 != 0) != v.Boolean() {
				return false
			}
		case parquet.Int32:
			if int32(w.u64) != v.Int32() {
				return false
			}
		case parquet.Int64:
			if int64(w.u64) != v.Int64() {
				return false
			}
		case parquet.Float:
			if math.Float32frombits(uint32(w.u64)) != v.Float() {
				return false
			}
		case parquet.Double:
			if w.u64 != math.Float64bits(v.Double()) {
				return false
			}
		case parquet.ByteArray, parquet.FixedLenByteArray:
			b := v.ByteArray()
			if len(w.bytes()) != len(b) || len(b) > 0 && unsafe.SliceData(w.bytes()) != unsafe.SliceData(b) {
				return false
			}
		}
	}
	return true
})
