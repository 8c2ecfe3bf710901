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
	}
	return "", false, fmt.Errorf("%s: cannot tell the format from the name; name it .jsonl, .csv or .pb, or give the format", name)
}

// ParseFormat checks a format named by the user.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case JSONL, CSV, Delimited:
		return f, nil
	case "ndjson", "json":
		return JSONL, nil
	}
	return "", fmt.Errorf("unknown format %q: want jsonl, csv or pb", s)
}
