package outdir

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gridrun/gridrun/codec"
)

// ReadAggregates reads the first limit rows (all, when limit is 0) of the
// aggregates file a names in dir, each row its columns by name (numbers
// as json.Number), and counts the file's rows.
func ReadAggregates(dir string, a AggregateInfo, limit int) (rows []map[string]any, total int, err error) {
	f, err := os.Open(filepath.Join(dir, a.File))
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	add := func(line []byte) error {
		total++
		if limit > 0 && len(rows) >= limit {
			return nil
		}
		d := json.NewDecoder(bytes.NewReader(line))
		d.UseNumber()
		var r map[string]any
		if err := d.Decode(&r); err != nil {
			return fmt.Errorf("%s: row %d: %w", a.File, total, err)
		}
		rows = append(rows, r)
		return nil
	}
	if strings.HasSuffix(a.File, ".parquet") {
		r, err := codec.Open(f, a.File, codec.Parquet, false)
		if err != nil {
			return nil, 0, err
		}
		for {
			row, err := r.Read()
			if errors.Is(err, io.EOF) {
				return rows, total, nil
			}
			if err != nil {
				return nil, 0, err
			}
			if err := add(codec.ElementJSON(row, codec.Parquet, nil)); err != nil {
				return nil, 0, err
			}
		}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if err := add(sc.Bytes()); err != nil {
			return nil, 0, err
		}
	}
	return rows, total, sc.Err()
}
