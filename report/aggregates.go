package report

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/gridrun/gridrun/outdir"
)

// aggTable is one aggregate spec's rows, as the page shows them.
type aggTable struct {
	Spec, File string
	Columns    []string
	Rows       [][]string
	// More is the number of groups not shown.
	More int
}

// maxAggRows caps the rows shown of each aggregates file: the page is a
// summary, the file holds them all.
const maxAggRows = 50

// readAggregates reads the job's aggregates files for their tables.
func readAggregates(dir string, m *outdir.Manifest) ([]*aggTable, error) {
	var out []*aggTable
	for _, a := range m.Aggregates {
		rows, total, err := outdir.ReadAggregates(dir, a, maxAggRows)
		if err != nil {
			return nil, err
		}
		t := &aggTable{Spec: a.Spec, File: a.File, More: total - len(rows)}
		t.Columns = append(append(append(t.Columns, a.Keys...), a.Values...), "results", "dead_letters")
		for _, r := range rows {
			cells := make([]string, len(t.Columns))
			for i, c := range t.Columns {
				cells[i] = cell(r[c])
			}
			t.Rows = append(t.Rows, cells)
		}
		out = append(out, t)
	}
	return out, nil
}

// cell renders a value: numbers to 10 significant digits, a missing
// value as a dash.
func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return "–"
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return count(i)
		}
		if f, err := v.Float64(); err == nil {
			return strconv.FormatFloat(f, 'g', 10, 64)
		}
		return string(v)
	case string:
		return v
	}
	return fmt.Sprint(v)
}
