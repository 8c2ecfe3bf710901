package binstage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"cloud.google.com/go/storage"
)

// Object is one generation of an object in Cloud Storage, open for reading
// as a file is: ReadAt for formats read from their end (a Parquet file's
// footer, then its column chunks), one ranged request per call; Read for
// the rest, streamed in one request from the start. Reads see the
// generation that was current when the object was opened, so a file
// replaced while a job reads it fails the job rather than mixing the
// bytes of two files. It uses the client, retries and errors of the store
// that binaries are published in.
type Object struct {
	ctx    context.Context
	store  *gcsStore
	key    string
	gen    int64
	size   int64
	stream io.ReadCloser
	off    int64 // of the stream
}

// OpenObject opens gs://BUCKET/OBJECT for reading. Its reads use ctx: they
// end when it does. Errors are *StoreError, except the caller's context
// errors, which are returned untouched.
func OpenObject(ctx context.Context, uri string, o *StoreOptions) (*Object, error) {
	opts := o.withDefaults()
	s, key, err := openObjectStore(ctx, uri, opts)
	if err != nil {
		return nil, err
	}
	var attrs *storage.ObjectAttrs
	err = bounded(ctx, opts.Timeout, func(ctx context.Context) error {
		a, err := s.object(key).Attrs(ctx)
		if err != nil {
			return s.error(ctx, key, err)
		}
		attrs = a
		return nil
	})
	if err != nil {
		s.close()
		return nil, err
	}
	return &Object{ctx: ctx, store: s, key: key, gen: attrs.Generation, size: attrs.Size}, nil
}

// WriteObject uploads r as gs://BUCKET/OBJECT, which must not exist yet: an
// object is written once (a write precondition, not a check first). A
// failed upload writes nothing.
func WriteObject(ctx context.Context, uri string, r io.Reader, o *StoreOptions) error {
	s, key, err := openObjectStore(ctx, uri, o.withDefaults())
	if err != nil {
		return err
	}
	defer s.close()
	return s.create(ctx, key, r)
}

// Glob returns the URIs of the objects that gs://BUCKET/PATTERN matches,
// sorted. The pattern's wildcards are path.Match's: *, ? and [...] match
// within one path segment, never across a slash, as a shell's do; a
// pattern without them names one object, returned as is. One listing
// serves the whole pattern: its prefix up to the first wildcard.
func Glob(ctx context.Context, pattern string, o *StoreOptions) ([]string, error) {
	s, key, err := openObjectStore(ctx, pattern, o.withDefaults())
	if err != nil {
		return nil, err
	}
	defer s.close()
	i := strings.IndexAny(key, "*?[\\")
	if i < 0 {
		return []string{pattern}, nil
	}
	if _, err := path.Match(key, ""); err != nil {
		return nil, fmt.Errorf("%s: %w", pattern, err)
	}
	keys, err := s.list(ctx, key[:i])
	if err != nil {
		return nil, err
	}
	keys = slices.DeleteFunc(keys, func(k string) bool {
		ok, _ := path.Match(key, k)
		return !ok
	})
	slices.Sort(keys)
	for i, k := range keys {
		keys[i] = s.uri(k)
	}
	return keys, nil
}

func openObjectStore(ctx context.Context, uri string, opts StoreOptions) (*gcsStore, string, error) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(uri, "gs://"), "/")
	if !strings.HasPrefix(uri, "gs://") || bucket == "" || key == "" {
		return nil, "", fmt.Errorf("%s: want gs://BUCKET/OBJECT", uri)
	}
	s, err := openGCS(ctx, ref{raw: uri, scheme: "gs", bucket: bucket}, opts)
	return s, key, err
}

// Size is the object's size in bytes.
func (o *Object) Size() int64 { return o.size }

// URI is the object's gs:// URI.
func (o *Object) URI() string { return o.store.uri(o.key) }

func (o *Object) handle() *storage.ObjectHandle { return o.store.object(o.key).Generation(o.gen) }

// ReadAt reads len(p) bytes at off, or up to the end of the object and
// io.EOF. It is safe for concurrent use, as io.ReaderAt asks.
func (o *Object) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%s: read at negative offset %d", o.URI(), off)
	}
	if off >= o.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), o.size-off)
	r, err := o.handle().NewRangeReader(o.ctx, off, want)
	if err != nil {
		return 0, o.store.error(o.ctx, o.key, err)
	}
	defer r.Close()
	n, err := io.ReadFull(r, p[:want])
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("got %d of %d bytes at %d: %w", n, want, off, io.ErrUnexpectedEOF)
		}
		return n, o.store.error(o.ctx, o.key, err)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Read reads the object from the start, in one streamed request.
func (o *Object) Read(p []byte) (int, error) {
	if o.stream == nil {
		if o.off >= o.size {
			return 0, io.EOF
		}
		r, err := o.handle().NewRangeReader(o.ctx, o.off, -1)
		if err != nil {
			return 0, o.store.error(o.ctx, o.key, err)
		}
		o.stream = r
	}
	n, err := o.stream.Read(p)
	o.off += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, o.store.error(o.ctx, o.key, err)
	}
	return n, err
}

// Close ends a streamed read and releases the client.
func (o *Object) Close() error {
	var err error
	if o.stream != nil {
		err = o.stream.Close()
	}
	if cerr := o.store.close(); err == nil {
		err = cerr
	}
	return err
}
