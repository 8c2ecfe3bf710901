package report

import (
	"fmt"
	"math"

	"github.com/gridrun/gridrun/outdir"
)

// histogram is a manifest histogram drawn on a logarithmic time axis: its
// buckets are a quarter of an octave wide, so equal widths on the page.
type histogram struct {
	Title         string
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

func newHistogram(title string, s outdir.HistogramSummary) *histogram {
	h := &histogram{Title: title, Summary: s, Width: 580, Height: 240, PlotX: 48, PlotY: 24}
	h.PlotW = h.Width - h.PlotX - 14
	h.PlotH = h.Height - h.PlotY - 34
	if s.Count == 0 || len(s.Buckets) == 0 {
		return h
	}
	lo := math.Log10(s.Buckets[0].LE / bucketRatio)
	hi := math.Log10(s.Buckets[len(s.Buckets)-1].LE)
	if hi-lo < 1 { // at least a decade, centred, so that a narrow spread reads as narrow
		mid := (hi + lo) / 2
		lo, hi = mid-0.5, mid+0.5
	}
	x := func(sec float64) float64 { return h.PlotX + (math.Log10(sec)-lo)/(hi-lo)*h.PlotW }
	var top int64
	for _, b := range s.Buckets {
		top = max(top, b.Count)
	}
	for _, v := range niceTicks(0, float64(top), 3) {
		h.YTicks = append(h.YTicks, label{h.PlotY + h.PlotH - v/float64(top)*h.PlotH, count(int64(v))})
	}
	for _, b := range s.Buckets {
		x0, x1 := x(b.LE/bucketRatio), x(b.LE)
		bh := float64(b.Count) / float64(top) * h.PlotH
		h.Bars = append(h.Bars, histBar{
			X: x0, Y: h.PlotY + h.PlotH - bh, W: math.Max(x1-x0-0.5, 0.5), H: math.Max(bh, 1),
			Title: fmt.Sprintf("%s to %s: %s", seconds(b.LE/bucketRatio), seconds(b.LE), count(b.Count)),
		})
	}
	for e := math.Ceil(lo); e <= math.Floor(hi); e++ {
		h.Ticks = append(h.Ticks, tick{x(math.Pow(10, e)), seconds(math.Pow(10, e))})
	}
	for _, m := range []struct {
		name string
		v    float64
	}{{"p50", s.P50}, {"p99", s.P99}, {"max", s.Max}} {
		if m.v <= 0 {
			continue
		}
		if n := len(h.Markers); n > 0 && x(m.v)-h.Markers[n-1].X < 24 { // too close to tell apart: one marker
			h.Markers[n-1].Label += "/" + m.name
			continue
		}
		h.Markers = append(h.Markers, tick{x(m.v), m.name})
	}
	return h
}
