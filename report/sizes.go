package report

import (
	"fmt"

	"github.com/gridrun/gridrun/jobspec"
	"github.com/gridrun/gridrun/outdir"
)

// sizes is the chart of elements per call over the drawn time, per time
// bucket: the mean and the range of the calls that started in it.
type sizes struct {
	Width, Height float64
	PlotX, PlotW  float64
	PlotY, PlotH  float64
	Points        []sizePoint
	XTicks        []tick
	YTicks        []label
	// Lines mark the range of batch sizes the runs chose (the smallest
	// and the largest first call of a batch), or the fixed size.
	Lines []sizeLine
	Max   int
	// Note says what the lines are.
	Note string
}

type sizeLine struct {
	Y      float64
	Label  tick
	LabelY float64
}

type sizePoint struct {
	X, Y, YMin, YMax float64
	Calls            int
	Mean             float64
	Min, Max         int
	Title            string
}

type sizeBucket struct {
	n, sum   int
	min, max int
}

type sizeAcc struct {
	s       *sizes
	tl      *timeline
	buckets []sizeBucket
}

// newSizes lays out the chart for the timeline's calls; the job's batch
// options say what its lines mean.
func newSizes(tl *timeline, job jobspec.Job) *sizeAcc {
	const height = 220.0
	s := &sizes{Width: chartWidth, Height: height, PlotY: 10, PlotH: height - 10 - axisHeight}
	lo, hi := 0, 0
	for _, r := range tl.Runs {
		if r.BatchMax > 0 {
			if lo == 0 || r.BatchMin < lo {
				lo = r.BatchMin
			}
			hi = max(hi, r.BatchMax)
		}
	}
	var lines []refLine
	switch {
	case job.FixedBatchSize && job.BatchSize > 0:
		lines = append(lines, refLine{job.BatchSize, "--batch-size " + count(int64(job.BatchSize))})
		s.Note = fmt.Sprintf("The dashed line is the fixed --batch-size (%s).", count(int64(job.BatchSize)))
	case hi > 0:
		lines = append(lines, refLine{lo, "smallest batch " + count(int64(lo))})
		if hi != lo {
			lines = append(lines, refLine{hi, "largest batch " + count(int64(hi))})
		}
		s.Note = fmt.Sprintf("The dashed lines are the smallest and the largest batch the runs made (%s to %s elements, first calls of a batch)", count(int64(lo)), count(int64(hi)))
		if job.MaxBatchSize > 0 {
			s.Note += fmt.Sprintf(": the adaptive sizer chooses from %s to %s, starting at --batch-size %s",
				count(int64(job.MinBatchSize)), count(int64(job.MaxBatchSize)), count(int64(job.BatchSize)))
		}
		s.Note += "."
	}
	top := tl.MaxElements
	for _, l := range lines {
		top = max(top, l.v)
	}
	s.Max = max(top, 1)
	var yLabels []string
	yValues := niceTicks(0, float64(s.Max), 4)
	for _, v := range yValues {
		yLabels = append(yLabels, count(int64(v)))
	}
	s.PlotX = widest(yLabels) + 12
	s.PlotW = s.Width - s.PlotX - plotRight
	for i, v := range yValues {
		s.YTicks = append(s.YTicks, label{Y: s.y(v), Label: yLabels[i], X: s.PlotX - 6})
	}
	span := max(tl.Active, 1e-6)
	for _, v := range niceTicks(0, span, 8) {
		s.XTicks = append(s.XTicks, fit(s.PlotX+v/span*s.PlotW, seconds(v), 1, s.Width-1, "middle"))
	}
	prevY := -100.0
	for _, l := range lines {
		y := s.y(float64(l.v))
		ly := y - 4                    // above the line
		if prevY-y < 14 && prevY > 0 { // too near the line below: beside it, below
			ly = y + 13
		}
		if ly < s.PlotY+10 {
			ly = y + 13
		}
		s.Lines = append(s.Lines, sizeLine{Y: y, LabelY: ly, Label: fit(s.PlotX+s.PlotW-4, l.text, s.PlotX, s.PlotX+s.PlotW, "end")})
		prevY = y
	}
	return &sizeAcc{s: s, tl: tl, buckets: make([]sizeBucket, max(min(tl.Calls+tl.Lost, 120), 1))}
}

func (s *sizes) y(v float64) float64 { return s.PlotY + s.PlotH - v/float64(s.Max)*s.PlotH }

func (a *sizeAcc) add(c outdir.CallRecord) {
	r := a.tl.run(c.Run)
	span := max(a.tl.Active, 1e-6)
	i := int(a.tl.at(r, c.Start) / span * float64(len(a.buckets)))
	i = min(max(i, 0), len(a.buckets)-1)
	b := &a.buckets[i]
	if b.n == 0 || c.Elements < b.min {
		b.min = c.Elements
	}
	b.max = max(b.max, c.Elements)
	b.n++
	b.sum += c.Elements
}

func (a *sizeAcc) finish() *sizes {
	s := a.s
	w := max(a.tl.Active, 1e-6) / float64(len(a.buckets))
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

// refLine is a batch size the chart marks with a dashed line.
type refLine struct {
	v    int
	text string
}
