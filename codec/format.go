package codec

import (
	"fmt"
	"path"
	"strings"
)

// Format is the encoding of an input file.
type Format string

const (
	// JSONL is one JSON object per line (also .ndjson).
	JSONL Format = "jsonl"
	// CSV is comma-separated values with a header row naming the fields.
	CSV Format = "csv"
	// Delimited is varint-length-delimited protobuf messages (.pb), passed
	// to the binary as they are.
	Delimited Format = "pb"
	// Parquet is an Apache Parquet file, read a row group at a time, one
	// top-level column per field (see NewParquetReader).
	Parquet Format = "parquet"
)

// FormatOf guesses a file's format from its name, looking through a .gz
// suffix.
func FormatOf(name string) (f Format, gzipped bool, err error) {
	base := strings.ToLower(path.Base(name))
	if strings.HasSuffix(base, ".gz") {
		gzipped = true
		base = strings.TrimSuffix(base, ".gz")
	}
	switch path.Ext(base) {
	case ".jsonl", ".ndjson", ".json":
		return JSONL, gzipped, nil
	case ".csv":
		return CSV, gzipped, nil
	case ".pb", ".binpb":
		return Delimited, gzipped, nil
	case ".parquet", ".parq":
		if gzipped {
			// Its pages are compressed inside; a gzipped file cannot be
			// read from its footer, which is where reading starts.
			return "", false, fmt.Errorf("%s: a Parquet file compresses its own pages and cannot be read gzipped; gunzip it", name)
		}
		return Parquet, false, nil
	}
	return "", false, fmt.Errorf("%s: cannot tell the format from the name; name it .jsonl, .csv, .pb or .parquet, or give the format", name)
}

// ParseFormat checks a format named by the user.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case JSONL, CSV, Delimited, Parquet:
		return f, nil
	case "ndjson", "json":
		return JSONL, nil
	}
	return "", fmt.Errorf("unknown format %q: want jsonl, csv, pb or parquet", s)
}
