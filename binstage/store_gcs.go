package binstage

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/storage"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
)

// gcsStore publishes into a bucket, under a prefix.
type gcsStore struct {
	client *storage.Client
	owned  bool // made here, so closed here
	bucket string
	prefix string
	retry  []storage.RetryOption
}

func openGCS(ctx context.Context, r ref, o StoreOptions) (*gcsStore, error) {
	s := &gcsStore{client: o.Client, bucket: r.bucket, prefix: r.dir}
	// Retries are configured here rather than left to the client's
	// defaults, which retry without a bound on attempts.
	s.retry = []storage.RetryOption{
		storage.WithPolicy(storage.RetryIdempotent),
		storage.WithMaxAttempts(o.Attempts),
		storage.WithBackoff(gax.Backoff{Initial: o.Backoff, Max: 32 * o.Backoff, Multiplier: 2}),
	}
	if s.client != nil {
		return s, nil
	}
	// JSON reads, because the client's default XML reads go to a host
	// that emulators do not serve; for Cloud Storage both work.
	opts := []option.ClientOption{storage.WithJSONReads()}
	if os.Getenv("STORAGE_EMULATOR_HOST") == "" {
		// Credentials are looked up here so that their absence is known
		// by where it failed, not by the text of a later error.
		creds, err := credentials.DetectDefault(&credentials.DetectOptions{Scopes: []string{storage.ScopeReadWrite}})
		if err != nil {
			return nil, &StoreError{Code: Unauthenticated, URI: "gs://" + r.bucket, Err: err}
		}
		opts = append(opts, option.WithAuthCredentials(creds))
	}
	c, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, &StoreError{Code: Unknown, URI: "gs://" + r.bucket, Err: err}
	}
	s.client, s.owned = c, true
	return s, nil
}

func (s *gcsStore) uri(key string) string { return "gs://" + s.bucket + "/" + s.prefix + key }

func (s *gcsStore) object(key string) *storage.ObjectHandle {
	return s.client.Bucket(s.bucket).Object(s.prefix + key).Retryer(s.retry...)
}

func (s *gcsStore) stat(ctx context.Context, key string) (int64, error) {
	a, err := s.object(key).Attrs(ctx)
	if err != nil {
		return 0, s.error(ctx, key, err)
	}
	return a.Size, nil
}

func (s *gcsStore) read(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := s.object(key).NewReader(ctx)
	if err != nil {
		return nil, s.error(ctx, key, err)
	}
	return r, nil
}

// create relies on the DoesNotExist precondition (ifGenerationMatch=0):
// Cloud Storage itself refuses to replace an object, so two pushes that
// race cannot both win, as they could after a check and a write. The
// condition also makes the upload safe to retry.
func (s *gcsStore) create(ctx context.Context, key string, r io.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := s.object(key).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	w.ContentType = "application/octet-stream"
	if _, err := io.Copy(w, r); err != nil {
		cancel() // abandons the upload: nothing is written
		w.Close()
		return s.error(ctx, key, err)
	}
	if err := w.Close(); err != nil {
		return s.error(ctx, key, err)
	}
	return nil
}

func (s *gcsStore) list(ctx context.Context, prefix string) ([]string, error) {
	q := &storage.Query{Prefix: s.prefix + prefix}
	if err := q.SetAttrSelection([]string{"Name"}); err != nil {
		return nil, err
	}
	it := s.client.Bucket(s.bucket).Retryer(s.retry...).Objects(ctx, q)
	var keys []string
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return keys, nil
		}
		if err != nil {
			return nil, s.error(ctx, prefix, err)
		}
		keys = append(keys, a.Name[len(s.prefix):])
	}
}

func (s *gcsStore) close() error {
	if s.owned {
		return s.client.Close()
	}
	return nil
}

func (s *gcsStore) error(ctx context.Context, key string, err error) error {
	// The client's sentinels say all there is to say about a missing
	// object or bucket; the HTTP details under them do not.
	for _, sentinel := range []error{storage.ErrObjectNotExist, storage.ErrBucketNotExist} {
		if errors.Is(err, sentinel) {
			err = sentinel
		}
	}
	return storeError(ctx, s.uri(key), gcsCode(err), err)
}

// gcsCode classifies an error of the storage client, after its retries.
func gcsCode(err error) ErrorCode {
	var gerr *googleapi.Error
	var aerr *auth.Error
	var uerr *url.Error
	var nerr net.Error
	switch {
	case errors.Is(err, storage.ErrObjectNotExist), errors.Is(err, storage.ErrBucketNotExist):
		return NotFound
	case errors.As(err, &gerr):
		switch gerr.Code {
		case http.StatusNotFound:
			return NotFound
		case http.StatusPreconditionFailed:
			return AlreadyExists
		case http.StatusForbidden:
			return PermissionDenied
		case http.StatusUnauthorized:
			return Unauthenticated
		}
		return Unknown
	case errors.As(err, &aerr):
		return Unauthenticated // a token could not be had
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &uerr), errors.As(err, &nerr):
		return Unreachable
	}
	return Unknown
}
