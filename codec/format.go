package codec

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Format is the encoding of an input file: the name an InputFormat is
// registered under.
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

// An InputFormat is what codec knows of one format of input files: how its
// files are named, what may be done with them, how its rows are read and
// how a row becomes an element. The built-in formats register themselves,
// one file each (jsonl.go, csv.go, delimited.go, parquet.go); another
// package adds one with RegisterFormat.
type InputFormat struct {
	// Exts are the file extensions, with their dots, in lower case, that
	// FormatOf takes for the format. The first is the one messages name.
	Exts []string
	// Aliases are other names ParseFormat accepts for the format.
	Aliases []string
	// Gzip says a file of the format may be gzipped (name.ext.gz): Open
	// then reads it through gunzip.
	Gzip bool
	// NoGzip is what FormatOf says of a gzipped file of a format that
	// cannot be: why, and what to do. Defaults to "a NAME file cannot be
	// read gzipped; gunzip it".
	NoGzip string
	// Table says the format can hold a join table: its rows are named
	// text cells (Row.Header and Row.Cells) or JSON objects (Row.Data),
	// which is what a table source reads.
	Table bool

	// NewReader reads the rows of a stream. Exactly one of NewReader and
	// NewRandomReader is set.
	NewReader func(r io.Reader, name string) (Reader, error)
	// NewRandomReader reads the rows of a file of size bytes through
	// random access, for a format that cannot be read from its start
	// alone (a Parquet file starts from its footer).
	NewRandomReader func(r io.ReaderAt, size int64, name string) (Reader, error)
	// NewReaderAt, when set, reads the rows of a stream from a split
	// (see Splits and OpenAt): body is the input from at.Offset on, head
	// the input from its start, for a format whose rows need its first
	// bytes (a CSV header). The reader must be a SplitReader, and so must
	// NewReader's, which Splits reads the input through.
	NewReaderAt func(head, body io.Reader, name string, at Split) (SplitReader, error)
	// SplitsAt and NewRandomReaderAt are NewReaderAt for a format read
	// with random access: the splits of a file (every rows at least) and
	// a reader from one.
	SplitsAt          func(r io.ReaderAt, size int64, name string, every int64) ([]Split, error)
	NewRandomReaderAt func(r io.ReaderAt, size int64, name string, at Split) (SplitReader, error)
	// NewDecoder readies the decoding of the rows of in, checking its
	// header or schema against the message and options b holds.
	NewDecoder func(b *ElementBuilder, in Reader) (RowDecoder, error)
	// ElementJSON renders a row as given, for the dead letters, when it
	// cannot be decoded; msg may be nil. Defaults to null.
	ElementJSON func(row Row, msg protoreflect.MessageDescriptor) json.RawMessage

	// CountRows, when set, counts the rows of a stream (gunzipped) much
	// faster than NewReader reads them: lines, or records by their length
	// prefixes, without parsing a row. Count uses it to show progress
	// against a total from the start. The count is exact for a well-formed
	// file; a malformed one may count differently from the rows it reads.
	// Formats without one are counted by reading their rows.
	CountRows func(r io.Reader) (int64, error)
	// CountRowsAt is CountRows for a format read with random access: a
	// Parquet file's footer gives its row count.
	CountRowsAt func(r io.ReaderAt, size int64, name string) (int64, error)
}

// A RowDecoder turns the rows of one input into elements, for a Decoder.
// It is safe for concurrent use.
type RowDecoder interface {
	// Decode turns a row read without error into an element, usually by
	// ElementBuilder.Build. The Decoder adds the row's position to its
	// errors.
	Decode(row Row) (Element, error)
	// ID reads the id of a row that did not decode, false when it cannot
	// be read. Only failed rows come here, so it may take slow paths.
	ID(row Row) (string, bool)
}

// registry holds the input formats. Registration happens in init
// functions, which run one at a time, but a lock costs nothing at the
// rate formats are looked up and keeps a late registration safe.
var registry struct {
	sync.RWMutex
	formats map[Format]*InputFormat
	names   map[string]Format // lower-case names and aliases
	exts    map[string]Format
	order   []Format // registration order
}

// builtinOrder is the order messages list the built-in formats in, the
// order they have always been listed in; formats registered elsewhere
// follow in the order they were registered. Each built-in file registers
// itself, and init functions run in file-name order, which is another.
var builtinOrder = []Format{JSONL, CSV, Delimited, Parquet}

