package progress

import (
	"math"
	"strconv"
	"time"

	"github.com/gridrun/gridrun/grid"
)

// Stats is a snapshot with the figures derived from it and the snapshots
// before it.
type Stats struct {
	grid.Progress
	// Total is the number of elements of the job (grid.Progress.Total),
	// -1 while unknown; Estimated says it is extrapolated from the bytes
	// of the inputs read so far.
	Total     int64
	Estimated bool
	// Percent is the share of Total settled, rounded down to a tenth (100
	// only once every element is settled); -1 while Total is unknown.
	Percent float64
	// Rate is the elements settled per second by this run, averaged with
	// weights that halve every rateHalfLife back. RateSettled says enough
	// snapshots have moved it for an ETA to stand on it.
	Rate        float64
	RateSettled bool
	// ETA is the time left at Rate; -1 while unknown.
	ETA time.Duration
}

// rateHalfLife is how fast the rate forgets: long enough to smooth the
// steps of a batch's elements settling at once, short enough to follow a
// job that slows down on its expensive tail.
const rateHalfLife = 10 * time.Second

// settledSamples is how many snapshots must have seen elements settle
// before the rate gives an ETA: one batch's end says little of the next.
const settledSamples = 3

// estimator turns snapshots into Stats. Not safe for concurrent use.
//
// The rate is an exponentially weighted average over time rather than
// over a window of snapshots: a window's rate jumps when a batch leaves
// it, and a plain EWMA of per-snapshot rates weighs a short interval like
// a long one. Here each interval adds its elements and its seconds to two
// sums that decay with time; their ratio is the rate. It is exact for a
// steady job from the first snapshot and needs no warm-up correction.
type estimator struct {
	at       time.Duration // the last snapshot's Elapsed
	done     int64         // this run's settled elements at that snapshot
	elems    float64       // decayed sum of elements settled
	secs     float64       // decayed sum of seconds
	advances int           // snapshots in which elements settled
}

func (e *estimator) add(p grid.Progress) Stats {
	s := Stats{Progress: p, Total: -1, Percent: -1, ETA: -1}
	if p.Total > 0 || p.InputDone {
		s.Total, s.Estimated = p.Total, p.TotalEstimated && !p.InputDone
		s.Percent = percent(p.Settled, p.Total)
	}
	done := p.Settled - p.Resumed // the rate is this run's
	if dt := (p.Elapsed - e.at).Seconds(); dt > 0 {
		decay := math.Exp2(-dt / rateHalfLife.Seconds())
		e.elems = e.elems*decay + float64(done-e.done)
		e.secs = e.secs*decay + dt
		if done > e.done {
			e.advances++
		}
		e.at, e.done = p.Elapsed, done
	}
	if e.secs > 0 {
		s.Rate = max(e.elems/e.secs, 0)
	}
	s.RateSettled = e.advances >= settledSamples
	switch {
	case s.Total >= 0 && p.Settled >= s.Total && !s.Estimated:
		s.ETA = 0
	case s.Total >= 0 && s.RateSettled && s.Rate > 0:
		s.ETA = time.Duration(float64(max(s.Total-p.Settled, 0)) / s.Rate * float64(time.Second)).Round(time.Millisecond)
	}
	return s
}

// percent is n of total rounded down to a tenth: 100 only at the end.
func percent(n, total int64) float64 {
	if total <= 0 {
		return 100
	}
	return min(math.Floor(1000*float64(n)/float64(total))/10, 100)
}

// count renders n with thousands separators: 1,234,567.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// rate renders elements per second: three significant digits below 100,
// whole numbers above.
func rate(r float64) string {
	if r < 100 {
		return strconv.FormatFloat(r, 'f', 1, 64) + "/s"
	}
	return count(int64(r+0.5)) + "/s"
}

// eta renders a duration to the second, as 45s, 3m05s or 2h07m.
func eta(d time.Duration) string {
	if d < 0 {
		return "?"
	}
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return strconv.Itoa(h) + "h" + pad2(m) + "m"
	case m > 0:
		return strconv.Itoa(m) + "m" + pad2(s) + "s"
	}
	return strconv.Itoa(s) + "s"
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}
