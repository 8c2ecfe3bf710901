package blob

import (
	"bufio"
	"context"
	"io"
)

// driver is a backend of Bucket. Keys are slash-separated and relative to
// the bucket's root. A driver returns its errors raw: the Bucket wraps
// them, once, with the code classify gives them.
type driver interface {
	attributes(ctx context.Context, key string) (*Attributes, error)
	// newReader opens key for reading; ctx bounds the open only, each
	// read has its own. Reads return their errors raw as well.
	newReader(ctx context.Context, key string) (driverReader, error)
	// write creates or replaces key atomically with what fill writes
	// through a buffer of bufSize bytes. An error of fill itself comes
	// back as a *fillError; a failure of the file or upload under the
	// buffer does not, even when fill saw it first.
	write(ctx context.Context, key string, fill func(io.Writer) error, o WriteOptions) error
	// delete removes key; a missing key is not an error.
	delete(ctx context.Context, key string) error
	// list returns the keys that start with prefix, at any depth, in no
	// set order.
	list(ctx context.Context, prefix string) ([]string, error)
	// uri names key in messages.
	uri(key string) string
	// classify gives err its code, and the error worth showing under it.
	classify(err error) (ErrorCode, error)
	close() error
}

// driverReader reads one object as io.Reader and io.ReaderAt do.
type driverReader interface {
	read(ctx context.Context, p []byte) (int, error)
	readAt(ctx context.Context, p []byte, off int64) (int, error)
	close() error
	size() int64
}

// fillBuffered runs fill over a buffer on w, and tells a failure of w (the
// file or the upload) from fill's own, which it returns as a *fillError.
// The buffer keeps a write error, so a failed flush after fill says that w
// failed, whatever fill returned.
func fillBuffered(w io.Writer, fill func(io.Writer) error) error {
	bw := bufio.NewWriterSize(w, bufSize)
	err := fill(bw)
	if ferr := bw.Flush(); ferr != nil {
		return ferr
	}
	if err != nil {
		return &fillError{err}
	}
	return nil
}

// bufSize is the buffer every write goes through: large enough that an
// upload is not a request per line.
const bufSize = 256 << 10
