package wrapper

import (
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	gridrunv1 "github.com/gridrun/gridrun/proto/gridrun/v1"
)

// maxResultSize bounds one length-delimited result, so that garbage read as
// a length cannot make the runner allocate gigabytes.
const maxResultSize = 256 << 20

// resultReader parses the length-delimited Results a binary appends to its
// results file, as far as they are complete. It is fed by polling the file,
// so the binary may write however it likes (buffered, in pieces, all at the
// end) and the runner still sees each result as soon as it is flushed.
type resultReader struct {
	f   *os.File
	buf []byte // bytes read but not yet parsed; reads append in place
	off int64  // file offset of buf[0]
}

// readChunk is the size of a fresh read buffer, and minRead the free space
// below which the next read starts a fresh one.
const (
	readChunk = 64 << 10
	minRead   = 4 << 10
)

func newResultReader(f *os.File) *resultReader {
	return &resultReader{f: f}
}

// poll reads whatever the binary has appended and returns the complete
// results in it. An incomplete last message stays buffered for the next poll.
func (r *resultReader) poll(emit func(*gridrunv1.Result, int64) error) (n int, err error) {
	for {
		if cap(r.buf)-len(r.buf) < minRead {
			// Parsed payloads alias the old buffer, so the unparsed
			// rest moves to a new one rather than over them.
			grown := make([]byte, len(r.buf), max(readChunk, 2*len(r.buf)))
			copy(grown, r.buf)
			r.buf = grown
		}
		m, rerr := r.f.Read(r.buf[len(r.buf):cap(r.buf)])
		r.buf = r.buf[:len(r.buf)+m]
		if rerr == io.EOF || m == 0 {
			break
		}
		if rerr != nil {
			return n, rerr
		}
	}
	for len(r.buf) > 0 {
		size, sn := protowire.ConsumeVarint(r.buf)
		if sn < 0 {
			if len(r.buf) < binaryMaxVarintLen {
				break // the length itself may still be coming
			}
			return n, &OutputError{Offset: r.off, Reason: "bad length prefix"}
		}
		if size > maxResultSize {
			return n, &OutputError{Offset: r.off, Reason: fmt.Sprintf("result of %d bytes exceeds the %d-byte limit", size, maxResultSize)}
		}
		end := sn + int(size)
		if len(r.buf) < end {
			break
		}
		res, err := parseResult(r.buf[sn:end])
		if err != nil {
			return n, &OutputError{Offset: r.off, Reason: "not a gridrun.v1.Result: " + err.Error()}
		}
		if err := emit(res, r.off); err != nil {
			return n, err
		}
		n++
		r.buf = r.buf[end:]
		r.off += int64(end)
	}
	if len(r.buf) == 0 && cap(r.buf) > readChunk {
		r.buf = nil // let a large drained buffer go
	}
	return n, nil
}

// finish is called after the binary has exited: a partial message left
// over is a truncated results file.
func (r *resultReader) finish() error {
	if len(r.buf) > 0 {
		return &OutputError{Offset: r.off, Reason: fmt.Sprintf("truncated: %d trailing bytes do not form a whole result", len(r.buf))}
	}
	return nil
}

const binaryMaxVarintLen = 10

// parseResult decodes one Result. It is proto.Unmarshal without the copy of
// the payload, which aliases b: a result stream of cheap elements is mostly
// payloads, read once. The reader never writes over bytes it has parsed, so
// the alias stays valid.
func parseResult(b []byte) (*gridrunv1.Result, error) {
	// The result and its payload outcome, nearly every result's, in one
	// allocation rather than two.
	cell := new(struct {
		res     gridrunv1.Result
		payload gridrunv1.Result_Payload
	})
	res := &cell.res
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		if !num.IsValid() {
			return nil, fmt.Errorf("invalid field number %d", num)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			if !utf8.Valid(v) {
				return nil, errors.New("id is not valid UTF-8")
			}
			res.Id, b = string(v), b[n:]
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			cell.payload.Payload = v
			res.Outcome, b = &cell.payload, b[n:]
		case num == 3 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			e := new(gridrunv1.ElementError)
			if err := proto.Unmarshal(v, e); err != nil {
				return nil, err
			}
			res.Outcome, b = &gridrunv1.Result_Error{Error: e}, b[n:]
		case num >= 4 && num <= 8 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			switch num {
			case 4:
				res.DurationNanos = v
			case 5:
				res.Stopping = v != 0
			case 6:
				res.Started = uint32(v)
			case 7:
				res.Done = v != 0
			case 8:
				res.Scenario = uint32(v)
			}
			b = b[n:]
		default: // unknown, or a known field with another wire type, as proto.Unmarshal treats it
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return res, nil
}
