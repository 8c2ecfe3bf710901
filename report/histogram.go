package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/gridrun/gridrun/outdir"
)

// histogram is a histogram of durations drawn on a logarithmic time axis:
// its buckets are a quarter of an octave wide, so equal widths on the page.
type histogram struct {
	Title         string
	Unit          string // what is counted: "elements", "calls"
	Note          string // which runs it covers
	Summary       outdir.HistogramSummary
	Width, Height float64
	PlotX, PlotW  float64
	PlotY, PlotH  float64
	Bars          []histBar
	Ticks         []tick
	YTicks        []label
	Markers       []tick
}

type histBar struct {
	X, Y, W, H float64
	Title      string
}

// bucketRatio is the ratio of a bucket's upper bound to its lower one.
var bucketRatio = math.Exp2(0.25)

func newHistogram(title, unit string, s outdir.HistogramSummary) *histogram {
	h := &histogram{Title: title, Unit: unit, Summary: s, Width: 580, Height: 240, PlotY: 24}
	h.PlotH = h.Height - h.PlotY - 34
	if s.Count == 0 || len(s.Buckets) == 0 {
		return h
	}
	var top int64
	for _, b := range s.Buckets {
		top = max(top, b.Count)
	}
	yValues := niceTicks(0, float64(top), 3)
	var yLabels []string
	for _, v := range yValues {
		yLabels = append(yLabels, count(int64(v)))
	}
	h.PlotX = widest(yLabels) + 12
	h.PlotW = h.Width - h.PlotX - 14
	for i, v := range yValues {
		h.YTicks = append(h.YTicks, label{Y: h.PlotY + h.PlotH - v/float64(top)*h.PlotH, Label: yLabels[i], X: h.PlotX - 6})
	}

	lo := math.Log10(s.Buckets[0].LE / bucketRatio)
	hi := math.Log10(s.Buckets[len(s.Buckets)-1].LE)
	if hi-lo < 1 { // at least a decade, centred, so that a narrow spread reads as narrow
		mid := (hi + lo) / 2
		lo, hi = mid-0.5, mid+0.5
	}
	x := func(sec float64) float64 { return h.PlotX + (math.Log10(sec)-lo)/(hi-lo)*h.PlotW }
	for _, b := range s.Buckets {
		x0, x1 := x(b.LE/bucketRatio), x(b.LE)
		bh := float64(b.Count) / float64(top) * h.PlotH
		h.Bars = append(h.Bars, histBar{
			X: x0, Y: h.PlotY + h.PlotH - bh, W: math.Max(x1-x0-0.5, 0.5), H: math.Max(bh, 1),
			Title: fmt.Sprintf("%s to %s: %s", seconds(b.LE/bucketRatio), seconds(b.LE), count(b.Count)),
		})
	}
	for e := math.Ceil(lo); e <= math.Floor(hi); e++ {
		h.Ticks = append(h.Ticks, fit(x(math.Pow(10, e)), seconds(math.Pow(10, e)), 1, h.Width-1, "middle"))
	}
	for _, m := range []struct {
		name string
		v    float64
	}{{"p50", s.P50}, {"p99", s.P99}, {"max", s.Max}} {
		if m.v <= 0 {
			continue
		}
		if n := len(h.Markers); n > 0 {
			prev := &h.Markers[n-1]
			// Labels centred on their markers would touch: one marker.
			if x(m.v)-prev.At < (textWidth(prev.Label)+textWidth(m.name))/2+6 {
				*prev = fit(prev.At, prev.Label+"/"+m.name, 1, h.Width-1, "middle")
				continue
			}
		}
		h.Markers = append(h.Markers, fit(x(m.v), m.name, 1, h.Width-1, "middle"))
	}
	return h
}

// The buckets of durations: a quarter of an octave wide from a
// microsecond, as the engine counts them (its grid.Histogram), so that the
// report's histograms and the manifest's line up.
const (
	histBuckets = 160
	histBase    = 1e-6
)

func bucketUpper(i int) float64 { return histBase * math.Exp2(float64(i+1)/4) }

// durations counts durations in those buckets.
type durations struct {
	counts        [histBuckets]int64
	n             int64
	sum, min, max float64
}

func (d *durations) add(sec float64) {
	i := 0
	if sec > histBase {
		i = min(max(int(math.Ceil(4*math.Log2(sec/histBase)))-1, 0), histBuckets-1)
	}
	d.counts[i]++
	if d.n == 0 || sec < d.min {
		d.min = sec
	}
	d.max = max(d.max, sec)
	d.n++
	d.sum += sec
}

func (d *durations) summary() outdir.HistogramSummary {
	s := outdir.HistogramSummary{Count: d.n, Sum: d.sum, Min: d.min, Max: d.max, Buckets: []outdir.Bucket{}}
	for i, c := range d.counts {
		if c > 0 {
			s.Buckets = append(s.Buckets, outdir.Bucket{LE: bucketUpper(i), Count: c})
		}
	}
	s.P50, s.P99 = quantile(s, 0.5), quantile(s, 0.99)
	return s
}

// quantile returns an upper bound of the q-quantile of a histogram: the
// upper bound of the bucket holding it, or the maximum if smaller.
func quantile(s outdir.HistogramSummary, q float64) float64 {
	if s.Count == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(s.Count)))
	var seen int64
	for _, b := range s.Buckets {
		seen += b.Count
		if seen >= rank {
			return min(b.LE, s.Max)
		}
	}
	return s.Max
}

// merge adds histograms counted in the same buckets: the runs' element
// times.
func merge(hs ...outdir.HistogramSummary) outdir.HistogramSummary {
	var m outdir.HistogramSummary
	byLE := map[float64]int64{}
	for _, h := range hs {
		if h.Count == 0 {
			continue
		}
		if m.Count == 0 || h.Min < m.Min {
			m.Min = h.Min
		}
		m.Max = max(m.Max, h.Max)
		m.Count += h.Count
		m.Sum += h.Sum
		for _, b := range h.Buckets {
			byLE[b.LE] += b.Count
		}
	}
	m.Buckets = []outdir.Bucket{}
	for le, n := range byLE {
		m.Buckets = append(m.Buckets, outdir.Bucket{LE: le, Count: n})
	}
	slices.SortFunc(m.Buckets, func(a, b outdir.Bucket) int { return cmp.Compare(a.LE, b.LE) })
	m.P50, m.P99 = quantile(m, 0.5), quantile(m, 0.99)
	return m
}
