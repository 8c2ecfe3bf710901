package grid_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/fakegcs"
)

// price is one row of a Parquet results file of the pricer, and one
// "result" object of its JSON results.
type price struct {
	ID       string  `parquet:"id" json:"-"`
	Price    float64 `parquet:"price" json:"price"`
	Value    float64 `parquet:"value" json:"value"`
	Delta    float64 `parquet:"delta" json:"delta"`
	Gamma    float64 `parquet:"gamma" json:"gamma"`
	Vega     float64 `parquet:"vega" json:"vega"`
	StdError float64 `parquet:"std_error" json:"std_error"`
	Paths    uint32  `parquet:"paths" json:"paths"`
	Method   string  `parquet:"method" json:"method"`
}

// pricedJob runs the pricer over inputs with the test quotes and returns
// the job as run.
func (f *fixture) pricedJob(t *testing.T, outputFormat string, inputs ...string) grid.Job {
	t.Helper()
	job := f.job(f.pricer, inputs...)
	job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
	job.OutputFormat = outputFormat
	m, err := grid.Run(context.Background(), job, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if m.DeadLetters != 0 {
		t.Fatalf("%d dead letters", m.DeadLetters)
	}
	return job
}

// sameResults fails unless got has the results of want, by id, to the
// byte.
func sameResults(t *testing.T, got, want map[string]json.RawMessage) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for id, w := range want {
		if g, ok := got[id]; !ok || !bytes.Equal(g, w) {
			t.Fatalf("result of %s: %s, want %s", id, g, w)
		}
	}
}