// RegisterFormat makes an input format available under name, for
// ParseFormat, and under its extensions, for FormatOf. Packages of formats
// call it from init. It panics when the name, an alias or an extension is
// taken, or when the format lacks a reader or a decoder: two formats
// claiming one file name would make the choice depend on import order.
func RegisterFormat(name Format, f InputFormat) {
	if name == "" || (f.NewReader == nil) == (f.NewRandomReader == nil) || f.NewDecoder == nil {
		panic(fmt.Sprintf("codec: RegisterFormat %q: a format needs a name, one of NewReader and NewRandomReader, and NewDecoder", name))
	}
	if f.NewRandomReader != nil && f.Gzip {
		panic(fmt.Sprintf("codec: RegisterFormat %q: a file read with random access cannot be gzipped", name))
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.formats == nil {
		registry.formats = map[Format]*InputFormat{}
		registry.names = map[string]Format{}
		registry.exts = map[string]Format{}
	}
	// Every claim is checked before any is made: a refused format leaves
	// nothing of itself behind.
	names := append([]string{string(name)}, f.Aliases...)
	for i, n := range names {
		names[i] = strings.ToLower(n)
		if other, ok := registry.names[names[i]]; ok {
			panic(fmt.Sprintf("codec: RegisterFormat %q: name %q is format %q's", name, names[i], other))
		}
	}
	exts := make([]string, len(f.Exts))
	for i, ext := range f.Exts {
		exts[i] = strings.ToLower(ext)
		if other, ok := registry.exts[exts[i]]; ok {
			panic(fmt.Sprintf("codec: RegisterFormat %q: extension %q is format %q's", name, exts[i], other))
		}
	}
	for _, n := range names {
		registry.names[n] = name
	}
	for _, ext := range exts {
		registry.exts[ext] = name
	}
	registry.formats[name] = &f
	registry.order = append(registry.order, name)
}

// lookup returns the format registered as f.
func lookup(f Format) (*InputFormat, bool) {
	registry.RLock()
	defer registry.RUnlock()
	spec, ok := registry.formats[f]
	return spec, ok
}

// Formats returns the registered formats, the built-in ones first.
func Formats() []Format {
	registry.RLock()
	defer registry.RUnlock()
	out := slices.Clone(registry.order)
	rank := func(f Format) int {
		if i := slices.Index(builtinOrder, f); i >= 0 {
			return i
		}
		return len(builtinOrder)
	}
	slices.SortStableFunc(out, func(a, b Format) int { return rank(a) - rank(b) })
	return out
}

// RandomAccess says a file of format f is read with random access, so
// Open needs a source that offers it.
func (f Format) RandomAccess() bool {
	spec, ok := lookup(f)
	return ok && spec.NewRandomReader != nil
}

// Table says format f can hold a join table (InputFormat.Table).
func (f Format) Table() bool {
	spec, ok := lookup(f)
	return ok && spec.Table
}

// Ext is the file extension of format f that messages name, with its dot;
// "" when f is not registered.
func (f Format) Ext() string {
	spec, ok := lookup(f)
	if !ok || len(spec.Exts) == 0 {
		return ""
	}
	return spec.Exts[0]
}

// listed joins items as a sentence lists them: "a, b or c".
func listed(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

func noGzip(f Format, spec *InputFormat) string {
	if spec.NoGzip != "" {
		return spec.NoGzip
	}
	return fmt.Sprintf("a %s file cannot be read gzipped; gunzip it", f)
}

// FormatOf guesses a file's format from its name, looking through a .gz
// suffix.
func FormatOf(name string) (f Format, gzipped bool, err error) {
	base := strings.ToLower(path.Base(name))
	if strings.HasSuffix(base, ".gz") {
		gzipped = true
		base = strings.TrimSuffix(base, ".gz")
	}
	registry.RLock()
	f, ok := registry.exts[path.Ext(base)]
	registry.RUnlock()
	if ok {
		spec, _ := lookup(f)
		if gzipped && !spec.Gzip {
			return "", false, fmt.Errorf("%s: %s", name, noGzip(f, spec))
		}
		return f, gzipped, nil
	}
	var exts []string
	for _, f := range Formats() {
		if ext := f.Ext(); ext != "" {
			exts = append(exts, ext)
		}
	}
	return "", false, fmt.Errorf("%s: cannot tell the format from the name; name it %s, or give the format", name, listed(exts))
}

// ParseFormat checks a format named by the user.
func ParseFormat(s string) (Format, error) {
	registry.RLock()
	f, ok := registry.names[strings.ToLower(s)]
	registry.RUnlock()
	if ok {
		return f, nil
	}
	var names []string
	for _, f := range Formats() {
		names = append(names, string(f))
	}
	return "", fmt.Errorf("unknown format %q: want %s", s, listed(names))
}
