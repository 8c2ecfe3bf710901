package join_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/join"
)

func write(tb testing.TB, name, data string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

func tmpl(tb testing.TB, s string) *codec.Template {
	tb.Helper()
	t, err := codec.ParseTemplate(s)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// quote builds a pricer.Quote by hand.
func quote(tb testing.TB, underlying string, spot, vol, rate, dividend float64) *dynamicpb.Message {
	tb.Helper()
	desc := quoteDesc(tb)
	m := dynamicpb.NewMessage(desc)
	set := func(name string, v protoreflect.Value, zero bool) {
		if !zero {
			m.Set(desc.Fields().ByName(protoreflect.Name(name)), v)
		}
	}
	set("underlying", protoreflect.ValueOfString(underlying), underlying == "")
	set("spot", protoreflect.ValueOfFloat64(spot), spot == 0)
	set("vol", protoreflect.ValueOfFloat64(vol), vol == 0)
	set("rate", protoreflect.ValueOfFloat64(rate), rate == 0)
	set("dividend", protoreflect.ValueOfFloat64(dividend), dividend == 0)
	return m
}

// read returns the rows of keys, failing on an error.
func read(tb testing.TB, d join.Driver, keys ...string) map[string]join.Row {
	tb.Helper()
	rows, err := d.ReadRows(context.Background(), keys)
	if err != nil {
		tb.Fatal(err)
	}
	return rows
}

func wantQuote(tb testing.TB, rows map[string]join.Row, key string, want proto.Message) {
	tb.Helper()
	r, ok := rows[key]
	if !ok {
		tb.Fatalf("no row for %q", key)
	}
	if r.Key != key {
		tb.Fatalf("row for %q has key %q", key, r.Key)
	}
	got := dynamicpb.NewMessage(quoteDesc(tb))
	if err := proto.Unmarshal(r.Payload, got); err != nil {
		tb.Fatal(err)
	}
	if !proto.Equal(got, want) {
		tb.Fatalf("row %q = %v, want %v", key, got, want)
	}
}

func TestOpenFileCSV(t *testing.T) {
	t.Parallel()
	path := write(t, "quotes.csv", "desk,underlying,spot,vol,rate,dividend,comment\n"+
		"eq,AAPL,50.06,0.3156,0.0126,0.0216,first\n"+
		"eq,AMZN,163.81,\"0.3709\",,4e-2,\"has, a comma\"\n"+
		"\n"+
		"fx,AAPL,1,0.1,0,0,same underlying on another desk\n")
	d, err := join.OpenFile(path, join.Spec{Side: quoteDesc(t), Key: tmpl(t, "{desk}/{underlying}")})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Describe() != path || d.IsTransient(errTransient) {
		t.Fatalf("Describe %q IsTransient %v", d.Describe(), d.IsTransient(errTransient))
	}
	rows := read(t, d, "eq/AAPL", "eq/AMZN", "fx/AAPL", "eq/MSFT", "AAPL")
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	wantQuote(t, rows, "eq/AAPL", quote(t, "AAPL", 50.06, 0.3156, 0.0126, 0.0216))
	wantQuote(t, rows, "eq/AMZN", quote(t, "AMZN", 163.81, 0.3709, 0, 0.04))
	wantQuote(t, rows, "fx/AAPL", quote(t, "AAPL", 1, 0.1, 0, 0))
	if rows := read(t, d); len(rows) != 0 {
		t.Fatalf("rows for no keys: %v", rows)
	}
}

func TestOpenFileJSONL(t *testing.T) {
	t.Parallel()
	// Keys from a number or a string, as written; fields that are not of
	// the message ignored, whatever their JSON; null leaves a field unset;
	// blank lines, CRLF and a last line without a newline.
	path := write(t, "quotes.jsonl", `{"underlying":"KO","tenor":5,"spot":1e2,"dividend":null,"desk":{"any":["thing"]}}`+"\r\n"+
		"\n"+
		`{"underlying":"KO","tenor":"10","spot":"3","comment":"extra"}`)
	d, err := join.OpenFile("file://"+path, join.Spec{Side: quoteDesc(t), Key: tmpl(t, "{underlying}-{tenor}")})
	if err != nil {
		t.Fatal(err)
	}
	if d.Describe() != path {
		t.Fatalf("Describe %q", d.Describe())
	}
	rows := read(t, d, "KO-5", "KO-10", "KO-", "KO")
	if len(rows) != 2 {
		t.Fatalf("rows %v", rows)
	}
	wantQuote(t, rows, "KO-5", quote(t, "KO", 100, 0, 0, 0))
	wantQuote(t, rows, "KO-10", quote(t, "KO", 3, 0, 0, 0))
}

func TestOpenFileGzipped(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte("underlying,spot\nAAPL,1.5\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := write(t, "quotes.csv.gz", b.String())
	d, err := join.OpenFile(path, join.Spec{Side: quoteDesc(t), Key: tmpl(t, "{underlying}")})
	if err != nil {
		t.Fatal(err)
	}
	wantQuote(t, read(t, d, "AAPL"), "AAPL", quote(t, "AAPL", 1.5, 0, 0, 0))
}

func TestOpenFileErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file, data, key string
		msg                   []string
		field                 string
	}{
		{"duplicate key", "q.csv", "underlying,spot\nAAPL,1\nMSFT,2\n\nAAPL,3\n", "{underlying}",
			[]string{"q.csv:5", `key "AAPL"`, "line 2"}, ""},
		{"duplicate composite key", "q.jsonl", `{"underlying":"A","desk":"x"}` + "\n" + `{"underlying":"A","desk":"x"}`, "{desk}{underlying}",
			[]string{"q.jsonl:2", `key "xA"`, "line 1"}, ""},
		{"bad value", "q.csv", "underlying,spot,vol\nAAPL,1,0.2\nMSFT,abc,0.2\n", "{underlying}",
			[]string{"q.csv:3", "field spot", `"abc"`}, "spot"},
		{"bad JSON value", "q.jsonl", `{"underlying":"AAPL","vol":[1]}`, "{underlying}",
			[]string{"q.jsonl:1", "field vol"}, "vol"},
		{"missing key column", "q.csv", "ticker,spot\nAAPL,1\n", "{underlying}",
			[]string{"q.csv:1", `no column "underlying"`, "ticker, spot"}, ""},
		{"empty key cell", "q.csv", "underlying,spot\nAAPL,1\n,2\n", "{underlying}",
			[]string{"q.csv:3", "underlying"}, "underlying"},
		{"missing key field", "q.jsonl", `{"underlying":"AAPL"}` + "\n" + `{"spot":1}`, "{underlying}",
			[]string{"q.jsonl:2", "underlying"}, "underlying"},
		{"null key field", "q.jsonl", `{"underlying":null,"spot":1}`, "{underlying}",
			[]string{"q.jsonl:1", "underlying"}, "underlying"},
		{"wrong cell count", "q.csv", "underlying,spot\nAAPL,1,2\n", "{underlying}",
			[]string{"q.csv:2", "3 cells"}, ""},
		{"bad JSON", "q.jsonl", "{\"underlying\":\"A\"}\n\n{\"underlying\":", "{underlying}",
			[]string{"q.jsonl:3", "not a JSON object"}, ""},
		{"protobuf table", "q.pb", "", "{underlying}", []string{"q.pb", "CSV or JSONL"}, ""},
		{"unknown extension", "q.txt", "", "{underlying}", []string{"q.txt"}, ""},
		{"empty CSV", "q.csv", "", "{underlying}", []string{"q.csv", "header"}, ""},
	} {
		path := write(t, tc.file, tc.data)
		d, err := join.OpenFile(path, join.Spec{Side: quoteDesc(t), Key: tmpl(t, tc.key)})
		if err == nil {
			d.Close()
			t.Errorf("%s: opened", tc.name)
			continue
		}
		contains(t, err, tc.msg...)
		var fe *codec.FieldError
		if tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field) {
			t.Errorf("%s: %v does not carry a *FieldError for %s", tc.name, err, tc.field)
		}
	}
}

