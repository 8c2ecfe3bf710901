package blob

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/storage"
)

// The defaults of Options.
const (
	DefaultTimeout  = 30 * time.Second
	DefaultAttempts = 4
	DefaultBackoff  = 250 * time.Millisecond
)

// Options configure access to a store. The zero value is usable; a nil
// *Options means the zero value.
type Options struct {
	// Client is the Cloud Storage client for gs:// URIs, used as it is and
	// not closed. Defaults to a client of the bucket's own, made by
	// NewClient and closed with the bucket. A given client against an
	// emulator needs storage.WithJSONReads.
	Client *storage.Client
	// Timeout bounds each request that moves no object bytes (the
	// attributes of an object, including those a Reader is opened with,
	// a listing, a delete), retries included, so that an unreachable
	// endpoint fails in seconds, not minutes. Reads and writes of an
	// object's bytes are bounded by the caller's context only. A negative
	// Timeout leaves every request to the caller's context. Defaults to
	// 30s.
	Timeout time.Duration
	// Retry says which Cloud Storage requests that fail with a transient
	// error are tried again. Defaults to storage.RetryIdempotent: reads,
	// listings, deletes and writes with IfNotExist, never a write that
	// replaces an object, as its bytes may differ from attempt to attempt.
	// storage.RetryAlways suits callers whose every write of a name holds
	// the same bytes.
	Retry storage.RetryPolicy
	// IsRetryable says whether a failed request is transient. Defaults to
	// storage.ShouldRetry: HTTP 408, 429 and 5xx, refused or reset
	// connections.
	IsRetryable func(error) bool
	// Attempts is how many times a request that fails with a transient
	// error is tried in all. Defaults to 4.
	Attempts int
	// Backoff is the wait before the first retry; it doubles with each
	// retry, up to 32 times the first, with jitter. The storage client
	// sleeps it; tests make it short. Defaults to 250ms.
	Backoff time.Duration
}

func (o *Options) withDefaults() Options {
	var d Options
	if o != nil {
		d = *o
	}
	d.Timeout = cmp.Or(d.Timeout, DefaultTimeout)
	d.Attempts = cmp.Or(d.Attempts, DefaultAttempts)
	d.Backoff = cmp.Or(d.Backoff, DefaultBackoff)
	return d
}

// WriteOptions configure one Write. The zero value is usable.
type WriteOptions struct {
	// IfNotExist makes the write fail, with an *Error of code
	// AlreadyExists that matches fs.ErrExist, when the key exists, and
	// write nothing. Two writers that race cannot both succeed.
	IfNotExist bool
	// Mode is the permission bits of a local file. Defaults to 0644.
	// Cloud Storage ignores it.
	Mode os.FileMode
	// ContentType is the object's content type in Cloud Storage. Defaults
	// to what the storage client detects from the first bytes.
	ContentType string
}

// Attributes describe an object.
type Attributes struct {
	Size    int64
	ModTime time.Time
}

// Bucket is a local directory, or a bucket (and prefix) in Cloud Storage.
// Keys are slash-separated and relative to its root. It is safe for
// concurrent use. Errors are *Error, except the caller's context errors,
// returned untouched, and the errors of a Write's fill.
type Bucket struct {
	d       driver
	timeout time.Duration
}

// OpenBucket opens the store at uri: a local directory (a path or a
// file:// URI), or gs://BUCKET[/PREFIX]. A local directory need not exist
// yet: writes create it.
func OpenBucket(ctx context.Context, uri string, opts *Options) (*Bucket, error) {
	o := opts.withDefaults()
	if p, ok := localPath(uri); ok {
		return &Bucket{d: &localDriver{root: p, file: strings.HasPrefix(uri, "file://")}, timeout: o.Timeout}, nil
	}
	bucket, prefix, err := parseGS(uri)
	if err != nil {
		return nil, err
	}
	d, err := openGCS(ctx, bucket, prefix, o)
	if err != nil {
		return nil, err
	}
	return &Bucket{d: d, timeout: o.Timeout}, nil
}

// IsLocal reports whether uri names a local file or directory: a path, or
// a file:// URI.
func IsLocal(uri string) bool {
	_, ok := localPath(uri)
	return ok
}

// localPath returns the file path of a local URI.
func localPath(uri string) (string, bool) {
	if p, ok := strings.CutPrefix(uri, "file://"); ok {
		return p, true
	}
	return uri, !strings.Contains(uri, "://")
}

// parseGS splits gs://BUCKET/REST; other schemes are refused.
func parseGS(uri string) (bucket, rest string, err error) {
	rest, ok := strings.CutPrefix(uri, "gs://")
	if !ok {
		scheme, _, _ := strings.Cut(uri, "://")
		return "", "", fmt.Errorf("%s: %s:// is not a file system gridrun knows (local paths, file:// and gs://)", uri, scheme)
	}
	bucket, rest, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%s: no bucket", uri)
	}
	return bucket, rest, nil
}

// URI names key in messages: a path when the bucket was opened from a
// path, else a URI of the bucket's scheme.
func (b *Bucket) URI(key string) string { return b.d.uri(key) }

// Close releases the bucket's client when it made its own.
func (b *Bucket) Close() error { return b.d.close() }

