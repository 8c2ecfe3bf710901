package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/storage"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
)

// NewClient returns a Cloud Storage client made from the environment: the
// emulator named by STORAGE_EMULATOR_HOST when set (without credentials),
// else Application Default Credentials. It reads through the JSON API,
// because the client's default XML reads go to a host that emulators do
// not serve; for Cloud Storage both work. Errors are *Error.
func NewClient(ctx context.Context) (*storage.Client, error) {
	opts := []option.ClientOption{storage.WithJSONReads()}
	if os.Getenv("STORAGE_EMULATOR_HOST") == "" {
		// Credentials are looked up here so that their absence is known
		// by where it failed, not by the text of a later error.
		creds, err := credentials.DetectDefault(&credentials.DetectOptions{Scopes: []string{storage.ScopeReadWrite}})
		if err != nil {
			return nil, &Error{Op: "connect", URI: "gs://", Code: Unauthenticated, Err: err}
		}
		opts = append(opts, option.WithAuthCredentials(creds))
	}
	c, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, &Error{Op: "connect", URI: "gs://", Code: Unknown, Err: err}
	}
	return c, nil
}

// gcsDriver keeps objects in a bucket, under a prefix.
type gcsDriver struct {
	client *storage.Client
	owned  bool // made here, so closed here
	bucket string
	prefix string // "" or ending in "/"
	retry  []storage.RetryOption
}

func openGCS(ctx context.Context, bucket, prefix string, o Options) (*gcsDriver, error) {
	if prefix = strings.TrimSuffix(prefix, "/"); prefix != "" {
		prefix += "/"
	}
	d := &gcsDriver{client: o.Client, bucket: bucket, prefix: prefix}
	// Retries are configured here rather than left to the client's
	// defaults, which retry without a bound on attempts.
	d.retry = []storage.RetryOption{
		storage.WithPolicy(o.Retry),
		storage.WithMaxAttempts(o.Attempts),
		storage.WithBackoff(gax.Backoff{Initial: o.Backoff, Max: 32 * o.Backoff, Multiplier: 2}),
	}
	if o.IsRetryable != nil {
		d.retry = append(d.retry, storage.WithErrorFunc(o.IsRetryable))
	}
	if d.client != nil {
		return d, nil
	}
	c, err := NewClient(ctx)
	if err != nil {
		err.(*Error).URI = "gs://" + bucket
		return nil, err
	}
	d.client, d.owned = c, true
	return d, nil
}

func (d *gcsDriver) uri(key string) string { return "gs://" + d.bucket + "/" + d.prefix + key }

func (d *gcsDriver) object(key string) *storage.ObjectHandle {
	return d.client.Bucket(d.bucket).Object(d.prefix + key).Retryer(d.retry...)
}

func (d *gcsDriver) attributes(ctx context.Context, key string) (*Attributes, error) {
	a, err := d.object(key).Attrs(ctx)
	if err != nil {
		return nil, err
	}
	return &Attributes{Size: a.Size, ModTime: a.Updated}, nil
}

func (d *gcsDriver) newReader(ctx context.Context, key string) (driverReader, error) {
	a, err := d.object(key).Attrs(ctx)
	if err != nil {
		return nil, err
	}
	return &gcsReader{h: d.object(key).Generation(a.Generation), n: a.Size}, nil
}

// gcsReader reads one generation of an object: the one current when it
// was opened, so that an object replaced while it is read fails the read
// rather than mixing the bytes of two versions.
type gcsReader struct {
	h      *storage.ObjectHandle
	n      int64
	stream *storage.Reader
	off    int64 // of the stream
}

func (r *gcsReader) size() int64 { return r.n }

func (r *gcsReader) readAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read at negative offset %d", off)
	}
	if off >= r.n {
		return 0, io.EOF
	}
	want := min(int64(len(p)), r.n-off)
	rr, err := r.h.NewRangeReader(ctx, off, want)
	if err != nil {
		return 0, err
	}
	defer rr.Close()
	n, err := io.ReadFull(rr, p[:want])
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("got %d of %d bytes at %d: %w", n, want, off, io.ErrUnexpectedEOF)
		}
		return n, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (r *gcsReader) read(ctx context.Context, p []byte) (int, error) {
	if r.stream == nil {
		if r.off >= r.n {
			return 0, io.EOF
		}
		s, err := r.h.NewRangeReader(ctx, r.off, -1)
		if err != nil {
			return 0, err
		}
		r.stream = s
	}
	n, err := r.stream.Read(p)
	r.off += int64(n)
	return n, err
}

func (r *gcsReader) close() error {
	if r.stream != nil {
		return r.stream.Close()
	}
	return nil
}

// write is one upload. An object appears when its upload completes;
// cancelling the upload's context abandons it, so a failed fill leaves no
// object. IfNotExist is the DoesNotExist precondition (ifGenerationMatch=0):
// Cloud Storage itself refuses to replace an object, so two writers that
// race cannot both win, as they could after a check and a write. The
// condition also makes the upload safe to retry.
func (d *gcsDriver) write(ctx context.Context, key string, fill func(io.Writer) error, o WriteOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := d.object(key)
	if o.IfNotExist {
		h = h.If(storage.Conditions{DoesNotExist: true})
	}
	w := h.NewWriter(ctx)
	w.ContentType = o.ContentType
	if err := fillBuffered(w, fill); err != nil {
		cancel()
		w.Close()
		return err
	}
	return w.Close()
}

func (d *gcsDriver) delete(ctx context.Context, key string) error {
	if err := d.object(key).Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return err
	}
	return nil
}

func (d *gcsDriver) list(ctx context.Context, prefix string) ([]string, error) {
	q := &storage.Query{Prefix: d.prefix + prefix}
	if err := q.SetAttrSelection([]string{"Name"}); err != nil {
		return nil, err
	}
	it := d.client.Bucket(d.bucket).Retryer(d.retry...).Objects(ctx, q)
	var keys []string
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return keys, nil
		}
		if err != nil {
			return nil, err
		}
		keys = append(keys, a.Name[len(d.prefix):])
	}
}

func (d *gcsDriver) close() error {
	if d.owned {
		return d.client.Close()
	}
	return nil
}

// classify classifies an error of the storage client, after its retries.
// The client's sentinels say all there is to say about a missing object or
// bucket; the HTTP details under them do not.
func (d *gcsDriver) classify(err error) (ErrorCode, error) {
	for _, sentinel := range []error{storage.ErrObjectNotExist, storage.ErrBucketNotExist} {
		if errors.Is(err, sentinel) {
			return NotFound, sentinel
		}
	}
	var gerr *googleapi.Error
	var aerr *auth.Error
	var uerr *url.Error
	var nerr net.Error
	switch {
	case errors.As(err, &gerr):
		switch gerr.Code {
		case http.StatusNotFound:
			return NotFound, err
		case http.StatusPreconditionFailed:
			return AlreadyExists, err
		case http.StatusForbidden:
			return PermissionDenied, err
		case http.StatusUnauthorized:
			return Unauthenticated, err
		}
		return Unknown, err
	case errors.As(err, &aerr):
		return Unauthenticated, err // a token could not be had
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &uerr), errors.As(err, &nerr):
		return Unreachable, err
	}
	return Unknown, err
}
