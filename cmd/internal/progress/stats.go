package progress

import (
	"strconv"
	"time"

	"github.com/gridrun/gridrun/grid"
)

// Stats is a snapshot with the figures derived from it and the snapshots
// before it.
type Stats struct {
	grid.Progress
	// Total is the number of elements of the job once the input has been
	// read to the end (RowsRead then); -1 before.
	Total int64
	// Rate is the elements settled per second by this run, over the last
	// rateWindow (over the whole run while it is younger than that).
	Rate float64
	// ETA is the time left at Rate; -1 when unknown.
	ETA time.Duration
}

// rateWindow is how far back the rate looks: long enough to smooth the
// steps of 100 elements settling at once, short enough to follow a job
// that slows down on its expensive tail.
const rateWindow = 30 * time.Second

type sample struct {
	at   time.Duration
	done int64
}

// estimator turns snapshots into Stats. Not safe for concurrent use.
type estimator struct {
	window []sample // oldest first, within rateWindow of the newest
}

func (e *estimator) add(p grid.Progress) Stats {
	s := Stats{Progress: p, Total: -1, ETA: -1}
	if p.InputDone {
		s.Total = p.RowsRead
	}
	done := p.Settled - p.Resumed // what this run did: the rate is this run's
	e.window = append(e.window, sample{p.Elapsed, done})
	for len(e.window) > 2 && p.Elapsed-e.window[1].at >= rateWindow {
		e.window = e.window[1:]
	}
	first := e.window[0]
	if span := p.Elapsed - first.at; len(e.window) > 1 && span >= rateWindow/2 {
		s.Rate = float64(done-first.done) / span.Seconds()
	} else if p.Elapsed > 0 {
		s.Rate = float64(done) / p.Elapsed.Seconds()
	}
	switch {
	case s.Total >= 0 && p.Settled >= s.Total:
		s.ETA = 0
	case s.Total >= 0 && s.Rate > 0:
		s.ETA = time.Duration(float64(s.Total-p.Settled) / s.Rate * float64(time.Second))
	}
	return s
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