// With two bad fields in a row, the error names the same one every time.
func TestOpenFileErrorsAreStable(t *testing.T) {
	t.Parallel()
	path := write(t, "q.jsonl", `{"vol":"x","underlying":"A","spot":"y","rate":"z"}`)
	for range 20 {
		_, err := join.OpenFile(path, join.Spec{Side: quoteDesc(t), Key: tmpl(t, "{underlying}")})
		contains(t, err, "field rate")
	}
}

func TestOpenFileMissing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "none.csv")
	_, err := join.OpenFile(path, join.Spec{Side: quoteDesc(t), Key: tmpl(t, "{underlying}")})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("error %v, want fs.ErrNotExist", err)
	}
	contains(t, err, "join table "+path+": no such file")
}

func TestOpenFileWithoutAKey(t *testing.T) {
	t.Parallel()
	path := write(t, "q.csv", "underlying,spot\nAAPL,1\n")
	if _, err := join.OpenFile(path, join.Spec{Side: quoteDesc(t), Key: nil}); err == nil {
		t.Fatal("a table without a key template opened")
	}
}

func TestOpenDispatch(t *testing.T) {
	t.Parallel()
	path := write(t, "quotes.csv", "underlying,spot\nAAPL,1.5\n")
	spec := join.Spec{Side: quoteDesc(t), Key: tmpl(t, "{underlying}"), Optional: []string{"vol", "rate", "dividend"}}
	for _, uri := range []string{path, "file://" + path} {
		tab, err := join.Open(context.Background(), uri, spec, nil)
		if err != nil {
			t.Fatalf("%s: %v", uri, err)
		}
		if tab.Source() != path {
			t.Fatalf("%s: Source %q", uri, tab.Source())
		}
		rows := lookup(t, tab, "AAPL", "MSFT")
		wantQuote(t, rows, "AAPL", quote(t, "AAPL", 1.5, 0, 0, 0))
		if len(rows) != 1 {
			t.Fatalf("rows %v", rows)
		}
		if err := tab.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := join.Open(context.Background(), filepath.Join(t.TempDir(), "none.csv"), spec, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestOpenPassesOptions(t *testing.T) {
	t.Parallel()
	path := write(t, "quotes.csv", "underlying,spot\nAAPL,1.5\n")
	spec := join.Spec{Side: quoteDesc(t), Key: tmpl(t, "{underlying}"), Optional: []string{"vol", "rate", "dividend"}}
	tab, err := join.Open(context.Background(), path, spec, &join.Options{CacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	lookup(t, tab, "AAPL")
	lookup(t, tab, "AAPL")
	if s := tab.Stats(); s.Reads != 2 {
		t.Fatalf("stats %+v: the options did not reach the table", s)
	}
}

func TestOpenRegisteredScheme(t *testing.T) {
	t.Parallel()
	d := newFake("k")
	var got struct {
		uri  string
		spec join.Spec
	}
	boom := errors.New("no such instance")
	join.Register("jointest", func(_ context.Context, uri string, spec join.Spec) (join.Driver, error) {
		if strings.HasSuffix(uri, "/broken") {
			return nil, boom
		}
		got.uri, got.spec = uri, spec
		return d, nil
	})
	spec := join.Spec{Side: quoteDesc(t), Key: tmpl(t, "{underlying}"), Family: "md"}
	tab, err := join.Open(context.Background(), "jointest://proj/inst/quotes", spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.uri != "jointest://proj/inst/quotes" || got.spec.Family != "md" || got.spec.Key != spec.Key || got.spec.Side != spec.Side {
		t.Fatalf("opener got %q %+v", got.uri, got.spec)
	}
	wantRows(t, d, lookup(t, tab, "k"), "k")
	if tab.Source() != "fake://store" {
		t.Fatalf("Source %q", tab.Source())
	}
	if _, err := join.Open(context.Background(), "jointest://proj/inst/broken", spec, nil); !errors.Is(err, boom) {
		t.Fatalf("opener error: %v", err)
	}

	// An unknown scheme names the ones there are.
	_, err = join.Open(context.Background(), "nosuch://x/y", spec, nil)
	contains(t, err, "nosuch://x/y", "nosuch://", "known: file", "jointest")
}

// A CSV whose headers are a feed's names joins through --join-column, the
// key's field included; a mapping to a header the file lacks is refused.
func TestOpenFileWithMappedColumns(t *testing.T) {
	t.Parallel()
	path := write(t, "feed.csv", "ticker,px_last,ivol,rfr,div_yld,spot\nAAPL,50.06,0.3156,0.0126,0.0216,999\n")
	l := join.Layout{Columns: []string{"underlying=ticker", "spot=px_last", "vol=ivol", "rate=rfr", "dividend=div_yld"}}
	tab, err := join.Open(context.Background(), path, join.Spec{Side: quoteDesc(t), Key: tmpl(t, "{underlying}"), Layout: l}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	rows, err := tab.Lookup(context.Background(), []string{"AAPL"})
	if err != nil || rows["AAPL"].Payload == nil {
		t.Fatalf("rows %v, %v", rows, err)
	}
	got := dynamicpb.NewMessage(quoteDesc(t))
	if err := proto.Unmarshal(rows["AAPL"].Payload, got); err != nil {
		t.Fatal(err)
	}
	// The spot column is shadowed by the mapping: px_last gives spot.
	if s := got.Get(quoteDesc(t).Fields().ByName("spot")).Float(); s != 50.06 {
		t.Errorf("spot = %v, want 50.06 from px_last", s)
	}
	if c := tab.Coverage(); c == nil || !slices.Equal(c.Unused, []string{"spot"}) {
		t.Errorf("coverage %+v, want the shadowed spot column unused", c)
	}

	l.Columns[1] = "spot=px_lst"
	_, err = join.Open(context.Background(), path, join.Spec{Side: quoteDesc(t), Key: tmpl(t, "{underlying}"), Layout: l}, nil)
	contains(t, err, "no column px_lst, which --join-column maps to field spot of pricer.Quote")
}
