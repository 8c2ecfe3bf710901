package report

import (
	"bufio"
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/gridrun/gridrun/outdir"
)

// The Gantt chart's geometry, in SVG pixels.
const (
	chartWidth = 1180.0
	plotLeft   = 56.0 // room for the slot labels
	plotRight  = 16.0
	// axisHeight leaves room under a plot for its tick labels and, on the
	// Gantt chart, a second row for the end of the job, so that it never
	// overlaps the balanced finish's label.
	axisHeight = 48.0
	plotTop    = 8.0
)

// gantt is the chart of calls per slot over time.
type gantt struct {
	Width, Height float64
	PlotX, PlotW  float64
	PlotY, PlotH  float64
	Slots         int
	Rows          []label
	Bars          []bar
	Ticks         []tick
	// Balanced is where the job would have ended had the calls' total time
	// been spread evenly over the slots; calls ending after it straggle.
	Balanced    tick
	End         tick
	Calls       int     // lines of the timeline
	Unreadable  int     // lines that are not a call (a torn last line)
	Span        float64 // seconds from the first start to the last end
	Busy        float64 // seconds of calls, summed
	Utilization float64
	Legend      []legendItem
	Failed      int
	Stopped     int
}

type label struct {
	Y     float64
	Label string
}

type tick struct {
	X     float64
	Label string
}

type bar struct {
	X, Y, W, H float64
	Class      string
	outdir.CallRecord
	StartS, Seconds float64 // from the first call's start
}

// Title is the bar's tooltip.
func (b bar) Title() string {
	s := fmt.Sprintf("%s attempt %d (%s): %d elements, %d results, %s from %s",
		b.Batch, b.Attempt, b.Reason, b.Elements, b.Results, seconds(b.Seconds), seconds(b.StartS))
	if b.Failure != "" {
		s += ", failed: " + b.Failure
	}
	if b.CallRecord.Stopped {
		s += ", stopped to split"
	}
	return s
}

// Data attributes, in fixed-precision text.
func (b bar) DataStart() string { return strconv.FormatFloat(b.StartS, 'f', 6, 64) }
func (b bar) DataDur() string   { return strconv.FormatFloat(b.Seconds, 'f', 6, 64) }

type legendItem struct {
	Class, Label string
	Count        int
}

// reasons are the reasons for a call the chart knows, in legend order, with
// what they mean; a reason it does not know is drawn as "other".
var reasons = []struct{ name, label string }{
	{"batch", "batch: first call of a batch"},
	{"retry", "retry: the call again after a transient failure"},
	{"isolate", "isolate: a suspect alone, or the rest of a failed call"},
	{"split", "split: the remainder of a call stopped to split it"},
	{"backup", "backup: a second copy of a straggling call"},
}

func reasonClass(r string) string {
	for _, k := range reasons {
		if k.name == r {
			return "r-" + r
		}
	}
	return "r-other"
}

// sizes is the chart of elements per call over time, per time bucket: the
// mean and the range of the calls that started in it.
type sizes struct {
	Width, Height float64
	PlotX, PlotW  float64
	PlotY, PlotH  float64
	Points        []sizePoint
	XTicks        []tick
	YTicks        []label
	Target        *label // the job's --batch-size
	Max           int
}

type sizePoint struct {
	X, Y, YMin, YMax float64
	Calls            int
	Mean             float64
	Min, Max         int
	Title            string
}

