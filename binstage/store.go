package binstage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"cloud.google.com/go/storage"
)

// store is where versions are published: a bucket (and prefix) in Cloud
// Storage, or a local directory. Push, List and Stage are written once
// over it. Keys are slash-separated and relative to the store's root.
// Errors are *StoreError, except the caller's context errors, which are
// returned untouched.
type store interface {
	// stat returns the size of key.
	stat(ctx context.Context, key string) (int64, error)
	// read opens key.
	read(ctx context.Context, key string) (io.ReadCloser, error)
	// create writes key from r only if key does not exist, atomically:
	// a reader sees all of key or none of it, and an existing key is never
	// replaced (the error then has code AlreadyExists).
	create(ctx context.Context, key string, r io.Reader) error
	// list returns the keys that start with prefix, in no set order.
	list(ctx context.Context, prefix string) ([]string, error)
	// uri names key in messages.
	uri(key string) string
	close() error
}

// StoreOptions configure access to where binaries are published. The zero
// value is usable.
type StoreOptions struct {
	// Client is the Cloud Storage client for gs:// references, used as it
	// is and not closed. Defaults to a client made from the environment:
	// the emulator named by STORAGE_EMULATOR_HOST when set (without
	// credentials), else Application Default Credentials. The default
	// client reads through the JSON API, which emulators serve too; a
	// given client against an emulator needs storage.WithJSONReads.
	Client *storage.Client
	// Timeout bounds each request that moves no binary bytes (a manifest,
	// a listing, an existence check), retries included, so that an
	// unreachable endpoint fails in seconds, not minutes. Downloads and
	// uploads of binaries are bounded by the caller's context only.
	// Defaults to 30s.
	Timeout time.Duration
	// Attempts is how many times a request that fails with a transient
	// error (HTTP 408, 429 or 5xx, a refused or reset connection) is
	// tried in all. Defaults to 4.
	Attempts int
	// Backoff is the wait before the first retry; it doubles with each
	// retry, up to 32 times the first, with jitter. Defaults to 250ms.
	Backoff time.Duration
}

func (o *StoreOptions) withDefaults() StoreOptions {
	var d StoreOptions
	if o != nil {
		d = *o
	}
	d.Timeout = cmp.Or(d.Timeout, 30*time.Second)
	d.Attempts = cmp.Or(d.Attempts, 4)
	d.Backoff = cmp.Or(d.Backoff, 250*time.Millisecond)
	return d
}

// openStore opens the store that holds r's versions.
func openStore(ctx context.Context, r ref, o StoreOptions) (store, error) {
	switch r.scheme {
	case "gs":
		return openGCS(ctx, r, o)
	case "file":
		return &localStore{root: r.dir}, nil
	}
	return nil, &RefError{Ref: r.raw, Reason: "a published version is addressed as gs://BUCKET/PATH/NAME@VERSION or file:///DIR/NAME@VERSION"}
}

// bounded runs op under timeout. When the caller's own context ends,
// its error is returned untouched, not the store's view of it.
func bounded(ctx context.Context, timeout time.Duration, op func(context.Context) error) error {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := op(tctx)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	var se *StoreError
	if errors.As(err, &se) && se.Code == Unreachable && tctx.Err() != nil {
		se.Err = fmt.Errorf("no answer within %v: %w", timeout, se.Err)
	}
	return err
}

// ErrorCode says what went wrong with a store, so that callers can decide
// without reading messages.
type ErrorCode int

const (
	// Unknown is any other failure.
	Unknown ErrorCode = iota
	// NotFound: no such object, version, bucket or directory.
	NotFound
	// AlreadyExists: a write would have replaced an object; nothing was
	// written.
	AlreadyExists
	// PermissionDenied: the credentials lack the permission.
	PermissionDenied
	// Unauthenticated: no credentials were found, or they were refused.
	Unauthenticated
	// Unreachable: the endpoint did not answer (refused connections,
	// DNS failures, no answer within the timeout), retries included.
	Unreachable
)

var codeText = map[ErrorCode]string{
	Unknown:          "failed",
	NotFound:         "not found",
	AlreadyExists:    "already exists",
	PermissionDenied: "permission denied",
	Unauthenticated:  "no valid credentials",
	Unreachable:      "endpoint unreachable",
}

func (c ErrorCode) String() string { return codeText[c] }

// StoreError is a failure of the store a binary is published in, for the
// object (or prefix) URI. It matches fs.ErrNotExist, fs.ErrExist and
// fs.ErrPermission with errors.Is, by code.
type StoreError struct {
	Code ErrorCode
	URI  string
	Err  error
}

func (e *StoreError) Error() string {
	msg := fmt.Sprintf("%s: %s", e.URI, e.Code)
	if hint := codeHint[e.Code]; hint != "" {
		msg += " (" + hint + ")"
	}
	if e.Err != nil {
		// Some server errors end in the newline of an HTTP body.
		msg += ": " + strings.TrimSpace(e.Err.Error())
	}
	return msg
}

var codeHint = map[ErrorCode]string{
	Unauthenticated: "set GOOGLE_APPLICATION_CREDENTIALS or run `gcloud auth application-default login`; for an emulator, set STORAGE_EMULATOR_HOST",
	Unreachable:     "check the network, or STORAGE_EMULATOR_HOST when using an emulator",
}

func (e *StoreError) Unwrap() error { return e.Err }

func (e *StoreError) Is(target error) bool {
	switch target {
	case fs.ErrNotExist:
		return e.Code == NotFound
	case fs.ErrExist:
		return e.Code == AlreadyExists
	case fs.ErrPermission:
		return e.Code == PermissionDenied
	}
	return false
}

// storeError wraps err once as a *StoreError, passing the caller's
// cancellation through untouched.
func storeError(ctx context.Context, uri string, code ErrorCode, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	var se *StoreError
	if errors.As(err, &se) {
		return err
	}
	return &StoreError{Code: code, URI: uri, Err: err}
}
