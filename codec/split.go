package codec

import (
	"bufio"
	"fmt"
	"io"
)

// A Split is a place in an input where reading may start: the start of a
// row, with the numbers that row has when the input is read from its
// start. Splits let many readers share one file, each from its own split.
type Split struct {
	// Offset is where the row starts: a byte offset in a stream format,
	// the row's index in a Parquet file, whose columns are read side by
	// side. Offsets grow with the rows.
	Offset int64
	// Row is the row's Row.Index.
	Row int64
	// Line is the line count before the row: in JSONL and CSV the lines
	// before the row starts (blank ones included), in the other formats
	// Row. A row read from the split has the Line it has when read from
	// the start.
	Line int64
}

// A SplitReader is a Reader that knows where its next row starts.
type SplitReader interface {
	Reader
	// Next is the split of the row the next Read returns (or of the end
	// of the input, after the last row). Its Offset is always right;
	// exact is false where the reader cannot vouch for the rest (after a
	// CSV row it could not parse), and no reader may start there.
	Next() (s Split, exact bool)
}

// Splittable reports whether an input of format f can be read from a
// split: a gzipped stream cannot (it is read from its start), nor can a
// format registered without the means.
func Splittable(f Format, gzipped bool) bool {
	spec, ok := lookup(f)
	if !ok {
		return false
	}
	if spec.NewRandomReader != nil {
		return spec.NewRandomReaderAt != nil && spec.SplitsAt != nil
	}
	return !gzipped && spec.NewReaderAt != nil
}

// Splits finds the places an input may be read from: the first row, then
// the first row that starts at least every bytes (every rows in a Parquet
// file) after the previous split. src is the whole input. A stream is read
// through the format's own reader, without decoding a row, so that each
// split is a row start exactly as a read from the start finds it (a CSV
// row's quoted line breaks included); a Parquet file splits at its row
// groups, from its footer. An input that cannot be split (see Splittable)
// has the one split at its start. An error is one that stops a read from
// the start too, naming the place.
func Splits(src io.Reader, name string, f Format, gzipped bool, every int64) ([]Split, error) {
	spec, err := formatFor(name, f)
	if err != nil {
		return nil, err
	}
	if !Splittable(f, gzipped) {
		return []Split{{}}, nil
	}
	every = max(every, 1)
	if spec.NewRandomReader != nil {
		ra, size, err := randomAccess(src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if ra == nil {
			return nil, fmt.Errorf("%s: a %s file is %w", name, f, ErrNoRandomAccess)
		}
		return spec.SplitsAt(ra, size, name, every)
	}
	rd, err := spec.NewReader(src, name)
	if err != nil {
		return nil, err
	}
	r, ok := rd.(SplitReader)
	if !ok {
		return nil, fmt.Errorf("%s: the %s reader cannot tell where its rows start", name, f)
	}
	var out []Split
	next := int64(0)
	for {
		s, exact := r.Next()
		if _, err := r.Read(); err == io.EOF {
			if len(out) == 0 {
				out = append(out, s) // an input without rows
			}
			return out, nil
		} else if err != nil {
			return nil, err
		}
		if len(out) == 0 || exact && s.Offset >= next {
			out = append(out, s)
			next = s.Offset + every
		}
	}
}

// OpenAt reads the rows of src, of size bytes, from the split at, which
// Splits found in the same input: the rows, with their Index and Line,
// that a read from the start gives from there on. Offset and Next count
// from the input's start.
func OpenAt(src io.ReaderAt, size int64, name string, f Format, at Split) (SplitReader, error) {
	spec, err := formatFor(name, f)
	if err != nil {
		return nil, err
	}
	if !Splittable(f, false) {
		return nil, fmt.Errorf("%s: a %s file cannot be read from a split", name, f)
	}
	if spec.NewRandomReader != nil {
		return spec.NewRandomReaderAt(src, size, name, at)
	}
	if at.Offset < 0 || at.Offset > size {
		return nil, fmt.Errorf("%s: split at byte %d of %d", name, at.Offset, size)
	}
	head := io.NewSectionReader(src, 0, size)
	// Large reads: in Cloud Storage each is a request.
	body := bufio.NewReaderSize(io.NewSectionReader(src, at.Offset, size-at.Offset), 1<<20)
	return spec.NewReaderAt(head, body, name, at)
}
