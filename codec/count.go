package codec

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Count returns the number of rows of src in format f, as a progress
// display wants it: fast, and before the rows are read. It uses the
// format's CountRows or CountRowsAt (a newline count, a scan of length
// prefixes, a Parquet footer) and reads the rows otherwise. name is used in
// messages; src is as for Open.
func Count(src io.Reader, name string, f Format, gzipped bool) (int64, error) {
	spec, err := formatFor(name, f)
	if err != nil {
		return 0, err
	}
	if spec.NewRandomReader != nil && spec.CountRowsAt != nil {
		ra, size, err := randomAccess(src)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		if ra != nil {
			return spec.CountRowsAt(ra, size, name)
		}
	}
	if spec.NewRandomReader == nil && spec.CountRows != nil {
		r := src
		if gzipped {
			// A buffer of ours rather than the source's own ReadByte,
			// which a bytes.Reader offers at a call per byte.
			zr, err := gzip.NewReader(bufio.NewReaderSize(src, countBuffer))
			if err != nil {
				return 0, fmt.Errorf("%s: %w", name, err)
			}
			r = zr
		}
		n, err := spec.CountRows(r)
		if err != nil {
			return n, fmt.Errorf("%s: %w", name, err)
		}
		return n, nil
	}
	rd, err := Open(src, name, f, gzipped)
	if err != nil {
		return 0, err
	}
	var n int64
	for {
		_, err := rd.Read()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// countBuffer is the read size of the counters: large reads keep a count
// at the disk's speed.
const countBuffer = 1 << 20

// countLines counts the lines of r that are not blank, as the JSON lines
// reader reads them: a line of only white space is no row, and a last line
// without its newline is one.
func countLines(r io.Reader) (int64, error) {
	br := bufio.NewReaderSize(r, countBuffer)
	var n int64
	blank := true // the line read so far is white space
	for {
		chunk, err := br.ReadSlice('\n')
		// Most lines start with "{": the trim stops at their first byte.
		if blank && len(bytes.TrimSpace(chunk)) > 0 {
			blank = false
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' || err == io.EOF {
			if !blank {
				n++
			}
			blank = true
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// countCSVRecords counts the records of a CSV file after its header, as
// encoding/csv reads them: line breaks inside quotes are part of a cell,
// and empty lines are skipped. Every quote toggles being inside a quoted
// cell, which a doubled quote ("") does twice, so well-formed files count
// exactly.
func countCSVRecords(r io.Reader) (int64, error) {
	buf := make([]byte, countBuffer)
	var records int64
	quoted := false
	empty := true // the record read so far has no byte but a \r
	for {
		k, err := r.Read(buf)
		b := buf[:k]
		for len(b) > 0 {
			if quoted {
				i := bytes.IndexByte(b, '"')
				if i < 0 {
					b = nil
					break
				}
				quoted, b = false, b[i+1:]
				continue
			}
			i := bytes.IndexAny(b, "\"\n")
			if i < 0 {
				empty = empty && (len(b) == 0 || string(b) == "\r")
				b = nil
				break
			}
			if i > 0 && !(i == 1 && b[0] == '\r') {
				empty = false
			}
			if b[i] == '"' {
				quoted, empty = true, false
			} else {
				if !empty {
					records++
				}
				empty = true
			}
			b = b[i+1:]
		}
		if err == io.EOF {
			if !empty {
				records++
			}
			return max(records-1, 0), nil // the header is no row
		}
		if err != nil {
			return max(records-1, 0), err
		}
	}
}

// countDelimited counts length-prefixed records by their prefixes,
// skipping each record unread. A truncated last record is not counted: the
// reader stops before it.
func countDelimited(r io.Reader) (int64, error) {
	br := bufio.NewReaderSize(r, countBuffer)
	var n int64
	for {
		size, err := binary.ReadUvarint(br)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("record %d: bad length prefix: %w", n+1, err)
		}
		if size > MaxRowSize {
			return n, fmt.Errorf("record %d: length %d exceeds %d bytes", n+1, size, MaxRowSize)
		}
		if _, err := br.Discard(int(size)); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		n++
	}
}
