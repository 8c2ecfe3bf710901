package bigtable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	bt "cloud.google.com/go/bigtable"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/join"
)

// LoadOptions configure Load. Key and Family are required.
type LoadOptions struct {
	// Key renders each row's key from its fields, e.g. {underlying}: the
	// same template a job joins with.
	Key *codec.Template
	// Family is the column family the cells go to. It is created, with
	// no garbage-collection rule, when the table lacks it: older cells
	// stay for as-of reads until a rule is set.
	Family string
	// Timestamp is the cells' timestamp, the snapshot a job reads back
	// with join.Spec.AsOf. Bigtable keeps milliseconds, so it is
	// truncated to the millisecond. Defaults to now.
	Timestamp time.Time
	// Format is the file's format, CSV or JSONL. Defaults to guessing
	// from the file's name.
	Format codec.Format
	// BulkRows is the number of rows per ApplyBulk call. Defaults to 1000.
	BulkRows int
	// WriteTimeout bounds one ApplyBulk call, the client's retries of
	// it included. Defaults to 1m.
	WriteTimeout time.Duration
	// Layout is the layout to write: its CellEncoding, MessageColumn and
	// MessageFormat (its Columns and Latest are for reading). With a
	// MessageColumn, each row is one cell holding the whole side message,
	// in that column's family (Family may then be empty, or must be that
	// family). Defaults to one text cell per column.
	Layout join.Layout
	// Side is the side message type, which EncodingBinary (to know each
	// field's type) and a MessageColumn need.
	Side protoreflect.MessageDescriptor
	// Config and ClientOptions are as in Options.
	Config        bt.ClientConfig
	ClientOptions []option.ClientOption
}

// MaxRejectsKept bounds LoadReport.Rejects, so that a file of nothing but
// bad rows costs no more memory than a good one.
const MaxRejectsKept = 100

// maxKeySize is Bigtable's limit on a row key.
const maxKeySize = 4 << 10

// LoadReport says what Load did.
type LoadReport struct {
	// Table is the table written, without URI parameters.
	Table  string
	Family string
	// Timestamp is the cells' timestamp, as written.
	Timestamp time.Time
	// CreatedTable and CreatedFamily report what did not exist before.
	CreatedTable, CreatedFamily bool
	// Rows is the number of rows written.
	Rows int64
	// Rejected is the number of rows not written because they are bad;
	// Rejects holds the first MaxRejectsKept of them, with file, line
	// and reason.
	Rejected int64
	Rejects  []*codec.RowError
}

// Load writes the rows of a CSV or JSONL file to the table at uri
// (bigtable://PROJECT/INSTANCE/TABLE), creating the table and the family
// when they do not exist. Each row becomes the row whose key opts.Key
// renders, with one cell per column (CSV) or field (JSONL) holding the
// value as text, the qualifier being the column's name. An empty CSV cell
// or a JSON null is written as an empty cell, so that the snapshot clears
// an older value rather than letting it show through.
//
// A row that cannot be written as such (a missing or empty key field, a
// key already on an earlier line, bad JSON, a wrong number of CSV cells)
// is rejected and counted, and the rest of the file is loaded. A key
// seen twice is rejected rather than merged, as the file join source
// does; Load remembers every key it wrote to tell.
//
// The returned error is for what stops the load: an unreadable file, a
// table that cannot be created or written. The report is returned with
// it, saying what was written before.
func Load(ctx context.Context, uri, file string, opts *LoadOptions) (*LoadReport, error) {
	loc, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	var o LoadOptions
	if opts != nil {
		o = *opts
	}
	if o.Key == nil {
		return nil, errors.New("load: no key template")
	}
	if o.Key.UsesAsOf() {
		return nil, fmt.Errorf("load: key %q: a loaded row's key is rendered from the row's fields; put the date in a column", o.Key)
	}
	enc, err := newEncoder(&o)
	if err != nil {
		return nil, err
	}
	if err := checkFamily(o.Family); err != nil {
		return nil, err
	}
	if o.Timestamp.IsZero() {
		o.Timestamp = time.Now()
	}
	ts := bt.Time(o.Timestamp).TruncateToMilliseconds()
	o.BulkRows = max(o.BulkRows, 0)
	if o.BulkRows == 0 {
		o.BulkRows = 1000
	}
	o.WriteTimeout = cmpDuration(o.WriteTimeout, time.Minute)

	r, closeFile, err := openInput(file, o.Format)
	if err != nil {
		return nil, err
	}
	defer closeFile()
	if h := r.Header(); h != nil {
		for _, f := range o.Key.Fields() {
			if !slices.Contains(h, f) {
				return nil, fmt.Errorf("%s:1: key %q: no column %q (columns: %s)", file, o.Key, f, strings.Join(h, ", "))
			}
		}
	}

	rep := &LoadReport{Table: loc.String(), Family: o.Family, Timestamp: ts.Time().UTC()}
	// Both clients stay open to the end: given a connection, a client
	// closes it when it closes.
	admin, err := bt.NewAdminClient(ctx, loc.Project, loc.Instance, o.ClientOptions...)
	if err != nil {
		return rep, fmt.Errorf("%s: %w", loc, err)
	}
	defer admin.Close()
	if rep.CreatedTable, rep.CreatedFamily, err = ensureFamily(ctx, admin, loc, o.Family); err != nil {
		return rep, err
	}
	client, err := newClient(ctx, loc, o.Config, o.ClientOptions)
	if err != nil {
		return rep, err
	}
	defer client.Close()
	w := &bulkWriter{tbl: client.Open(loc.Table), loc: loc, size: o.BulkRows, timeout: o.WriteTimeout, rep: rep}

	lines := map[string]int64{} // key -> line it was first on
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rep, err
		}
		key, cells, err := rowCells(row, o.Key)
		if err == nil {
			cells, err = enc.encode(cells)
		}
		if err == nil {
			if first, dup := lines[key]; dup {
				err = fmt.Errorf("key %q is also on line %d", key, first)
			}
		}
		if err != nil {
			rep.Rejected++
			if len(rep.Rejects) < MaxRejectsKept {
				rep.Rejects = append(rep.Rejects, codec.NewRowError(file, row.Line, err))
			}
			continue
		}
		lines[key] = row.Line
		m := bt.NewMutation()
		for _, c := range cells {
			m.Set(o.Family, c.qualifier, ts, c.value)
		}
		if err := w.add(ctx, key, m); err != nil {
			return rep, err
		}
	}
	return rep, w.flush(ctx)
}

