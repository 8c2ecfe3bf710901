package codec

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// MaxRowSize bounds one input row. A longer JSON line is a bad row; a longer
// protobuf record or CSV row ends the input, since the stream cannot be
// resynchronised (a CSV row that long is most likely a quote left open,
// which makes the rest of the file one cell).
const MaxRowSize = 64 << 20

// readBuffer is the read-ahead of a reader: large enough for throughput,
// small enough that the bytes read from a file say how far the rows are.
const readBuffer = 64 << 10

// Row is one record of an input, not yet decoded.
type Row struct {
	// Index is the 0-based number of the record in its file. Together with
	// the file it names the element for resuming a job.
	Index int64
	// Line is the 1-based line where a JSONL or CSV row starts, or the
	// 1-based record or row number in a delimited protobuf or Parquet file.
	Line int64
	// Data is the JSON line or the protobuf message.
	Data []byte
	// Cells are the values of a CSV row, named by Header.
	Cells  []string
	Header []string
	// parquet is a Parquet row's column values.
	parquet *parquetRow
	// Err is a problem found while reading this row, such as a CSV row
	// with the wrong number of cells; the row is a bad input, the rest of
	// the file is fine.
	Err error
}

// Reader reads the rows of one input.
type Reader interface {
	// Read returns the next row, or io.EOF after the last. Any other error
	// means the rest of the input cannot be read.
	Read() (Row, error)
	// Name is the input's name in messages.
	Name() string
	// Header returns the column names of a CSV or Parquet input, nil
	// otherwise.
	Header() []string
	// Offset is how far into the input the rows read so far reach, in the
	// bytes given to NewReader: exact for plain inputs, the compressed
	// bytes read so far for gzipped ones. With the input's size it says how
	// many rows are left.
	Offset() int64
}

// NewReader reads rows in format f from the stream r. name is used in
// messages. A format read with random access (Parquet, which starts from
// its footer) needs Open and a source that offers it.
func NewReader(r io.Reader, name string, f Format, gzipped bool) (Reader, error) {
	spec, err := formatFor(name, f)
	if err != nil {
		return nil, err
	}
	if spec.NewRandomReader != nil {
		return nil, fmt.Errorf("%s: a %s file is %w", name, f, ErrNoRandomAccess)
	}
	return openStream(spec, r, name, gzipped)
}

// Open reads the rows of src in format f. name is used in messages. A
// format read with random access gets it when src offers it: io.ReaderAt,
// and its size from a Size() int64 method or, as an *os.File gives it,
// from Stat. A gzipped input is read through gunzip.
func Open(src io.Reader, name string, f Format, gzipped bool) (Reader, error) {
	spec, err := formatFor(name, f)
	if err != nil {
		return nil, err
	}
	if spec.NewRandomReader == nil {
		return openStream(spec, src, name, gzipped)
	}
	if gzipped {
		return nil, fmt.Errorf("%s: %s", name, noGzip(f, spec))
	}
	ra, size, err := randomAccess(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if ra == nil {
		return nil, fmt.Errorf("%s: a %s file is %w", name, f, ErrNoRandomAccess)
	}
	return spec.NewRandomReader(ra, size, name)
}

// ErrNoRandomAccess is the error of a format read with random access
// given a source that cannot offer it, such as a stream.
var ErrNoRandomAccess = errors.New("read with random access, which a stream cannot give")

func formatFor(name string, f Format) (*InputFormat, error) {
	spec, ok := lookup(f)
	if !ok {
		return nil, fmt.Errorf("%s: unknown format %q", name, f)
	}
	return spec, nil
}

// randomAccess returns src's random access and size, or nil when it has
// none.
func randomAccess(src io.Reader) (io.ReaderAt, int64, error) {
	ra, ok := src.(io.ReaderAt)
	if !ok {
		return nil, 0, nil
	}
	switch s := src.(type) {
	case interface{ Size() int64 }:
		return ra, s.Size(), nil
	case interface{ Stat() (fs.FileInfo, error) }:
		st, err := s.Stat()
		if err != nil {
			return nil, 0, err
		}
		return ra, st.Size(), nil
	}
	return nil, 0, nil
}

func openStream(spec *InputFormat, r io.Reader, name string, gzipped bool) (Reader, error) {
	var compressed *countingReader
	if gzipped {
		compressed = &countingReader{r: r}
		zr, err := gzip.NewReader(compressed)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		r = zr
	}
	rd, err := spec.NewReader(r, name)
	if err != nil {
		return nil, err
	}
	if compressed != nil {
		return gzipReader{rd, compressed}, nil
	}
	return rd, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// gzipReader reports its offset in compressed bytes.
type gzipReader struct {
	Reader
	compressed *countingReader
}

func (g gzipReader) Offset() int64 { return g.compressed.n }
