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
	mapping *Mapping
}

// OpenFile opens a CSV or JSONL table (a path or a file:// URI) whose rows
// become side messages of type spec.Side, found under the key spec.Key
// renders from each row's fields. A column fills the field it is named
// after, or the field spec.Layout.Columns maps to it (FIELD=HEADER), the
// key's fields included; columns that fill no field are ignored: market
// data tables are shared by many binaries. A row that does not convert,
// or a key found twice, is an error naming the file and line.
func OpenFile(uri string, spec Spec) (Driver, error) {
	path := strings.TrimPrefix(uri, "file://")
	key := spec.Key
	if key == nil {
		return nil, fmt.Errorf("%s: a join table needs a key template to find its rows by", path)
	}
	if err := checkFileLayout(path, spec); err != nil {
		return nil, err
	}
	mapping, err := NewMapping(spec.Side, spec.Layout, spec.Optional)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
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
	d := &fileDriver{path: path, rows: map[string]Row{}, mapping: mapping}
	if h := r.Header(); h != nil {
		if err := d.checkKeyColumns(h, key); err != nil {
			return nil, err
		}
	}
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
		k, payload, err := d.convertRow(row, key)
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

// keyColumn is the column a key field is read from: the one mapped to
// the field when the field is the side message's and mapped, else the
// column named after it.
func (d *fileDriver) keyColumn(field string) string {
	if fd := d.mapping.Fields().Lookup(field); fd != nil {
		if c, ok := d.mapping.Column(fd); ok {
			return c
		}
	}
	return field
}

func (d *fileDriver) checkKeyColumns(header []string, key *codec.Template) error {
	for _, f := range key.Fields() {
		c := d.keyColumn(f)
		if !slices.Contains(header, c) {
			what := fmt.Sprintf("no column %q", c)
			if c != f {
				what = fmt.Sprintf("no column %q (mapped to %s)", c, f)
			}
			return fmt.Errorf("%s:1: join key %q: %s (columns: %s)", d.path, key, what, strings.Join(header, ", "))
		}
	}
	return nil
}

// convertRow converts one row; the keys of a JSON row are added to the
// driver's columns.
func (d *fileDriver) convertRow(row codec.Row, key *codec.Template) (string, []byte, error) {
	if row.Err != nil {
		return "", nil, row.Err
	}
	m := dynamicpb.NewMessage(d.mapping.Fields().Desc())
	var get func(string) (string, bool)
	if row.Header != nil {
		cells := map[string]string{}
		for i, h := range row.Header {
			cells[h] = row.Cells[i]
			if fd := d.mapping.Field(h, h); fd != nil {
				if err := codec.SetString(m, fd, row.Cells[i]); err != nil {
					return "", nil, err
				}
			}
		}
		get = func(f string) (string, bool) { v, ok := cells[d.keyColumn(f)]; return v, ok && v != "" }
	} else {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(row.Data, &obj); err != nil {
			return "", nil, fmt.Errorf("not a JSON object: %v", err)
		}
		// In order: the same row fails the same way every time.
		keys := slices.Sorted(maps.Keys(obj))
		d.columns.add(keys...)
		for _, k := range keys {
			if fd := d.mapping.Field(k, k); fd != nil {
				if err := codec.SetJSON(m, fd, obj[k]); err != nil {
					return "", nil, err
				}
			}
		}
		get = func(f string) (string, bool) { return codec.JSONKeyText(obj[d.keyColumn(f)]) }
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

// FieldOf names the field a column fills, "" for none.
func (d *fileDriver) FieldOf(column string) string {
	if fd := d.mapping.Field(column, column); fd != nil {
		return string(fd.Name())
	}
	return ""
}

func (d *fileDriver) IsTransient(error) bool { return false }
func (d *fileDriver) Describe() string       { return d.path }
func (d *fileDriver) Close() error           { return nil }
