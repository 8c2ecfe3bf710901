package wrapper

import (
	"fmt"
	"syscall"
)

// StartError reports that the binary could not be started at all: it does
// not exist, is not executable, or the call's files could not be made.
type StartError struct {
	Path string
	Err  error
}

func (e *StartError) Error() string { return fmt.Sprintf("start %s: %v", e.Path, e.Err) }
func (e *StartError) Unwrap() error { return e.Err }

// ExitError reports that the binary exited non-zero or died of a signal.
type ExitError struct {
	// Code is the exit status, or 128+n for death by signal n, as shells
	// report it.
	Code int
	// Signal is the signal that killed the process, or 0.
	Signal syscall.Signal
	// Stderr holds the last bytes the binary wrote to stderr.
	Stderr []byte
}

func (e *ExitError) Error() string {
	if e.Signal != 0 {
		return fmt.Sprintf("binary killed by signal %d (%s)%s", int(e.Signal), e.Signal, e.stderr())
	}
	return fmt.Sprintf("binary exited with status %d%s", e.Code, e.stderr())
}

func (e *ExitError) stderr() string {
	if len(e.Stderr) == 0 {
		return ""
	}
	return "; stderr ends: " + string(e.Stderr)
}

// OutputError reports a results file that breaks the protocol: bytes that
// do not parse, a truncated last message, a result for an id that is not in
// the batch, or a second result for the same id.
type OutputError struct {
	// Offset is the byte offset in the results file where the problem is.
	Offset int64
	// ID is the element id concerned, when there is one.
	ID     string
	Reason string
}

func (e *OutputError) Error() string {
	if e.ID != "" {
		return fmt.Sprintf("results file, offset %d, id %q: %s", e.Offset, e.ID, e.Reason)
	}
	return fmt.Sprintf("results file, offset %d: %s", e.Offset, e.Reason)
}

// NotDescribedError reports a binary that did not answer
// --gridrun-describe with a description: most often a program that does
// not speak the gridrun protocol at all (/bin/echo exits 0 and writes
// nothing), or one built without the SDK, which needs its messages named
// by .proto files instead.
type NotDescribedError struct {
	// Binary names the binary as the user gave it.
	Binary string
	// Err says what happened: an *ExitError, or no or a bad description.
	Err error
}

func (e *NotDescribedError) Error() string {
	return fmt.Sprintf("binary %s does not speak the gridrun protocol: --gridrun-describe failed: %v; "+
		"build it with the gridrun C++ SDK (docs/sdk.md), or, for a binary that reads gridrun batch files without the SDK, "+
		"give its messages with --proto, --input-type and --result-type", e.Binary, e.Err)
}

func (e *NotDescribedError) Unwrap() error { return e.Err }
