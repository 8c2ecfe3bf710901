package grid

import (
	"math"
	"slices"
	"sync"
	"time"
)

// sizer chooses the size of each new batch adaptively rather than by a
// prediction made before the job: it measures what elements cost as the job
// runs and sizes batches so that a call lasts about the target duration —
// many cheap elements per call where a subprocess start would dominate, few
// where one batch would otherwise become the whole tail. Near the end of the
// input it shrinks batches to a share of what is left (guided
// self-scheduling), so that the slots finish together.
type sizer struct {
	initial, min, max int
	target            float64 // seconds
	slots             int
	fixed             bool
	// remaining estimates the elements not yet in a batch; ok is false
	// while it cannot tell.
	remaining func() (n int64, ok bool)

	mu             sync.Mutex
	firstRemaining int64   // the elements left when the first batch was sized
	cost           float64 // seconds per element, moving average
	overhead       float64 // seconds per call beyond its elements' own time
	observed       int
	sizes          []int
}

// ewma weights a new observation in the running estimates.
const ewma = 0.25

func (s *sizer) next() int {
	r, ok := s.remaining()
	return s.nextOf(r, ok)
}

// nextOf is next, with the elements left as the caller estimates them.
func (s *sizer) nextOf(r int64, ok bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.initial
	if !s.fixed {
		// Below floor elements, a call costs more to start than to run:
		// the tail is not shrunk past it.
		floor := s.min
		if s.observed > 0 && s.cost > 0 {
			n = int(math.Max(s.target-s.overhead, s.target/2) / s.cost)
			floor = max(floor, int(s.overhead/s.cost))
		}
		if ok && r > 0 {
			if s.observed > 0 {
				n = min(n, max(int((r+int64(s.slots)-1)/int64(s.slots)), floor))
			} else {
				// Before anything is known of the cost, the first batches
				// share what there is evenly among the slots rather than
				// shrinking as the tail would: for all we know a call of
				// a few elements costs more to start than to run.
				if s.firstRemaining == 0 {
					s.firstRemaining = r
				}
				n = min(n, int((s.firstRemaining+int64(s.slots)-1)/int64(s.slots)))
			}
		}
		n = min(max(n, s.min), s.max)
	}
	s.sizes = append(s.sizes, n)
	return n
}

// worthSplitting reports whether handing left elements to another call
// saves more than a call costs to start: their expected time is above four
// call overheads and a minimum below which splitting is noise. Before any
// call has ended, the cost is the mean of the element times reported so
// far (elementMean, 0 when none).
func (s *sizer) worthSplitting(left int, elementMean float64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cost, overhead := s.cost, s.overhead
	if s.observed == 0 {
		cost, overhead = elementMean, 0
	}
	return cost > 0 && float64(left)*cost > math.Max(4*overhead, minSplitSeconds)
}

// minSplitSeconds is the least expected work a split hands on.
const minSplitSeconds = 0.05

// observe learns from a finished call: its elements, its wall time and the
// time its elements reported (0 when the binary does not report it).
func (s *sizer) observe(elements int, wall, busy time.Duration) {
	if elements == 0 || wall <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cost := wall.Seconds() / float64(elements)
	over := 0.0
	if busy > 0 && busy <= wall {
		cost = busy.Seconds() / float64(elements)
		over = (wall - busy).Seconds()
	}
	if s.observed == 0 {
		s.cost, s.overhead = cost, over
	} else {
		s.cost += ewma * (cost - s.cost)
		s.overhead += ewma * (over - s.overhead)
	}
	s.observed++
}

func (s *sizer) summary() BatchSizes {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sizes) == 0 {
		return BatchSizes{}
	}
	sorted := slices.Sorted(slices.Values(s.sizes))
	return BatchSizes{Min: sorted[0], Median: sorted[len(sorted)/2], Max: sorted[len(sorted)-1], Count: len(sorted)}
}

// A BatchSizer sizes batches as the local engine does, for an engine that
// cuts its own: the Beam runner's workers, each with one per process. It
// learns from the calls it is told of and aims at the job's target call
// duration, and shrinks batches near the end of what its caller has left
// (guided self-scheduling), so that the slots finish together. It is safe
// for concurrent use.
type BatchSizer struct{ s *sizer }

// NewBatchSizer returns the sizer of a job, with its defaults filled in
// (WithRunDefaults), whose calls run slots at a time.
func NewBatchSizer(j Job, slots int) *BatchSizer {
	return &BatchSizer{s: &sizer{
		initial: j.BatchSize, min: j.MinBatchSize, max: j.MaxBatchSize,
		target: time.Duration(j.TargetCallDuration).Seconds(), slots: max(slots, 1),
		fixed: j.FixedBatchSize, remaining: func() (int64, bool) { return 0, false },
	}}
}

// Next is the size of the next batch, of a caller with about remaining
// elements left; a negative remaining is not known.
func (b *BatchSizer) Next(remaining int64) int { return b.s.nextOf(remaining, remaining >= 0) }

// Observe learns from a call that ended.
func (b *BatchSizer) Observe(rec CallRecord) {
	b.s.observe(rec.Elements, rec.End.Sub(rec.Start), time.Duration(rec.ElementSeconds*float64(time.Second)))
}

// Summary is the sizes chosen so far.
func (b *BatchSizer) Summary() BatchSizes { return b.s.summary() }
