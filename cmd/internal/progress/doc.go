// Package progress shows a running job's progress, fed by grid.Job's
// OnProgress snapshots: a live line on a terminal, a periodic log line for
// schedulers and CI logs, or one JSON object per interval for programs.
//
// Every mode derives the same figures from the snapshots (see Stats): the
// total once the input is read, the rate over the last half minute, and
// the time left at that rate.
package progress