// bounded runs a request that moves no object bytes under the timeout,
// and wraps its error. An Unreachable error says when the timeout, not
// the endpoint, ended it.
func (b *Bucket) bounded(ctx context.Context, op, key string, req func(context.Context) error) error {
	if b.timeout < 0 {
		return b.wrap(ctx, op, key, req(ctx))
	}
	tctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	err := b.wrap(ctx, op, key, req(tctx))
	var e *Error
	if errors.As(err, &e) && e.Code == Unreachable && tctx.Err() != nil {
		e.Err = fmt.Errorf("no answer within %v: %w", b.timeout, e.Err)
	}
	return err
}

// Attributes returns the attributes of key.
func (b *Bucket) Attributes(ctx context.Context, key string) (*Attributes, error) {
	var a *Attributes
	err := b.bounded(ctx, "attributes", key, func(ctx context.Context) (err error) {
		a, err = b.d.attributes(ctx, key)
		return err
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Size returns the size of key in bytes.
func (b *Bucket) Size(ctx context.Context, key string) (int64, error) {
	a, err := b.Attributes(ctx, key)
	if err != nil {
		return 0, err
	}
	return a.Size, nil
}

// NewReader opens key for reading. Its reads use ctx: they end when it
// does. A missing key is an error that matches fs.ErrNotExist.
func (b *Bucket) NewReader(ctx context.Context, key string) (*Reader, error) {
	var r driverReader
	err := b.bounded(ctx, "open", key, func(ctx context.Context) (err error) {
		r, err = b.d.newReader(ctx, key)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Reader{ctx: ctx, b: b, key: key, r: r}, nil
}

// ReadAll returns the bytes of key.
func (b *Bucket) ReadAll(ctx context.Context, key string) ([]byte, error) {
	r, err := b.NewReader(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// Write creates or replaces key with what fill writes, atomically: a
// reader sees the whole new object or none of it. fill writes through a
// buffer of 256 KiB (a *bufio.Writer, which bufio.NewWriterSize of that
// size returns as it is). When fill fails, or ctx ends, nothing is
// written, and fill's error is returned as it is. A nil *WriteOptions
// means the zero value.
func (b *Bucket) Write(ctx context.Context, key string, fill func(io.Writer) error, opts *WriteOptions) error {
	var o WriteOptions
	if opts != nil {
		o = *opts
	}
	o.Mode = cmp.Or(o.Mode, 0o644)
	err := b.d.write(ctx, key, fill, o)
	if fe, ok := err.(*fillError); ok {
		return fe.err
	}
	return b.wrap(ctx, "write", key, err)
}

// Delete removes key. A missing key is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	return b.bounded(ctx, "delete", key, func(ctx context.Context) error {
		return b.d.delete(ctx, key)
	})
}

// List returns the keys that start with prefix, at any depth, sorted. A
// prefix that matches nothing gives none; a bucket (or local directory)
// that does not exist is an error that matches fs.ErrNotExist.
func (b *Bucket) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	err := b.bounded(ctx, "list", prefix, func(ctx context.Context) (err error) {
		keys, err = b.d.list(ctx, prefix)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(keys)
	return keys, nil
}

// Reader reads one object, as a file is read: Read streams it from the
// start, ReadAt reads a range (one ranged request per call in Cloud
// Storage), for formats read from their end, such as a Parquet file's
// footer. Its errors are *Error, except io.EOF and the context's.
type Reader struct {
	ctx   context.Context
	b     *Bucket
	key   string
	r     driverReader
	owner *Bucket // closed with the reader, when Open made it
}

// Size is the object's size in bytes, when it was opened.
func (r *Reader) Size() int64 { return r.r.size() }

// URI names the object.
func (r *Reader) URI() string { return r.b.URI(r.key) }

// Read reads the object from the start, in one streamed request.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.r.read(r.ctx, p)
	if err != nil && err != io.EOF {
		err = r.b.wrap(r.ctx, "read", r.key, err)
	}
	return n, err
}

// ReadAt reads len(p) bytes at off, or up to the end of the object and
// io.EOF. It is safe for concurrent use, as io.ReaderAt asks.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.r.readAt(r.ctx, p, off)
	if err != nil && err != io.EOF {
		err = r.b.wrap(r.ctx, "read", r.key, err)
	}
	return n, err
}

// Close ends a streamed read, and closes the bucket Open made for it.
func (r *Reader) Close() error {
	err := r.r.close()
	if r.owner != nil {
		if cerr := r.owner.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Open opens one file or object for reading: a local path or file:// URI,
// or gs://BUCKET/OBJECT.
func Open(ctx context.Context, uri string, opts *Options) (*Reader, error) {
	dir, key, err := splitObject(uri)
	if err != nil {
		return nil, err
	}
	b, err := OpenBucket(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	r, err := b.NewReader(ctx, key)
	if err != nil {
		b.Close()
		return nil, err
	}
	r.owner = b
	return r, nil
}

// splitObject splits the URI of one file or object into its bucket (or
// directory) and key.
func splitObject(uri string) (dir, key string, err error) {
	if p, ok := localPath(uri); ok {
		dir, key = filepath.Split(p)
		if key == "" {
			return "", "", fmt.Errorf("%s: names a directory, not a file", uri)
		}
		dir = filepath.Clean(cmp.Or(dir, "."))
		if strings.HasPrefix(uri, "file://") {
			dir = "file://" + dir
		}
		return dir, key, nil
	}
	bucket, key, err := parseGS(uri)
	if err != nil {
		return "", "", err
	}
	if key == "" {
		return "", "", fmt.Errorf("%s: want gs://BUCKET/OBJECT", uri)
	}
	return "gs://" + bucket, key, nil
}
