package codec_test

import (
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
