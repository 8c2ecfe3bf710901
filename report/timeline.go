package report

import (
	"bufio"
	"cmp"
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/gridrun/gridrun/outdir"
)

// The charts' geometry, in SVG pixels.
const (
	chartWidth = 1180.0
	plotRight  = 16.0
	// axisHeight leaves room under a plot for its tick labels and, on the
	// Gantt chart, a second row for the balanced finish and a third for
	// the end of the job, so that they never overlap.
	axisHeight = 52.0
	// runLabels is the room above the Gantt plot for the runs' labels.
	runLabels = 20.0
)

// runInfo is one run of the job as its timeline records it.
type runInfo struct {
	N int
	// Start and End are the run's recorded start and end; End is zero for
	// a run killed outright (and both for a timeline written before runs
	// were recorded).
	Start, End time.Time
	// First is the first call's start; LastEnd the last call's end; Last
	// the run's last recorded instant, of any record.
	First, LastEnd, Last time.Time
	// Killed says the run ended without recording its end; Live that it
	// is the run still going (Options.Now).
	Killed, Live bool
	// Calls counts the calls that ended, Lost those in flight when the
	// run was killed (or still running, when Live); Failed the ended
	// calls that failed.
	Calls, Lost, Failed int
	// Slots is the number of slots the run's calls used.
	Slots int
	// Busy is the seconds of calls, lost ones included up to Last.
	Busy float64
	// BatchMin and BatchMax are the sizes of the run's first calls of a
	// batch (reason "batch"): the sizes the run chose.
	BatchMin, BatchMax int
	// ElementTimes is the run's last record of its element times.
	ElementTimes *outdir.HistogramSummary

	open map[int64]outdir.CallRecord // started, not yet ended
	lost []outdir.CallRecord         // ended at the end of the scan
	// offset is the seconds of drawn time before the run's first call.
	offset float64
}

// segEnd ends the stretch of the run drawn on the time axis, which
// begins at its first call's start: its last call's end, or its last
// recorded instant when calls were lost there (or Now, live).
func (r *runInfo) segEnd() time.Time {
	if r.Lost > 0 {
		return r.Last
	}
	return r.LastEnd
}

// Span is the seconds drawn for the run.
func (r *runInfo) Span() float64 {
	if r.First.IsZero() {
		return 0
	}
	return r.segEnd().Sub(r.First).Seconds()
}

// Wall is the run's wall time: its recorded start to its recorded end, or
// to its last recorded instant when it was killed.
func (r *runInfo) Wall() float64 {
	start, end := cmp.Or(r.Start, r.First), cmp.Or(r.End, r.Last)
	if start.IsZero() {
		return 0
	}
	return end.Sub(start).Seconds()
}

// Utilization is the share of the run's slot time its calls were busy.
func (r *runInfo) Utilization() float64 {
	if s := r.Span(); s > 0 && r.Slots > 0 {
		return r.Busy / (s * float64(r.Slots))
	}
	return 0
}

// HowEnded says how the run ended, for the runs table.
func (r *runInfo) HowEnded() string {
	switch {
	case r.Live:
		return "running"
	case r.Killed:
		return "killed"
	case r.End.IsZero():
		return "not recorded"
	}
	return "ended"
}

// timeline is what the report knows from the timeline file.
type timeline struct {
	Runs []*runInfo
	// Calls counts the calls that ended, Lost those killed in flight,
	// Unreadable the lines that are no record (a line torn by a kill).
	Calls, Lost, Unreadable int
	Failed, Stopped         int
	// Slots is the most slots any run used.
	Slots int
	// Active is the seconds drawn: the runs' spans, without the time
	// between them.
	Active float64
	// Busy is the seconds of calls, summed over the runs; Capacity the
	// slot seconds of the runs' spans.
	Busy, Capacity float64
	// Balanced is where on the drawn time the job would have ended had
	// its calls' time been spread evenly over each run's slots.
	Balanced float64
	// CallTimes is the histogram of the ended calls' wall times.
	CallTimes   outdir.HistogramSummary
	MaxElements int
	byReason    map[string]int
}

// Utilization is the share of the runs' slot time the calls were busy.
func (t *timeline) Utilization() float64 {
	if t.Capacity <= 0 {
		return 0
	}
	return t.Busy / t.Capacity
}

// Idle is the seconds between one run's last drawn instant and the next
// run's first call: not drawn, and counted in neither the balanced finish
// nor the utilisation.
func (t *timeline) Idle() float64 {
	var idle float64
	var prev *runInfo
	for _, r := range t.Runs {
		if r.First.IsZero() {
			continue
		}
		if prev != nil {
			idle += max(r.First.Sub(prev.segEnd()).Seconds(), 0)
		}
		prev = r
	}
	return idle
}

