package join

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/codec"
)

// fileDriver serves a local CSV or JSONL table. The table is read once, at
// open, into its converted rows: local tables are the small-table case (the
// seed's side input, hundreds of megabytes at most); tables larger than
// memory belong in Bigtable, which is read per batch.
type fileDriver struct {
	path    string
	rows    map[string]Row
	columns fileColumns
}

// OpenFile opens a CSV or JSONL table (a path or a file:// URI) whose rows
// become side messages of type side, found under the key the template
// renders from each row's fields. Columns that are not fields of side are
// ignored: market data tables are shared by many binaries. A row that does
// not convert, or a key found twice, is an error naming the file and line.
func OpenFile(uri string, side protoreflect.MessageDescriptor, key *codec.Template) (Driver, error) {
	path := strings.TrimPrefix(uri, "file://")
	if key == nil {
		return nil, fmt.Errorf("%s: a join table needs a key template to find its rows by", path)
	}
	format, gz, err := codec.FormatOf(path)
	if err != nil {
		return nil, err
	}
	if !format.Table() {
		return nil, fmt.Errorf("%s: a join table is CSV or JSONL", path)
	}
	f, err := os.Open(path)
	if err != nil {
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("join table %s: %w", path, err)
	}
	defer f.Close()
	r, err := codec.Open(f, path, format, gz)
	if err != nil {
		return nil, err
	}
	fields := codec.NewFields(side)
	if h := r.Header(); h != nil {
		if err := checkKeyColumns(path, h, key); err != nil {
			return nil, err
		}
	}
	d := &fileDriver{path: path, rows: map[string]Row{}}
	d.columns.add(r.Header()...)
	lines := map[string]int64{}
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		k, payload, err := convertRow(row, fields, key, &d.columns)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, row.Line, err)
		}
		if first, dup := lines[k]; dup {
			return nil, fmt.Errorf("%s:%d: key %q is also on line %d", path, row.Line, k, first)
		}
		lines[k] = row.Line
		d.rows[k] = Row{Key: k, Payload: payload}
	}
	return d, nil
}

func checkKeyColumns(path string, header []string, key *codec.Template) error {
	for _, f := range key.Fields() {
		found := false
		for _, h := range header {
			found = found || h == f
		}
		if !found {
			return fmt.Errorf("%s:1: join key %q: no column %q (columns: %s)", path, key, f, strings.Join(header, ", "))
		}
	}
	return nil
}

// convertRow converts one row; the keys of a JSON row are added to cols.
func convertRow(row codec.Row, fields *codec.Fields, key *codec.Template, cols *fileColumns) (string, []byte, error) {
	if row.Err != nil {
		return "", nil, row.Err
	}
	m := dynamicpb.NewMessage(fields.Desc())
	var get func(string) (string, bool)
	if row.Header != nil {
		cells := map[string]string{}
		for i, h := range row.Header {
			cells[h] = row.Cells[i]
			if fd := fields.Lookup(h); fd != nil {
				if err := codec.SetString(m, fd, row.Cells[i]); err != nil {
					return "", nil, err
				}
			}
		}
		get = func(f string) (string, bool) { v, ok := cells[f]; return v, ok && v != "" }
	} else {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(row.Data, &obj); err != nil {
			return "", nil, fmt.Errorf("not a JSON object: %v", err)
		}
		// In order: the same row fails the same way every time.
		keys := slices.Sorted(maps.Keys(obj))
		cols.add(keys...)
		for _, k := range keys {
			if fd := fields.Lookup(k); fd != nil {
				if err := codec.SetJSON(m, fd, obj[k]); err != nil {
					return "", nil, err
				}
			}
		}
		get = func(f string) (string, bool) { return codec.JSONKeyText(obj[f]) }
	}
	k, err := key.Render(get)
	if err != nil {
		return "", nil, err
	}
	payload, err := codec.Marshal(m)
	return k, payload, err
}

func (d *fileDriver) ReadRows(_ context.Context, keys []string) (map[string]Row, error) {
	out := make(map[string]Row, len(keys))
	for _, k := range keys {
		if r, ok := d.rows[k]; ok {
			out[k] = r
		}
	}
	return out, nil
}

// Columns are the header of a CSV table, the keys of a JSONL table's rows.
func (d *fileDriver) Columns() []string { return slices.Clip(d.columns.cols) }

func (d *fileDriver) IsTransient(error) bool { return false }
func (d *fileDriver) Describe() string       { return d.path }
func (d *fileDriver) Close() error           { return nil }
