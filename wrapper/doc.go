// Package wrapper is the Go side of one subprocess call of the gridrun
// protocol (proto/gridrun/v1/gridrun.proto).
//
// A call writes a batch file in a private temporary directory, execs the
// binary directly (never through a shell) in its own process group with the
// file paths on its command line, reads the results the binary streams into
// the results file while it runs, and captures stdout and stderr into
// capped files. Cancelling the call's context sends SIGTERM to the whole
// group, then SIGKILL after a grace period; whatever the binary flushed
// before it stopped is returned with the error that stopped it.
//
// The package knows nothing of jobs, retries or dead letters: it reports
// what happened to one call, with typed errors ([ExitError], [OutputError],
// [StartError]) that the caller routes with errors.As.
package wrapper
