package beamgrid

import (
	"fmt"

	"github.com/gridrun/gridrun/grid"
)

// deadLimit holds Job.MaxDeadLetters and Job.MaxDeadLetterPercent on Beam,
// where no process sees the whole job's dead letters while it runs: each
// instance of the DoFn that runs batches (rangeFn in Build's pipeline,
// runFn in Step.Apply's) counts the outcomes of the
// batches it ran (results, and dead letters of calls and joins) and fails
// its bundle once they pass a limit; a failed bundle fails the job (prism
// fails it at once; Dataflow after retrying the bundle, which fails
// again). So the limits hold per DoFn instance, not per job: a job whose
// dead letters are spread over many workers may pass the job-wide count
// without stopping, and stops at the latest once one worker's share does.
// Rows that do not decode and duplicate ids (dead letters found before
// any batch) are not counted.
//
// An instance lives as long as the worker reuses it for bundles; the
// SDK drops an instance whose bundle failed, so a retried bundle's
// outcomes are not counted twice.
type deadLimit struct {
	results, dead int64
}

// add counts a batch's outcomes and returns the error that fails the
// bundle once the job's limits are passed, or nil. It wraps
// grid.ErrHalted.
func (l *deadLimit) add(j grid.Job, outs []grid.Outcome) error {
	if j.MaxDeadLetters <= 0 && j.MaxDeadLetterPercent <= 0 {
		return nil
	}
	for _, o := range outs {
		if o.Dead != nil {
			l.dead++
		} else {
			l.results++
		}
	}
	if why := j.OverLimit(l.results, l.dead); why != "" {
		return fmt.Errorf("%w: %s, counted by one worker's instance of the step that runs batches (see docs/scaling-out.md)", grid.ErrHalted, why)
	}
	return nil
}