// Wall is the runs' wall times summed.
func (t *timeline) Wall() float64 {
	var w float64
	for _, r := range t.Runs {
		w += r.Wall()
	}
	return w
}

// Killed returns the runs that were killed.
func (t *timeline) Killed() []*runInfo {
	var k []*runInfo
	for _, r := range t.Runs {
		if r.Killed {
			k = append(k, r)
		}
	}
	return k
}

// readTimeline reads the timeline file at path: the runs, their calls and
// the figures over all of them. now, when not zero, takes the last run as
// still going: its calls without an end are running, not lost. It
// returns nil when the file does not exist.
func readTimeline(path string, now time.Time) (*timeline, error) {
	tl := &timeline{byReason: map[string]int{}}
	runs := map[int]*runInfo{}
	var callTimes durations
	err := scanTimeline(path, func(rec outdir.TimelineRecord) {
		n := max(rec.Run, 1) // a timeline from before runs were numbered: one run
		r := runs[n]
		if r == nil {
			r = &runInfo{N: n, open: map[int64]outdir.CallRecord{}}
			runs[n] = r
		}
		for _, t := range []time.Time{rec.Start, rec.End} {
			if t.After(r.Last) {
				r.Last = t
			}
		}
		c := rec.CallRecord
		switch rec.Event {
		case outdir.EventRunStart:
			r.Start = rec.Start
		case outdir.EventRunEnd:
			r.End = rec.End
			r.ElementTimes = cmp.Or(rec.ElementTimes, r.ElementTimes)
		case outdir.EventTimes:
			r.ElementTimes = cmp.Or(rec.ElementTimes, r.ElementTimes)
		case outdir.EventCallStart:
			r.open[c.Seq] = c
		case outdir.EventCall:
			if c.Seq != 0 {
				delete(r.open, c.Seq)
			}
			tl.Calls++
			r.Calls++
			d := c.End.Sub(c.Start).Seconds()
			r.Busy += d
			callTimes.add(d)
			r.addCall(c)
			if c.End.After(r.LastEnd) {
				r.LastEnd = c.End
			}
			tl.byReason[reasonClass(c.Reason)]++
			if c.Failure != "" {
				tl.Failed++
				r.Failed++
			}
			if c.Stopped {
				tl.Stopped++
			}
			tl.MaxElements = max(tl.MaxElements, c.Elements)
		}
	}, &tl.Unreadable)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	numbers := slices.Sorted(maps.Keys(runs))
	for _, n := range numbers {
		r := runs[n]
		r.Killed = r.End.IsZero() && (!r.Start.IsZero() || len(r.open) > 0)
		if !now.IsZero() && n == numbers[len(numbers)-1] && r.End.IsZero() {
			r.Killed, r.Live, r.Last = false, true, now
		}
		// A call begun and never ended was in flight when its run was
		// killed: it ends, for the chart, at the run's last instant.
		for _, seq := range slices.Sorted(maps.Keys(r.open)) {
			c := r.open[seq]
			c.End = r.Last
			c.Run = n
			r.lost = append(r.lost, c)
			r.addCall(c)
			r.Busy += c.End.Sub(c.Start).Seconds()
			tl.byReason[reasonClass(c.Reason)]++
			tl.MaxElements = max(tl.MaxElements, c.Elements)
		}
		r.Lost = len(r.lost)
		tl.Lost += r.Lost
		r.open = nil
		tl.Runs = append(tl.Runs, r)
	}
	var at float64
	for _, r := range tl.Runs {
		r.offset = at
		at += r.Span()
		tl.Busy += r.Busy
		tl.Capacity += r.Span() * float64(r.Slots)
		tl.Slots = max(tl.Slots, r.Slots)
	}
	tl.Active = at
	tl.Balanced = tl.balanced()
	tl.CallTimes = callTimes.summary()
	return tl, nil
}

// addCall counts a call's slot, first start and batch size in its run.
func (r *runInfo) addCall(c outdir.CallRecord) {
	r.Slots = max(r.Slots, c.Slot+1)
	if r.First.IsZero() || c.Start.Before(r.First) {
		r.First = c.Start
	}
	if c.Reason == "batch" {
		if r.BatchMin == 0 || c.Elements < r.BatchMin {
			r.BatchMin = c.Elements
		}
		r.BatchMax = max(r.BatchMax, c.Elements)
	}
}

