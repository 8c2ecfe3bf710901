// Package jobspec is the job as data: what to run, over what, and how. One
// type plays every role a job has — the library's configuration (grid.Run),
// the job file and the CLI's flags, the options a manifest records, and what
// gridrun hands to the Beam runner and its workers — so it holds data only
// and marshals as it is. What only makes sense in a running process (a
// logger, a progress callback, standard input) is passed beside it, as the
// engine's hooks.
//
// Defaults are the exported Default* constants, applied once by
// Job.WithDefaults; a zero field means "the default", as the field's comment
// says.
package jobspec
