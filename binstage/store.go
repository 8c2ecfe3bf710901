package binstage

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/gridrun/gridrun/internal/blob"
)

// StoreOptions configure access to where binaries are published: a
// bucket (and prefix) in Cloud Storage, or a local directory. The zero
// value is usable. Timeout also bounds the steps of Push, List and Stage
// that move no binary bytes (a manifest read or written, a listing, an
// existence check) as a whole; downloads and uploads of binaries are
// bounded by the caller's context only.
type StoreOptions = blob.Options

// StoreError is a failure of the store a binary is published in, for the
// object (or prefix) URI. It matches fs.ErrNotExist, fs.ErrExist and
// fs.ErrPermission with errors.Is, by code.
type StoreError = blob.Error

// ErrorCode says what went wrong with a store, so that callers can decide
// without reading messages.
type ErrorCode = blob.ErrorCode

// The codes of a StoreError.
const (
	Unknown          = blob.Unknown
	NotFound         = blob.NotFound
	AlreadyExists    = blob.AlreadyExists
	PermissionDenied = blob.PermissionDenied
	Unauthenticated  = blob.Unauthenticated
	Unreachable      = blob.Unreachable
)

// openStore opens the store that holds r's versions.
func openStore(ctx context.Context, r ref, o *StoreOptions) (*blob.Bucket, error) {
	switch r.scheme {
	case "gs":
		return blob.OpenBucket(ctx, "gs://"+r.bucket+"/"+r.dir, o)
	case "file":
		return blob.OpenBucket(ctx, "file://"+r.dir, o)
	}
	return nil, &RefError{Ref: r.raw, Reason: "a published version is addressed as gs://BUCKET/PATH/NAME@VERSION or file:///DIR/NAME@VERSION"}
}

// publishedWrite writes an object of a version: once, never replaced, as
// a version is immutable, and read-only in a local directory.
var publishedWrite = &blob.WriteOptions{IfNotExist: true, Mode: 0o444, ContentType: "application/octet-stream"}

// bounded runs op, a step of uri that moves no binary bytes, under the
// store's timeout. When the caller's own context ends, its error is
// returned untouched; when the timeout ends the step, the error says so.
func bounded(ctx context.Context, o *StoreOptions, uri string, op func(context.Context) error) error {
	timeout := cmp.Or(o.Timeout, blob.DefaultTimeout)
	if timeout < 0 {
		return op(ctx)
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := op(tctx)
	var se *StoreError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case tctx.Err() != nil && !errors.As(err, &se):
		return &StoreError{Op: "request", URI: uri, Code: Unreachable, Err: fmt.Errorf("no answer within %v: %w", timeout, err)}
	}
	return err
}
