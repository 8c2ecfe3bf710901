package codec_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/codec"
)

func TestFormatOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		want codec.Format
		gz   bool
	}{
		{"trades.jsonl", codec.JSONL, false},
		{"trades.ndjson", codec.JSONL, false},
		{"trades.json", codec.JSONL, false},
		{"dir/TRADES.JSONL", codec.JSONL, false},
		{"trades.jsonl.gz", codec.JSONL, true},
		{"quotes.csv", codec.CSV, false},
		{"gs://bucket/dir/quotes.CSV.GZ", codec.CSV, true},
		{"trades.pb", codec.Delimited, false},
		{"trades.binpb", codec.Delimited, false},
		{"/abs/trades.pb.gz", codec.Delimited, true},
		{"a.b.c.csv", codec.CSV, false},
		{"trades.parquet", codec.Parquet, false},
		{"gs://bucket/part-0001.PARQ", codec.Parquet, false},
	} {
		f, gz, err := codec.FormatOf(tc.name)
		if err != nil || f != tc.want || gz != tc.gz {
			t.Errorf("FormatOf(%q) = %q, %v, %v; want %q, %v", tc.name, f, gz, err, tc.want, tc.gz)
		}
	}
}

func TestFormatOfUnknown(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"trades.txt", "trades.gz", "trades", "trades.csv.bz2", "csv", "dir.csv/trades", ".gz", "trades.parquet.gz"} {
		f, gz, err := codec.FormatOf(name)
		if err == nil {
			t.Errorf("FormatOf(%q) = %q, %v; want an error", name, f, gz)
			continue
		}
		if f != "" || gz {
			t.Errorf("FormatOf(%q) = %q, %v with an error; want zero values", name, f, gz)
		}
		contains(t, err, name)
	}
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]codec.Format{
		"jsonl": codec.JSONL, "JSONL": codec.JSONL, "ndjson": codec.JSONL, "Json": codec.JSONL,
		"csv": codec.CSV, "CSV": codec.CSV,
		"pb": codec.Delimited, "PB": codec.Delimited,
		"parquet": codec.Parquet, "Parquet": codec.Parquet,
	} {
		if got, err := codec.ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "pq", "csv.gz", " csv", "binpb"} {
		got, err := codec.ParseFormat(in)
		if err == nil {
			t.Errorf("ParseFormat(%q) = %q, want an error", in, got)
			continue
		}
		contains(t, err, "jsonl, csv, pb or parquet")
	}
}

func TestFormatOfNamesTheRegisteredExtensions(t *testing.T) {
	t.Parallel()
	_, _, err := codec.FormatOf("trades.txt")
	contains(t, err, "name it .jsonl, .csv, .pb or .parquet, or give the format")
	_, _, err = codec.FormatOf("trades.parquet.gz")
	contains(t, err, "trades.parquet.gz: a Parquet file compresses its own pages and cannot be read gzipped; gunzip it")
}

func TestFormatCapabilities(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		f                   codec.Format
		table, randomAccess bool
		ext                 string
	}{
		{codec.JSONL, true, false, ".jsonl"},
		{codec.CSV, true, false, ".csv"},
		{codec.Delimited, false, false, ".pb"},
		{codec.Parquet, false, true, ".parquet"},
		{"xml", false, false, ""},
	} {
		if tc.f.Table() != tc.table || tc.f.RandomAccess() != tc.randomAccess || tc.f.Ext() != tc.ext {
			t.Errorf("%s: table %v, random access %v, ext %q", tc.f, tc.f.Table(), tc.f.RandomAccess(), tc.f.Ext())
		}
	}
}

func TestRegisterFormatRefusesATakenExtension(t *testing.T) {
	t.Parallel()
	defer func() {
		if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), `".csv" is format "csv"'s`) {
			t.Errorf("panic %v", p)
		}
		if f, err := codec.ParseFormat("csv2"); err == nil {
			t.Errorf("the refused format is registered as %q", f)
		}
	}()
	codec.RegisterFormat("csv2", codec.InputFormat{
		Exts:       []string{".csv"},
		NewReader:  func(io.Reader, string) (codec.Reader, error) { return nil, nil },
		NewDecoder: func(*codec.ElementBuilder, codec.Reader) (codec.RowDecoder, error) { return nil, nil },
	})
}

// Open gives a Parquet file the random access it needs, from a file or
// anything with ReadAt and Size, and says which input cannot have it.
func TestOpenParquetNeedsRandomAccess(t *testing.T) {
	t.Parallel()
	const path = "../testdata/trades.parquet" // the 1000 trades of trades.jsonl
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, src := range map[string]io.Reader{"file": f, "bytes": bytes.NewReader(data)} {
		r, err := codec.Open(src, path, codec.Parquet, false)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n := 0
		for ; ; n++ {
			if _, err := r.Read(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if n != 1000 {
			t.Errorf("%s: %d rows, want 1000", name, n)
		}
	}

	stream := io.MultiReader(bytes.NewReader(data)) // no ReadAt
	_, err = codec.Open(stream, "in.parquet", codec.Parquet, false)
	if !errors.Is(err, codec.ErrNoRandomAccess) {
		t.Errorf("Open of a stream: %v", err)
	}
	contains(t, err, "in.parquet: a parquet file is read with random access")
	if _, err := codec.NewReader(bytes.NewReader(data), "in.parquet", codec.Parquet, false); !errors.Is(err, codec.ErrNoRandomAccess) {
		t.Errorf("NewReader: %v", err)
	}
	_, err = codec.Open(bytes.NewReader(data), "in.parquet", codec.Parquet, true)
	contains(t, err, "in.parquet: a Parquet file compresses its own pages")
	_, err = codec.Open(bytes.NewReader(data), "in.xml", "xml", false)
	contains(t, err, `in.xml: unknown format "xml"`)
}