// readParquetResults reads every results shard of a job with the library
// alone, failing on an id seen twice.
func readParquetResults(t *testing.T, dir string) map[string]price {
	t.Helper()
	shards, err := filepath.Glob(filepath.Join(dir, "results-*.parquet"))
	if err != nil || len(shards) == 0 {
		t.Fatalf("no Parquet results in %s: %v", dir, err)
	}
	out := map[string]price{}
	for _, s := range shards {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := parquet.Read[price](bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		for _, r := range rows {
			if _, dup := out[r.ID]; dup {
				t.Fatalf("%s: %s twice", s, r.ID)
			}
			out[r.ID] = r
		}
	}
	return out
}

// The job over the trades in Parquet prices what the job over the same
// trades in JSON lines prices; with Parquet results, every row of the
// shards holds what the JSON results hold.
func TestParquetInputAndResults(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ref := readOutputs(t, f.pricedJob(t, "", f.testdata("trades.jsonl")).Output).results
	if len(ref) != 1000 {
		t.Fatalf("%d reference results", len(ref))
	}

	fromParquet := f.pricedJob(t, "jsonl", f.testdata("trades.parquet"))
	sameResults(t, readOutputs(t, fromParquet.Output).results, ref)
	m, err := grid.ReadManifest(fromParquet.Output)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Inputs) != 1 || m.Inputs[0].Format != "parquet" || m.Inputs[0].Rows != 1000 {
		t.Errorf("manifest inputs %+v", m.Inputs)
	}

	job := f.pricedJob(t, "parquet", f.testdata("trades.jsonl"))
	got := readParquetResults(t, job.Output)
	if len(got) != len(ref) {
		t.Fatalf("%d Parquet results, want %d", len(got), len(ref))
	}
	for id, raw := range ref {
		want := price{ID: id}
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if got[id] != want {
			t.Fatalf("result of %s: Parquet %+v, JSON %+v", id, got[id], want)
		}
	}
	m, err = grid.ReadManifest(job.Output)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range m.ResultFiles {
		if !strings.HasSuffix(name, ".parquet") {
			t.Errorf("result file %s", name)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(job.Output, "*.jsonl")); len(files) != 0 {
		t.Errorf("JSON results besides the Parquet ones: %v", files)
	}
}

// Bad values in a Parquet input are bad_input dead letters naming the
// file, the row and the field, with the row as given; the other rows run.
func TestParquetBadRowsAreDeadLetters(t *testing.T) {
	t.Parallel()
	f := setup(t)
	type trade struct {
		ID         string  `parquet:"id"`
		Underlying string  `parquet:"underlying"`
		Type       string  `parquet:"type"`
		Style      string  `parquet:"style"`
		Strike     string  `parquet:"strike"`
		Expiry     float32 `parquet:"expiry"`
		Paths      int64   `parquet:"paths"`
	}
	input := filepath.Join(t.TempDir(), "trades.parquet")
	out, err := os.Create(input)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[trade](out)
	w.Write([]trade{
		{"A", "AAPL", "CALL", "EUROPEAN", "50", 1, 0},
		{"B", "AAPL", "CALL", "EUROPEAN", "fifty", 1, 0},
		{"C", "MSFT", "PUT", "EUROPEAN", "150", 0.5, -3},
		{"D", "MSFT", "COLLAR", "EUROPEAN", "150", 0.5, 0},
		{"E", "MSFT", "PUT", "EUROPEAN", "150", 0.5, 0},
	})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out.Close()
	job := f.job(f.pricer, input)
	job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
	job.InputOptional = []string{"quantity", "fixings"}
	if _, err := grid.Run(context.Background(), job, quiet); err != nil {
		t.Fatal(err)
	}
	o := readOutputs(t, job.Output)
	if len(o.results) != 2 || o.results["A"] == nil || o.results["E"] == nil {
		t.Fatalf("results for %v, want A and E", keys(o.results))
	}
	want := map[string]struct{ field, msg, element string }{
		"line 2": {"strike", `"fifty" is not a number`, `{"id":"B","underlying":"AAPL","type":"CALL","style":"EUROPEAN","strike":"fifty","expiry":1,"paths":0}`},
		"line 3": {"paths", `"-3" is not an unsigned 32-bit integer`, `{"id":"C","underlying":"MSFT","type":"PUT","style":"EUROPEAN","strike":"150","expiry":0.5,"paths":-3}`},
		"line 4": {"type", `"COLLAR" is not a value of pricer.OptionType`, `{"id":"D","underlying":"MSFT","type":"COLLAR","style":"EUROPEAN","strike":"150","expiry":0.5,"paths":0}`},
	}
	if len(o.dead) != len(want) {
		t.Fatalf("dead letters %v", keys(o.dead))
	}
	for k, w := range want {
		d := o.dead[k]
		prefix := input + ":" + strings.TrimPrefix(k, "line ") + ": field " + w.field + ": "
		if d.Kind != grid.KindBadInput || d.Field != w.field || d.Message != prefix+w.msg || d.Input != input {
			t.Errorf("%s: %+v, want field %s message %q", k, d, w.field, prefix+w.msg)
		}
		if string(d.Element) != w.element {
			t.Errorf("%s: element %s, want %s", k, d.Element, w.element)
		}
	}
}

// Inputs in Cloud Storage are read where they are: a Parquet object at
// offsets (its footer, then its columns), a JSON lines object as a stream;
// a pattern names the objects it matches.
// Not parallel: the storage client finds the fake through the environment.
func TestInputsInCloudStorage(t *testing.T) {
	f := setup(t)
	gcs := fakegcs.Start(t, "trades")
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host())
	for _, name := range []string{"trades.parquet", "trades.jsonl"} {
		b, err := os.ReadFile(f.testdata(name))
		if err != nil {
			t.Fatal(err)
		}
		gcs.Put("trades", "daily/"+name, b)
	}
	ref := readOutputs(t, f.pricedJob(t, "", f.testdata("trades.jsonl")).Output).results
	for _, name := range []string{"trades.parquet", "trades.jsonl"} {
		job := f.pricedJob(t, "", "gs://trades/daily/"+name)
		sameResults(t, readOutputs(t, job.Output).results, ref)
		if gcs.Downloads("trades", "daily/"+name) == 0 {
			t.Errorf("%s: not read from the bucket", name)
		}
	}

	job := f.job(f.pricer, "gs://trades/daily/missing.parquet")
	job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
	_, err := grid.Run(context.Background(), job, quiet)
	var ce *grid.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "gs://trades/daily/missing.parquet: not found") {
		t.Fatalf("missing object: %v", err)
	}

	// A pattern reads every object it matches, and none it does not: the
	// trades split in two parts, beside objects the pattern leaves out.
	b, err := os.ReadFile(f.testdata("trades.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	half := len(lines) / 2
	gcs.Put("trades", "split/part-0.jsonl", bytes.Join(lines[:half], nil))
	gcs.Put("trades", "split/part-1.jsonl", bytes.Join(lines[half:], nil))
	gcs.Put("trades", "split/part-1.csv", []byte("not,a,trade\n"))
	gcs.Put("trades", "split/old/part-2.jsonl", []byte("not a trade\n"))
	job = f.pricedJob(t, "", "gs://trades/split/part-*.jsonl")
	sameResults(t, readOutputs(t, job.Output).results, ref)

	job = f.job(f.pricer, "gs://trades/daily/*.csv")
	if _, err := grid.Run(context.Background(), job, quiet); !errors.As(err, &ce) || !strings.Contains(err.Error(), "no file matches") {
		t.Fatalf("pattern matching nothing: %v", err)
	}
}