// balanced walks the runs' spans, each giving its slots' time, until
// they have given the calls' total time: where the job would have ended
// had every slot stayed busy.
func (t *timeline) balanced() float64 {
	left := t.Busy
	for _, r := range t.Runs {
		c := r.Span() * float64(r.Slots)
		if c >= left && r.Slots > 0 {
			return r.offset + left/float64(r.Slots)
		}
		left -= c
	}
	return t.Active
}

// at returns where instant ts of run r falls on the drawn time.
func (t *timeline) at(r *runInfo, ts time.Time) float64 {
	return r.offset + ts.Sub(r.First).Seconds()
}

func (t *timeline) run(n int) *runInfo {
	for _, r := range t.Runs {
		if r.N == max(n, 1) {
			return r
		}
	}
	return nil
}

// scanTimeline calls fn with each record of the timeline; lines that do
// not parse (a line torn by a kill) are counted in bad.
func scanTimeline(path string, fn func(outdir.TimelineRecord), bad *int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var r outdir.TimelineRecord
		if json.Unmarshal(sc.Bytes(), &r) != nil || !wellFormed(r) {
			*bad++
			continue
		}
		fn(r)
	}
	return sc.Err()
}

// wellFormed says whether a record has the times its event needs.
func wellFormed(r outdir.TimelineRecord) bool {
	switch r.Event {
	case outdir.EventCall:
		return !r.Start.IsZero() && !r.End.Before(r.Start) && r.Slot >= 0
	case outdir.EventCallStart:
		return !r.Start.IsZero() && r.Slot >= 0
	case outdir.EventRunStart:
		return !r.Start.IsZero()
	case outdir.EventRunEnd, outdir.EventTimes:
		return !r.End.IsZero()
	}
	return false // an event this report does not know
}

// gantt is the chart of calls per slot over time.
type gantt struct {
	Width, Height float64
	PlotX, PlotW  float64
	PlotY, PlotH  float64
	Slots         int
	Rows          []label
	SlotTitle     label
	Bars          []bar
	Ticks         []tick
	// Runs marks where each run's calls begin on the time axis, when
	// there are several runs.
	Runs []runMark
	// Balanced is where the job would have ended had the calls' total time
	// been spread evenly over the slots; calls ending after it straggle.
	Balanced     tick
	BalancedLine float64
	End          tick
	Legend       []legendItem
	*timeline
}

type label struct {
	Y     float64
	Label string
	X     float64
}

// tick is a label at X, with the text-anchor that keeps it inside its
// chart.
type tick struct {
	X      float64
	Label  string
	Anchor string
	// At is the position the label stands for, which X may be moved
	// from to keep the text inside.
	At float64
}

type runMark struct {
	X     float64
	Label tick
	Title string
	First bool
}

type bar struct {
	X, Y, W, H float64
	Class      string
	outdir.CallRecord
	StartS, Seconds float64 // on the drawn time
	Lost, Live      bool
}

