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

// Dups are the places of the rows whose id an earlier row has.
func Dups(ctx context.Context, p *Plan, chunks []Chunk) ([]Dup, error) {
	f := &idsFn{Spec: p.Step.spec, Buckets: p.Shards}
	groups := map[int64][]IDs{}
	for _, c := range chunks {
		if err := f.ProcessElement(ctx, c, func(k int64, v IDs) { groups[k] = append(groups[k], v) }); err != nil {
			return nil, err
		}
	}
	var out []Dup
	for k, g := range groups {
		err := (&dupFn{}).ProcessElement(k, iter(g), func(d Dup) { out = append(out, d) })
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RunRange runs the range rt holds of chunk c, as the runner's worker
// does. A test that splits the range while it runs, as the runner does
// from another goroutine, passes an *sdf.LockRTracker and splits through
// it.
func RunRange(ctx context.Context, p *Plan, c Chunk, rt sdf.RTracker, dups []Dup) (Tally, error) {
	f := &rangeFn{Spec: p.Step.spec, Output: p.Step.spec.Job.Output}
	lrt, ok := rt.(*sdf.LockRTracker)
	if !ok {
		lrt = sdf.NewLockRTracker(rt)
	}
	var t Tally
	err := f.ProcessElement(ctx, lrt, c, iter(dups), func(x Tally) { t = x })
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