// readTimeline streams the timeline twice: once for the extent and the
// counts, once to keep the calls to draw and fill the size buckets.
func readTimeline(path string, maxCalls, batchSize int) (*gantt, *sizes, error) {
	g := &gantt{Width: chartWidth, PlotX: plotLeft, PlotW: chartWidth - plotLeft - plotRight, PlotY: plotTop}
	var (
		t0, t1   time.Time
		busy     float64
		byReason = map[string]int{}
		maxSize  int
	)
	err := scanTimeline(path, func(r outdir.CallRecord) {
		g.Calls++
		if t0.IsZero() || r.Start.Before(t0) {
			t0 = r.Start
		}
		if r.End.After(t1) {
			t1 = r.End
		}
		g.Slots = max(g.Slots, r.Slot+1)
		busy += r.End.Sub(r.Start).Seconds()
		byReason[reasonClass(r.Reason)]++
		maxSize = max(maxSize, r.Elements)
		if r.Failure != "" {
			g.Failed++
		}
		if r.Stopped {
			g.Stopped++
		}
	}, &g.Unreadable)
	if errors.Is(err, fs.ErrNotExist) || g.Calls == 0 {
		return nil, nil, nil // no call was made: nothing to draw
	}
	if err != nil {
		return nil, nil, err
	}
	g.Span = max(t1.Sub(t0).Seconds(), 1e-6)
	g.Busy = busy
	g.Utilization = busy / (g.Span * float64(g.Slots))
	for _, k := range reasons {
		if n := byReason["r-"+k.name]; n > 0 {
			g.Legend = append(g.Legend, legendItem{"r-" + k.name, k.label, n})
		}
	}
	if n := byReason["r-other"]; n > 0 {
		g.Legend = append(g.Legend, legendItem{"r-other", "another reason", n})
	}

	rowH := math.Max(3, math.Min(24, 560/float64(g.Slots)))
	g.PlotH = rowH * float64(g.Slots)
	g.Height = g.PlotY + g.PlotH + axisHeight
	xOf := func(t time.Time) float64 { return g.PlotX + t.Sub(t0).Seconds()/g.Span*g.PlotW }
	labelEvery := int(math.Ceil(14 / rowH)) // keep labels 14px apart
	for s := range g.Slots {
		if s%labelEvery == 0 {
			g.Rows = append(g.Rows, label{g.PlotY + (float64(s)+0.5)*rowH, strconv.Itoa(s)})
		}
	}
	for _, v := range niceTicks(0, g.Span, 8) {
		g.Ticks = append(g.Ticks, tick{g.PlotX + v/g.Span*g.PlotW, seconds(v)})
	}
	balanced := busy / float64(g.Slots)
	g.Balanced = tick{g.PlotX + balanced/g.Span*g.PlotW, seconds(balanced)}
	g.End = tick{g.PlotX + g.PlotW, seconds(g.Span)}

	sz := newSizes(t0, g.Span, maxSize, batchSize, min(g.Calls, 120))
	keep := &callHeap{}
	err = scanTimeline(path, func(r outdir.CallRecord) {
		sz.add(r)
		if keep.Len() < maxCalls {
			heap.Push(keep, r)
		} else if keep.Len() > 0 && outranks(r, (*keep)[0]) {
			(*keep)[0] = r
			heap.Fix(keep, 0)
		}
	}, new(int))
	if err != nil {
		return nil, nil, err
	}
	calls := []outdir.CallRecord(*keep)
	slices.SortFunc(calls, func(a, b outdir.CallRecord) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return a.Slot - b.Slot
	})
	for _, r := range calls {
		x := xOf(r.Start)
		b := bar{
			X: x, Y: g.PlotY + float64(r.Slot)*rowH + rowH*0.1, W: math.Max(xOf(r.End)-x, 0.5), H: math.Max(rowH*0.8, 2),
			CallRecord: r, StartS: r.Start.Sub(t0).Seconds(), Seconds: r.End.Sub(r.Start).Seconds(),
		}
		b.Class = "bar " + reasonClass(r.Reason)
		if r.Failure != "" {
			b.Class += " failed"
		}
		if r.Stopped {
			b.Class += " stopped"
		}
		g.Bars = append(g.Bars, b)
	}
	return g, sz.finish(), nil
}

// scanTimeline calls fn with each call of the timeline; lines that do not
// parse (a line torn by a kill) are counted in bad.
func scanTimeline(path string, fn func(outdir.CallRecord), bad *int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r outdir.CallRecord
		if len(sc.Bytes()) == 0 {
			continue
		}
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.End.Before(r.Start) || r.Slot < 0 {
			*bad++
			continue
		}
		fn(r)
	}
	return sc.Err()
}

