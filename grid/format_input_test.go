package grid_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/grid"
)

// Tab-separated values, registered the way a package adding an input
// format would: one file, one registration. It is a join table too.
func init() {
	codec.RegisterFormat("tsv", codec.InputFormat{
		Exts:        []string{".tsv"},
		Gzip:        true,
		Table:       true,
		NewReader:   newTSVReader,
		NewDecoder:  newTSVDecoder,
		ElementJSON: tsvElement,
	})
}

type tsvReader struct {
	name   string
	cr     *csv.Reader
	header []string
	index  int64
}

func newTSVReader(r io.Reader, name string) (codec.Reader, error) {
	cr := csv.NewReader(r)
	cr.Comma, cr.LazyQuotes = '\t', true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	return &tsvReader{name: name, cr: cr, header: header}, nil
}

func (r *tsvReader) Name() string     { return r.name }
func (r *tsvReader) Header() []string { return r.header }
func (r *tsvReader) Offset() int64    { return r.cr.InputOffset() }

func (r *tsvReader) Read() (codec.Row, error) {
	cells, err := r.cr.Read()
	if err != nil {
		return codec.Row{}, err
	}
	r.index++
	line, _ := r.cr.FieldPos(0)
	return codec.Row{Index: r.index - 1, Line: int64(line), Cells: cells, Header: r.header}, nil
}

type tsvDecoder struct {
	b       *codec.ElementBuilder
	header  []string
	columns []protoreflect.FieldDescriptor
}

func newTSVDecoder(b *codec.ElementBuilder, in codec.Reader) (codec.RowDecoder, error) {
	d := &tsvDecoder{b: b, header: in.Header()}
	for _, col := range d.header {
		d.columns = append(d.columns, b.Fields().Lookup(col))
	}
	return d, b.CheckKey(d.header...)
}

func (d *tsvDecoder) Decode(row codec.Row) (codec.Element, error) {
	m := dynamicpb.NewMessage(d.b.Fields().Desc())
	for i, fd := range d.columns {
		if fd != nil {
			if err := codec.SetString(m, fd, row.Cells[i]); err != nil {
				return codec.Element{}, err
			}
		}
	}
	return d.b.Build(m, func(name string) (string, bool) { return d.cell(row, name) })
}

func (d *tsvDecoder) ID(row codec.Row) (string, bool) { return d.cell(row, d.b.Options().IDField) }

func (d *tsvDecoder) cell(row codec.Row, name string) (string, bool) {
	i := slices.Index(d.header, name)
	if i < 0 || i >= len(row.Cells) || row.Cells[i] == "" {
		return "", false
	}
	return row.Cells[i], true
}

func tsvElement(row codec.Row, _ protoreflect.MessageDescriptor) json.RawMessage {
	obj := map[string]string{}
	for i, h := range row.Header {
		obj[h] = row.Cells[i]
	}
	b, _ := json.Marshal(obj)
	return b
}

// toTSV writes the JSON lines at src as a TSV file of the columns named,
// a field missing from a line an empty cell.
func toTSV(t *testing.T, src, dst string, columns ...string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{strings.Join(columns, "\t")}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	for dec.More() {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			t.Fatal(err)
		}
		var cells []string
		for _, c := range columns {
			v, ok := obj[c]
			if !ok {
				v = ""
			}
			cells = append(cells, fmt.Sprint(v))
		}
		out = append(out, strings.Join(cells, "\t"))
	}
	if err := os.WriteFile(dst, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A format registered outside codec is found by its extension, read,
// decoded and joined like a built-in one: the trades as TSV, joined with
// the quotes as TSV, price as the JSON lines and CSV of the same rows do,
// and a bad row is a dead letter rendered by the format.
func TestRegisteredInputFormatRunsLikeABuiltInOne(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if got, gz, err := codec.FormatOf("gs://b/trades.TSV.gz"); got != "tsv" || !gz || err != nil {
		t.Fatalf("FormatOf = %q, %v, %v", got, gz, err)
	}
	if _, err := codec.ParseFormat("psv"); err == nil || !strings.Contains(err.Error(), "want jsonl, csv, pb, parquet or tsv") {
		t.Errorf("ParseFormat(psv): %v", err)
	}
	ref := readOutputs(t, f.pricedJob(t, "", f.testdata("trades.jsonl")).Output).results
	if len(ref) != 1000 {
		t.Fatalf("%d reference results", len(ref))
	}

	dir := t.TempDir()
	trades, quotes := filepath.Join(dir, "trades.tsv"), filepath.Join(dir, "quotes.tsv")
	toTSV(t, f.testdata("trades.jsonl"), trades, "id", "underlying", "type", "style", "strike", "expiry", "quantity", "paths", "fixings")
	csvQuotes, err := os.ReadFile(f.testdata("quotes.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(quotes, []byte(strings.ReplaceAll(string(csvQuotes), ",", "\t")), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.tsv")
	if err := os.WriteFile(bad, []byte("id\tunderlying\ttype\tstyle\tstrike\texpiry\tquantity\nB1\tAAPL\tCALL\tEUROPEAN\tfifty\t1\t10\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	job := f.job(f.pricer, trades, bad)
	job.Join = &grid.JoinSpec{Source: quotes, Key: "{underlying}"}
	job.InputOptional = []string{"paths", "fixings"} // bad.tsv has no columns for them
	m, err := grid.Run(context.Background(), job, quiet)
	if err != nil {
		t.Fatal(err)
	}
	o := readOutputs(t, job.Output)
	sameResults(t, o.results, ref)
	d, ok := o.dead["line 2"]
	if m.DeadLetters != 1 || !ok || d.ID != "B1" || d.Kind != grid.KindBadInput || d.Field != "strike" ||
		string(d.Element) != `{"expiry":"1","id":"B1","quantity":"10","strike":"fifty","style":"EUROPEAN","type":"CALL","underlying":"AAPL"}` {
		t.Errorf("%d dead letters; B1's %+v", m.DeadLetters, d)
	}
	if len(m.Inputs) != 2 || m.Inputs[0].Format != "tsv" || m.Inputs[0].Rows != 1000 {
		t.Errorf("manifest inputs %+v", m.Inputs)
	}
}
