package blob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// ErrorCode says what went wrong with a store, so that callers can decide
// without reading messages.
type ErrorCode int

const (
	// Unknown is any other failure.
	Unknown ErrorCode = iota
	// NotFound: no such object, bucket or directory.
	NotFound
	// AlreadyExists: a write would have replaced an object; nothing was
	// written.
	AlreadyExists
	// PermissionDenied: the credentials (or the file modes) lack the
	// permission.
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

var codeHint = map[ErrorCode]string{
	Unauthenticated: "set GOOGLE_APPLICATION_CREDENTIALS or run `gcloud auth application-default login`; for an emulator, set STORAGE_EMULATOR_HOST",
	Unreachable:     "check the network, or STORAGE_EMULATOR_HOST when using an emulator",
}

// Error is a failure of a store, for the object (or prefix) URI. It
// matches fs.ErrNotExist, fs.ErrExist and fs.ErrPermission with errors.Is,
// by code.
type Error struct {
	// Op is the operation that failed: open, attributes, read, write,
	// delete, list or connect. The message leaves it out: the URI and the
	// code say what a reader needs.
	Op   string
	URI  string
	Code ErrorCode
	Err  error
}

func (e *Error) Error() string {
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

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Is(target error) bool {
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

// fillError carries the error of a Write's fill function through a
// driver, so that the Bucket returns it as it is: it is the caller's own.
type fillError struct{ err error }

func (e *fillError) Error() string { return e.err.Error() }

// wrap makes err an *Error of op on key, once. When ctx has ended, its
// error is returned instead, untouched: the store's view of a cancelled
// request says nothing the caller does not know.
func (b *Bucket) wrap(ctx context.Context, op, key string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	code, err := b.d.classify(err)
	return &Error{Op: op, URI: b.d.uri(key), Code: code, Err: err}
}

// localCode classifies an error of the file system.
func localCode(err error) ErrorCode {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return NotFound
	case errors.Is(err, fs.ErrExist):
		return AlreadyExists
	case errors.Is(err, fs.ErrPermission):
		return PermissionDenied
	}
	return Unknown
}
