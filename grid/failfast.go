package grid

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gridrun/gridrun/wrapper"
)

// FailFastCalls is how many calls fail fast watches: when the first
// FailFastCalls calls of an Executor to end all failed the same systemic
// way and none of them returned a single result, the binary cannot run
// here, and the job stops with a *FailFastError instead of dead-lettering
// its elements one at a time.
//
// A systemic failure is one the elements cannot cause: the binary did not
// start (a missing ELF interpreter, an exec format error), it exited 126
// or 127 (what the shell and the dynamic loader return when a program or
// a shared library is missing), its stderr holds a dynamic loader's error
// (a missing library, a GLIBC or GLIBCXX version not found), or it died of
// a signal. "The same way" is the same signature: the same loader line,
// exit status or signal. One call among the first five that returns a
// result, succeeds or fails otherwise (an exit 1, a timeout, a broken
// results file) disarms the check for the Executor's life: a binary that
// crashes on some elements keeps going, and its crashes are dead letters.
//
// Five rather than one: a single element may kill the binary with a
// signal, and isolating it costs two calls (the suspect alone, the rest
// without it); five calls that all die the same way before any result
// are no longer a bad element. Calls in flight when the check trips end
// as they would; with Parallelism P a job makes at most FailFastCalls+P-1
// calls. The calls that ended before the check tripped may have settled a
// few elements as dead letters (an isolated suspect alone); the check
// leaves the rest without an outcome.
const FailFastCalls = 5

// FailFastError reports a binary whose first calls all failed the same
// systemic way (see FailFastCalls).
type FailFastError struct {
	// Calls is the number of calls that failed alike: FailFastCalls.
	Calls int
	// Cause is their shared signature, e.g. "exit status 127" or the
	// dynamic loader's line.
	Cause string
	// Loader says the cause points at the dynamic loader (exit 127, a
	// loader's line, or an exec that failed: ENOENT for a binary that is
	// there means its ELF interpreter is not), which is what a
	// dynamically linked binary meets where its libraries are missing.
	Loader bool
	// Err is the last call's error: a *wrapper.ExitError with the end of
	// stderr, or a *wrapper.StartError.
	Err error
}

func (e *FailFastError) Error() string {
	hint := ""
	if e.Loader {
		hint = " (a dynamically linked binary where its shared libraries are missing: link it statically, e.g. make pricer-static, or run it in an image that has them)"
	}
	return fmt.Sprintf("the binary cannot run here: its first %d calls all failed the same way, without a single result: %s%s; the job stops rather than make every element a dead letter. Last call: %v",
		e.Calls, e.Cause, hint, e.Err)
}

func (e *FailFastError) Unwrap() error { return e.Err }

// loaderErrors are the markers of a dynamic loader that cannot load the
// binary: glibc's ld.so ("error while loading shared libraries: libX.so:
// cannot open shared object file", "version `GLIBCXX_3.4.32' not found
// (required by ...)"), musl's, and the shell's for a file it cannot run.
var loaderErrors = [][]byte{
	[]byte("error while loading shared libraries"),
	[]byte("' not found (required by"),
	[]byte("Error loading shared library"),
	[]byte("cannot execute binary file"),
}

// signature is how a call failed when it failed systemically (the zero
// value when it did not: it returned a result, succeeded, or failed in a
// way an element can cause).
type signature struct {
	cause  string
	loader bool // see FailFastError.Loader
}

func signatureOf(results int, err error) signature {
	var (
		ee *wrapper.ExitError
		se *wrapper.StartError
	)
	switch {
	case results > 0 || err == nil:
		return signature{}
	case errors.As(err, &se):
		return signature{"the binary did not start: " + se.Err.Error(), true}
	case !errors.As(err, &ee):
		return signature{}
	}
	for _, line := range bytes.Split(ee.Stderr, []byte("\n")) {
		for _, m := range loaderErrors {
			if bytes.Contains(line, m) {
				return signature{string(bytes.TrimSpace(line)), true}
			}
		}
	}
	switch {
	case ee.Signal != 0:
		return signature{fmt.Sprintf("killed by signal %d (%s)", int(ee.Signal), ee.Signal), false}
	case ee.Code == 127:
		return signature{"exit status 127 (a program or shared library not found)", true}
	case ee.Code == 126:
		return signature{"exit status 126 (the binary cannot be executed)", false}
	}
	return signature{}
}

// failFast watches an Executor's first calls (see FailFastCalls). The
// zero value is armed.
type failFast struct {
	mu      sync.Mutex
	seen    int       // calls ended, while armed
	sig     signature // their shared signature
	decided bool      // disarmed or tripped; err says which
	err     *FailFastError
}

// observe is told of every call as it ends, and returns the job's
// *FailFastError once the first calls have tripped the check: for the
// call that tripped it and for every call after. A call cancelled with
// ctx says nothing about the binary and is not counted.
func (f *failFast) observe(ctx context.Context, out *wrapper.Outcome, err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.decided || ctx.Err() != nil {
		return f.failed()
	}
	var results int
	if out != nil { // nil: the binary did not start
		results = len(out.Results)
	}
	sig := signatureOf(results, err)
	if sig.cause == "" || (f.seen > 0 && sig != f.sig) {
		f.decided = true
		return nil
	}
	f.sig = sig
	if f.seen++; f.seen == FailFastCalls {
		f.decided = true
		f.err = &FailFastError{Calls: f.seen, Cause: sig.cause, Loader: sig.loader, Err: err}
	}
	return f.failed()
}

// failed returns the *FailFastError once the check has tripped, else nil.
func (f *failFast) failed() error {
	if f.err == nil {
		return nil
	}
	return f.err
}

// Failed returns the *FailFastError once the check has tripped, else nil.
func (f *failFast) Failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed()
}

// stopFast ends a call's handling when fail fast had tripped once the
// call ended (ferr, from observe; by this call or an earlier one): the
// call is recorded, the engine told (ExecConfig.Misconfigured), and its
// pending elements get no outcome.
func (x *Executor) stopFast(ferr, err error, rec CallRecord) bool {
	if ferr == nil {
		return false
	}
	rec.Failure, _ = x.classify(err)
	if x.cfg.OnCall != nil {
		x.cfg.OnCall(rec)
	}
	if x.cfg.Misconfigured != nil {
		x.cfg.Misconfigured(ferr)
	}
	return true
}