func openInput(file string, format codec.Format) (codec.Reader, func(), error) {
	f, gz, err := codec.FormatOf(file)
	if format != "" {
		f, err = format, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if !f.Table() {
		return nil, nil, fmt.Errorf("%s: market data is loaded from CSV or JSONL, not %s", file, f)
	}
	fh, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	r, err := codec.Open(fh, file, f, gz)
	if err != nil {
		fh.Close()
		return nil, nil, err
	}
	return r, func() { fh.Close() }, nil
}

type cell struct {
	qualifier string
	value     []byte
}

// rowCells returns a row's key and cells, in column order for CSV and
// field-name order for JSONL.
func rowCells(row codec.Row, key *codec.Template) (string, []cell, error) {
	if row.Err != nil {
		return "", nil, row.Err
	}
	var cells []cell
	var get func(string) (string, bool)
	if row.Header != nil {
		for i, h := range row.Header {
			cells = append(cells, cell{h, []byte(row.Cells[i])})
		}
		get = func(f string) (string, bool) {
			i := slices.Index(row.Header, f)
			if i < 0 || row.Cells[i] == "" {
				return "", false
			}
			return row.Cells[i], true
		}
	} else {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(row.Data, &obj); err != nil {
			return "", nil, fmt.Errorf("not a JSON object: %v", err)
		}
		for _, name := range slices.Sorted(maps.Keys(obj)) {
			text, err := codec.JSONCellText(obj[name])
			if err != nil {
				return "", nil, &codec.FieldError{Field: name, Msg: err.Error()}
			}
			cells = append(cells, cell{name, []byte(text)})
		}
		get = func(f string) (string, bool) { return codec.JSONKeyText(obj[f]) }
	}
	k, err := key.Render(get)
	switch {
	case err != nil:
		return "", nil, err
	case k == "":
		return "", nil, errors.New("the key is empty")
	case len(k) > maxKeySize:
		return "", nil, fmt.Errorf("the key is %d bytes, more than Bigtable's %d", len(k), maxKeySize)
	}
	return k, cells, nil
}

// ensureFamily creates the table and the family when they do not exist.
// AlreadyExists is success: another loader got there first.
func ensureFamily(ctx context.Context, admin *bt.AdminClient, loc Location, family string) (createdTable, createdFamily bool, err error) {
	info, err := admin.TableInfo(ctx, loc.Table)
	switch status.Code(err) {
	case codes.OK:
	case codes.NotFound:
		err = admin.CreateTable(ctx, loc.Table)
		if status.Code(err) == codes.AlreadyExists {
			err = nil
		}
		if err != nil {
			return false, false, fmt.Errorf("%s: creating the table: %w", loc, err)
		}
		createdTable = true
	default:
		return false, false, fmt.Errorf("%s: %w", loc, err)
	}
	if info != nil && slices.ContainsFunc(info.FamilyInfos, func(f bt.FamilyInfo) bool { return f.Name == family }) {
		return createdTable, false, nil
	}
	err = admin.CreateColumnFamily(ctx, loc.Table, family)
	if status.Code(err) == codes.AlreadyExists {
		return createdTable, false, nil
	}
	if err != nil {
		return createdTable, false, fmt.Errorf("%s: creating column family %s: %w", loc, family, err)
	}
	return createdTable, true, nil
}

// bulkWriter sends rows in ApplyBulk calls of size rows.
type bulkWriter struct {
	tbl     *bt.Table
	loc     Location
	size    int
	timeout time.Duration
	rep     *LoadReport
	keys    []string
	muts    []*bt.Mutation
}

func (w *bulkWriter) add(ctx context.Context, key string, m *bt.Mutation) error {
	w.keys = append(w.keys, key)
	w.muts = append(w.muts, m)
	if len(w.keys) < w.size {
		return nil
	}
	return w.flush(ctx)
}

func (w *bulkWriter) flush(ctx context.Context) error {
	if len(w.keys) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	errs, err := w.tbl.ApplyBulk(ctx, w.keys, w.muts)
	if err != nil {
		return fmt.Errorf("%s: writing %d rows: %w", w.loc, len(w.keys), err)
	}
	failed, first := 0, -1
	for i, e := range errs {
		if e != nil {
			failed++
			if first < 0 {
				first = i
			}
		}
	}
	w.rep.Rows += int64(len(w.keys) - failed)
	if failed > 0 {
		return fmt.Errorf("%s: %d of %d rows not written; row %q: %w", w.loc, failed, len(w.keys), w.keys[first], errs[first])
	}
	w.keys, w.muts = w.keys[:0], w.muts[:0]
	return nil
}

// encoder turns a row's text cells into the cells of the layout written.
type encoder struct {
	layout       join.Layout
	fields       *codec.Fields // nil for text cells
	msgQualifier string
}

// newEncoder checks o's layout, and sets o.Family to the message
// column's.
func newEncoder(o *LoadOptions) (*encoder, error) {
	l := o.Layout
	if err := l.Check(); err != nil {
		return nil, err
	}
	l = l.WithDefaults()
	if len(l.Columns) > 0 || l.Latest {
		return nil, errors.New("load: --join-column and --join-latest are for reading a table; load writes a column per field, or --message-column")
	}
	e := &encoder{layout: l}
	if l.CellEncoding == join.EncodingText && l.MessageColumn == "" {
		return e, nil
	}
	if o.Side == nil {
		return nil, errors.New("load: binary cells and a message column need the side message type (--binary, or --proto with --side-type)")
	}
	e.fields = codec.NewFields(o.Side)
	if l.MessageColumn != "" {
		fam, qual, _ := strings.Cut(l.MessageColumn, ":")
		if o.Family != "" && o.Family != fam {
			return nil, fmt.Errorf("load: --family %s and --message-column %s name two families", o.Family, l.MessageColumn)
		}
		o.Family, e.msgQualifier = fam, qual
	}
	return e, nil
}

// encode returns the cells to write for a row's text cells.
func (e *encoder) encode(cells []cell) ([]cell, error) {
	if e.fields == nil {
		return cells, nil
	}
	if e.layout.MessageColumn != "" {
		m := dynamicpb.NewMessage(e.fields.Desc())
		for _, c := range cells {
			if fd := e.fields.Lookup(c.qualifier); fd != nil {
				if err := codec.SetString(m, fd, string(c.value)); err != nil {
					return nil, err
				}
			}
		}
		var b []byte
		var err error
		if e.layout.MessageFormat == join.MessageJSON {
			b, err = protojson.Marshal(m)
		} else {
			b, err = codec.Marshal(m)
		}
		if err != nil {
			return nil, err
		}
		return []cell{{e.msgQualifier, b}}, nil
	}
	out := make([]cell, 0, len(cells))
	for _, c := range cells {
		fd := e.fields.Lookup(c.qualifier)
		if fd == nil || len(c.value) == 0 {
			out = append(out, c) // not a field of the side message, or empty: as is
			continue
		}
		m := dynamicpb.NewMessage(e.fields.Desc())
		if err := codec.SetString(m, fd, string(c.value)); err != nil {
			return nil, err
		}
		if b, ok := join.AppendBinary(nil, fd, m.Get(fd)); ok {
			c.value = b
		}
		out = append(out, c)
	}
	return out, nil
}