// notable calls are drawn before plain ones when there are too many.
func notable(r outdir.CallRecord) bool {
	return r.Reason != "batch" || r.Failure != "" || r.Stopped
}

// outranks says whether a is more worth drawing than b: notable calls
// first, then the longer ones, which shape the chart.
func outranks(a, b outdir.CallRecord) bool {
	if na, nb := notable(a), notable(b); na != nb {
		return na
	}
	return a.End.Sub(a.Start) > b.End.Sub(b.Start)
}

// callHeap is a min-heap of the calls kept: the least worth drawing on top.
type callHeap []outdir.CallRecord

func (h callHeap) Len() int           { return len(h) }
func (h callHeap) Less(i, j int) bool { return outranks(h[j], h[i]) }
func (h callHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *callHeap) Push(x any)        { *h = append(*h, x.(outdir.CallRecord)) }
func (h *callHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type sizeBucket struct {
	n, sum   int
	min, max int
}

type sizeAcc struct {
	s       *sizes
	t0      time.Time
	span    float64
	buckets []sizeBucket
}

func newSizes(t0 time.Time, span float64, maxSize, target, n int) *sizeAcc {
	const height = 220.0
	s := &sizes{Width: chartWidth, Height: height, PlotX: plotLeft, PlotW: chartWidth - plotLeft - plotRight, PlotY: 10, PlotH: height - 10 - axisHeight}
	top := max(maxSize, target)
	s.Max = max(top, 1)
	for _, v := range niceTicks(0, float64(s.Max), 4) {
		s.YTicks = append(s.YTicks, label{s.y(v), strconv.FormatFloat(v, 'f', -1, 64)})
	}
	for _, v := range niceTicks(0, span, 8) {
		s.XTicks = append(s.XTicks, tick{s.PlotX + v/span*s.PlotW, seconds(v)})
	}
	if target > 0 {
		s.Target = &label{s.y(float64(target)), strconv.Itoa(target)}
	}
	return &sizeAcc{s: s, t0: t0, span: span, buckets: make([]sizeBucket, max(n, 1))}
}

func (s *sizes) y(v float64) float64 { return s.PlotY + s.PlotH - v/float64(s.Max)*s.PlotH }

func (a *sizeAcc) add(r outdir.CallRecord) {
	i := int(r.Start.Sub(a.t0).Seconds() / a.span * float64(len(a.buckets)))
	i = min(max(i, 0), len(a.buckets)-1)
	b := &a.buckets[i]
	if b.n == 0 || r.Elements < b.min {
		b.min = r.Elements
	}
	b.max = max(b.max, r.Elements)
	b.n++
	b.sum += r.Elements
}

func (a *sizeAcc) finish() *sizes {
	s := a.s
	w := a.span / float64(len(a.buckets))
	for i, b := range a.buckets {
		if b.n == 0 {
			continue
		}
		mean := float64(b.sum) / float64(b.n)
		p := sizePoint{
			X: s.PlotX + (float64(i)+0.5)/float64(len(a.buckets))*s.PlotW, Y: s.y(mean), YMin: s.y(float64(b.min)), YMax: s.y(float64(b.max)),
			Calls: b.n, Mean: mean, Min: b.min, Max: b.max,
		}
		p.Title = fmt.Sprintf("%s to %s: %d calls, %.1f elements on average (%d to %d)",
			seconds(float64(i)*w), seconds(float64(i+1)*w), b.n, mean, b.min, b.max)
		s.Points = append(s.Points, p)
	}
	return s
}

// niceTicks returns about n round values from lo to hi: multiples of 1, 2
// or 5 times a power of ten.
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo || n < 1 {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		clean, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 12, 64), 64) // 0.30000000000000004 is 0.3
		out = append(out, clean)
	}
	return out
}