// Title is the bar's tooltip.
func (b bar) Title() string {
	s := fmt.Sprintf("run %d, %s attempt %d (%s): %d elements, %d results, %s from %s",
		max(b.Run, 1), b.Batch, b.Attempt, b.Reason, b.Elements, b.Results, seconds(b.Seconds), seconds(b.StartS))
	if b.Failure != "" {
		s += ", failed: " + b.Failure
	}
	if b.CallRecord.Stopped {
		s += ", stopped to split"
	}
	if b.Lost {
		s += ", lost: in flight when the run was killed (drawn to its last recorded instant)"
	}
	if b.Live {
		s += ", running"
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

// newGantt draws the timeline: it streams the file again to keep at most
// maxCalls ended calls to draw, and draws every lost one. also, when set,
// is given every call, lost ones included, as the chart is drawn.
func newGantt(path string, tl *timeline, maxCalls int, also func(outdir.CallRecord)) (*gantt, error) {
	g := &gantt{Width: chartWidth, PlotY: 8, Slots: tl.Slots, timeline: tl}
	if len(tl.Runs) > 1 {
		g.PlotY += runLabels
	}
	for _, k := range reasons {
		if n := tl.byReason["r-"+k.name]; n > 0 {
			g.Legend = append(g.Legend, legendItem{"r-" + k.name, k.label, n})
		}
	}
	if n := tl.byReason["r-other"]; n > 0 {
		g.Legend = append(g.Legend, legendItem{"r-other", "another reason", n})
	}

	rowH := math.Max(3, math.Min(24, 560/float64(g.Slots)))
	labelEvery := int(math.Ceil(14 / rowH)) // keep labels 14px apart
	var rowLabels []string
	for s := range g.Slots {
		if s%labelEvery == 0 {
			rowLabels = append(rowLabels, strconv.Itoa(s))
		}
	}
	// The slot numbers, right-aligned, and the rotated "slot" title left
	// of them.
	g.PlotX = 20 + widest(rowLabels) + 6
	g.PlotW = g.Width - g.PlotX - plotRight
	g.PlotH = rowH * float64(g.Slots)
	g.Height = g.PlotY + g.PlotH + axisHeight
	g.SlotTitle = label{Y: g.PlotY + g.PlotH/2, X: 12, Label: "slot"}
	for i, s := range rowLabels {
		g.Rows = append(g.Rows, label{Y: g.PlotY + (float64(i*labelEvery)+0.5)*rowH, Label: s, X: g.PlotX - 6})
	}
	span := max(tl.Active, 1e-6)
	xAt := func(v float64) float64 { return g.PlotX + v/span*g.PlotW }
	lo, hi := 1.0, g.Width-1
	for _, v := range niceTicks(0, span, 8) {
		g.Ticks = append(g.Ticks, fit(xAt(v), seconds(v), lo, hi, "middle"))
	}
	g.BalancedLine = xAt(tl.Balanced)
	g.Balanced = fit(g.BalancedLine+4, "balanced "+seconds(tl.Balanced), lo, hi, "start")
	if g.Balanced.X < g.BalancedLine { // no room right of the line: left of it
		g.Balanced = fit(g.BalancedLine-4, g.Balanced.Label, lo, hi, "end")
	}
	g.End = fit(xAt(span), "end "+seconds(span), lo, hi, "end")
	if len(tl.Runs) > 1 {
		var prev *runInfo
		for i, r := range tl.Runs {
			if r.First.IsZero() {
				continue // a run that made no call has no stretch to mark
			}
			text := fmt.Sprintf("run %d", r.N)
			if r.Killed {
				text += " (killed)"
			}
			m := runMark{X: xAt(r.offset), First: i == 0, Title: fmt.Sprintf("run %d: %s of calls", r.N, seconds(r.Span()))}
			if prev != nil {
				m.Title += fmt.Sprintf(", begun %s after run %d's last instant; the time between is not drawn", seconds(r.First.Sub(prev.segEnd()).Seconds()), prev.N)
			}
			m.Label = fit(m.X+4, text, lo, hi, "start")
			g.Runs = append(g.Runs, m)
			prev = r
		}
	}

	keep := &callHeap{}
	err := scanTimeline(path, func(rec outdir.TimelineRecord) {
		if rec.Event != outdir.EventCall {
			return
		}
		r := rec.CallRecord
		if also != nil {
			also(r)
		}
		if keep.Len() < maxCalls {
			heap.Push(keep, r)
		} else if keep.Len() > 0 && outranks(r, (*keep)[0]) {
			(*keep)[0] = r
			heap.Fix(keep, 0)
		}
	}, new(int))
	if err != nil {
		return nil, err
	}
	type drawn struct {
		outdir.CallRecord
		lost bool
	}
	var calls []drawn
	for _, c := range *keep {
		calls = append(calls, drawn{c, false})
	}
	for _, r := range tl.Runs {
		for _, c := range r.lost {
			calls = append(calls, drawn{c, true})
			if also != nil {
				also(c)
			}
		}
	}
	slices.SortFunc(calls, func(a, b drawn) int {
		return cmp.Or(cmp.Compare(max(a.Run, 1), max(b.Run, 1)), a.Start.Compare(b.Start), a.Slot-b.Slot)
	})
	for _, d := range calls {
		c := d.CallRecord
		r := tl.run(c.Run)
		start, end := tl.at(r, c.Start), tl.at(r, c.End)
		x := xAt(start)
		b := bar{
			X: x, Y: g.PlotY + float64(c.Slot)*rowH + rowH*0.1, W: math.Max(xAt(end)-x, 0.5), H: math.Max(rowH*0.8, 2),
			CallRecord: c, StartS: start, Seconds: c.End.Sub(c.Start).Seconds(),
		}
		b.Class = "bar " + reasonClass(c.Reason)
		if d.lost {
			b.Lost, b.Live = !r.Live, r.Live
		}
		switch {
		case b.Live:
			b.Class += " running"
		case b.Lost:
			b.Class += " lost"
		}
		if c.Failure != "" {
			b.Class += " failed"
		}
		if c.Stopped {
			b.Class += " stopped"
		}
		g.Bars = append(g.Bars, b)
	}
	return g, nil
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
