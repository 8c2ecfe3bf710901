package beamgrid

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"
)

// SetHooks makes bundles fail on purpose, for the tests of retries, until
// the returned function restores the defaults: run before a batch starts,
// rng once a range's files are in place.
func SetHooks(run func(Batch) error, rng func(input int, start int64) error) (restore func()) {
	prevRun, prevRange := runHook, rangeHook
	if run != nil {
		runHook = run
	}
	if rng != nil {
		rangeHook = rng
	}
	return func() { runHook, rangeHook = prevRun, prevRange }
}

// The pieces of the pipeline Build makes, run without a runner, so that
// tests can play a runner's part: retry one range, split one as it runs.

// Chunks are the chunks of the plan's inputs, as the pipeline finds them.
func Chunks(ctx context.Context, p *Plan, splitBytes int64) ([]Chunk, error) {
	var out []Chunk
	f := &splitFn{SplitBytes: splitBytes}
	for _, in := range p.Inputs {
		if err := f.ProcessElement(ctx, in, func(c Chunk) { out = append(out, c) }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CheckDups runs the duplicate check over the chunks, as the pipeline
// does before any range runs: each chunk's ids pass, then the merge, which
// writes the later duplicates' positions the ranges read. runRows caps
// the ids sorted in memory at once (0: the pipeline's).
func CheckDups(ctx context.Context, p *Plan, chunks []Chunk, runRows int) error {
	f := &idsFn{Spec: p.Step.spec, Output: p.Step.spec.Job.Output, RunRows: runRows}
	var files []IDFiles
	for _, c := range chunks {
		if err := f.ProcessElement(ctx, c, func(v IDFiles) { files = append(files, v) }); err != nil {
			return err
		}
	}
	return (&mergeFn{Output: p.Step.spec.Job.Output}).ProcessElement(ctx, 0, iter(files), func(Chunk) {})
}

// RunRange runs the range rt holds of chunk c, as the runner's worker
// does, once CheckDups has run. A test that splits the range while it
// runs, as the runner does from another goroutine, passes an
// *sdf.LockRTracker and splits through it.
func RunRange(ctx context.Context, p *Plan, c Chunk, rt sdf.RTracker) (Tally, error) {
	f := &rangeFn{Spec: p.Step.spec, Output: p.Step.spec.Job.Output}
	lrt, ok := rt.(*sdf.LockRTracker)
	if !ok {
		lrt = sdf.NewLockRTracker(rt)
	}
	var t Tally
	err := f.ProcessElement(ctx, lrt, c, func(x Tally) { t = x })
	return t, err
}

// NewRangeTracker is the tracker the pipeline gives a range.
func NewRangeTracker(rest offsetrange.Restriction) sdf.RTracker {
	return (&rangeFn{}).CreateTracker(rest).Rt
}

// Restriction is the range of positions a chunk's tracker starts with.
func Restriction(c Chunk) offsetrange.Restriction {
	return (&rangeFn{}).CreateInitialRestriction(c)
}

func iter[T any](xs []T) func(*T) bool {
	return func(x *T) bool {
		if len(xs) == 0 {
			return false
		}
		*x, xs = xs[0], xs[1:]
		return true
	}
}
