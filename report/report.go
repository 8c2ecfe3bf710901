package report

import (
	"bytes"
	"cmp"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gridrun/gridrun/outdir"
)

// FileName is the report's name in the output directory.
const FileName = "report.html"

// Options tune a report. The zero value is usable.
type Options struct {
	// MaxCalls caps the calls drawn in the Gantt chart. Defaults to 20,000.
	MaxCalls int
	// Examples is the number of dead letters shown per kind. Defaults to 5.
	Examples int
	// Now, when set, takes the job's last run as still going (a live
	// view): its calls without an end are drawn running up to Now, not
	// lost. Zero for a finished job.
	Now time.Time
}

func (o *Options) withDefaults() Options {
	var v Options
	if o != nil {
		v = *o
	}
	v.MaxCalls = cmp.Or(v.MaxCalls, 20000)
	v.Examples = cmp.Or(v.Examples, 5)
	return v
}

// Write writes the report of the job in dir to dir/report.html and
// returns its path. The job must have finished (its manifest written).
func Write(dir string, opts *Options) (string, error) {
	var buf bytes.Buffer
	if err := Render(&buf, dir, opts); err != nil {
		return "", err
	}
	path := filepath.Join(dir, FileName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return path, nil
}

// Render writes the report of the job in dir to w.
func Render(w io.Writer, dir string, opts *Options) error {
	o := opts.withDefaults()
	raw, err := os.ReadFile(filepath.Join(dir, outdir.ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s has no manifest.json: the job has not finished (rerun it with --resume to finish it)", dir)
	}
	if err != nil {
		return err
	}
	m, err := outdir.DecodeManifest(raw, filepath.Join(dir, outdir.ManifestFile))
	if err != nil {
		return err
	}
	p := &page{M: m, Options: o}
	var pretty bytes.Buffer
	if json.Indent(&pretty, raw, "", "  ") == nil {
		p.ManifestJSON = pretty.String()
	}
	path := filepath.Join(dir, cmp.Or(m.Timeline, outdir.TimelineFile))
	tl, err := readTimeline(path, o.Now)
	if err != nil {
		return err
	}
	if tl != nil && tl.Calls+tl.Lost > 0 {
		sz := newSizes(tl, m.Options)
		if p.Gantt, err = newGantt(path, tl, o.MaxCalls, sz.add); err != nil {
			return err
		}
		p.Sizes = sz.finish()
		if len(tl.Runs) > 1 {
			p.Runs = tl.Runs
		}
	}
	p.ElementTimes, p.CallTimes = times(m, tl)
	if p.Dead, err = readDeadLetters(dir, m, o.Examples); err != nil {
		return err
	}
	if p.Aggregates, err = readAggregates(dir, m); err != nil {
		return err
	}
	p.Figures = figures(m, tl)
	return pageTemplate.ExecuteTemplate(w, "page", p)
}

// Gantt writes the Gantt chart of a timeline file (outdir.TimelineFile in
// an output directory), its legend and notes, as a fragment of HTML
// styled by Style, for a page of its own: a live view of a running job
// sets opts.Now. A timeline with no call yet writes a note saying so.
func Gantt(w io.Writer, timeline string, opts *Options) error {
	o := opts.withDefaults()
	tl, err := readTimeline(timeline, o.Now)
	if err != nil {
		return err
	}
	var g *gantt
	if tl != nil && tl.Calls+tl.Lost > 0 {
		if g, err = newGantt(timeline, tl, o.MaxCalls, nil); err != nil {
			return err
		}
	}
	return pageTemplate.ExecuteTemplate(w, "gantt", g)
}

// Style returns the CSS of the report's page, which Gantt's fragments
// need: the content of a <style> element.
func Style() string { return pageStyle }

// times returns the histograms of element and call durations over all
// runs: the call times from the timeline's calls, the element times from
// each run's last record of them. A timeline without them (a job run
// before they were recorded) leaves the manifest's, the last run's.
func times(m *outdir.Manifest, tl *timeline) (element, call *histogram) {
	element = newHistogram("per element", "elements", m.ElementTimes)
	call = newHistogram("per call", "calls", m.CallTimes)
	if m.Runs > 1 {
		element.Note, call.Note = "the last run only", "the last run only"
	}
	if tl == nil || tl.Calls == 0 {
		return element, call
	}
	call = newHistogram("per call", "calls", tl.CallTimes)
	call.Note = "every call that ended"
	if len(tl.Runs) > 1 {
		call.Note += fmt.Sprintf(", over the %d runs", len(tl.Runs))
	}
	if tl.Lost > 0 {
		call.Note += fmt.Sprintf("; the %d lost in flight are not counted", tl.Lost)
	}
	var hs []outdir.HistogramSummary
	var without []string
	for _, r := range tl.Runs {
		if r.ElementTimes != nil {
			hs = append(hs, *r.ElementTimes)
		} else {
			without = append(without, strconv.Itoa(r.N))
		}
	}
	if len(hs) == 0 {
		return element, call
	}
	element = newHistogram("per element", "elements", merge(hs...))
	switch {
	case len(tl.Runs) == 1:
	case len(without) == 0:
		element.Note = fmt.Sprintf("over the %d runs", len(tl.Runs))
	default:
		element.Note = fmt.Sprintf("over the runs but run %s, killed before its first commit recorded them", strings.Join(without, ", "))
	}
	if k := tl.Killed(); len(k) > 0 && len(without) < len(tl.Runs) {
		element.Note = strings.TrimPrefix(element.Note+"; a killed run's up to its last commit", "; ")
	}
	return element, call
}

// page is what the template draws.
type page struct {
	M            *outdir.Manifest
	Options      Options
	Figures      []figure
	Runs         []*runInfo // when there are several
	Gantt        *gantt
	Sizes        *sizes
	ElementTimes *histogram
	CallTimes    *histogram
	Dead         []*deadKind
	Aggregates   []*aggTable
	ManifestJSON string
}

// figure is one of the key numbers at the top; Href, when set, links to
// the part of the page that tells more.
type figure struct {
	Label, Value, Note string
	Class, Href        string
}

// figures are the key numbers, over all the job's runs. From the
// timeline: the runs' wall time, without the time between them, and the
// calls (the manifest counts its own run's); without one (a Beam job, or
// no call made), the manifest's.
func figures(m *outdir.Manifest, tl *timeline) []figure {
	f := []figure{
		{Label: "elements", Value: count(m.Elements)},
		{Label: "results", Value: count(m.Results)},
		{Label: "dead letters", Value: count(m.DeadLetters), Href: "#dead-letters"},
	}
	for _, k := range slices.SortedFunc(maps.Keys(m.DeadLettersByKind), func(a, b string) int {
		return cmp.Or(cmp.Compare(m.DeadLettersByKind[b], m.DeadLettersByKind[a]), strings.Compare(a, b))
	}) {
		if n := m.DeadLettersByKind[k]; n > 0 {
			f = append(f, figure{Label: k, Value: count(n), Note: "dead letters", Class: "kind", Href: "#dead-" + k})
		}
	}
	wall, note := m.WallSeconds, ""
	if m.Runs > 1 {
		note = "the last run only"
	}
	if tl != nil && tl.Wall() > 0 {
		wall, note = tl.Wall(), ""
		if len(tl.Runs) > 1 {
			var parts []string
			for _, r := range tl.Runs {
				parts = append(parts, seconds(r.Wall()))
			}
			note = fmt.Sprintf("%d runs: %s", len(tl.Runs), strings.Join(parts, " + "))
			if idle := tl.Idle(); idle > 0 {
				note += fmt.Sprintf("; %s between them not counted", seconds(idle))
			}
		}
	}
	f = append(f, figure{Label: "wall time", Value: seconds(wall), Note: note})
	if wall > 0 {
		f = append(f, figure{Label: "throughput", Value: count(int64(math.Round(float64(m.Elements)/wall))) + "/s", Note: "elements settled per second of wall time"})
	}
	if tl != nil && len(tl.Runs) > 1 {
		var killed []string
		for _, r := range tl.Killed() {
			killed = append(killed, strconv.Itoa(r.N))
		}
		n := ""
		if len(killed) > 0 {
			n = "killed: run " + strings.Join(killed, ", ")
		}
		f = append(f, figure{Label: "runs", Value: strconv.Itoa(len(tl.Runs)), Note: n, Href: "#runs"})
	}
	if tl != nil && tl.Calls+tl.Lost > 0 {
		n := []string{count(m.Batches) + " batches"}
		if tl.Failed > 0 {
			n = append(n, fmt.Sprintf("%s failed", count(int64(tl.Failed))))
		}
		if tl.Lost > 0 {
			n = append(n, fmt.Sprintf("%s lost to a kill", count(int64(tl.Lost))))
		}
		f = append(f, figure{Label: "calls", Value: count(int64(tl.Calls + tl.Lost)), Note: strings.Join(n, ", ")})
	} else {
		f = append(f, figure{Label: "calls", Value: count(m.Calls), Note: count(m.Batches) + " batches"})
	}
	if m.PeakRSSBytes > 0 {
		f = append(f, figure{Label: "peak memory", Value: fmt.Sprintf("%.0f MiB", float64(m.PeakRSSBytes)/(1<<20)), Note: "the runner's resident set, last run"})
	}
	if tl != nil && tl.Slots > 0 && tl.Capacity > 0 {
		n := fmt.Sprintf("of %d slots, first call to last", tl.Slots)
		if len(tl.Runs) > 1 {
			n += " of each run"
		}
		f = append(f, figure{Label: "slots busy", Value: fmt.Sprintf("%.0f%%", 100*tl.Utilization()), Note: n, Href: "#gantt"})
	}
	return f
}

//go:embed report.html.tmpl
var pageSource string

// pageStyle is the page's CSS, the "style" template's text.
var pageStyle = func() string {
	var b strings.Builder
	if err := pageTemplate.ExecuteTemplate(&b, "style", nil); err != nil {
		panic(err) // the template is embedded: a test runs it
	}
	return b.String()
}()

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"count": count,
	"i64":   func(n int) int64 { return int64(n) },
	"addi":  func(a, b int) int { return a + b },
	// began is when the job's first run began: the manifest has the
	// last run's start.
	"began": func(m *outdir.Manifest, runs []*runInfo) time.Time {
		if len(runs) > 0 {
			return cmp.Or(runs[0].Start, runs[0].First, m.Started)
		}
		return m.Started
	},
	"add":     func(a, b float64) float64 { return a + b },
	"sub":     func(a, b float64) float64 { return a - b },
	"div":     func(a, b float64) float64 { return a / b },
	"mul100":  func(a float64) float64 { return 100 * a },
	"list":    func(hs ...*histogram) []*histogram { return hs },
	"seconds": seconds,
	"px":      px,
	"bytes":   byteSize,
	"utc":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000 UTC") },
	"asOf": func(t time.Time) string {
		if t.IsZero() {
			return "latest at read time"
		}
		return t.UTC().Format(time.RFC3339Nano)
	},
}).Parse(pageSource))

// count renders n with thousands separators.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	start := 0
	if n < 0 {
		start = 1
	}
	var b strings.Builder
	for i := range len(s) {
		if i > start && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// seconds renders a duration given in seconds with a unit that suits it.
func seconds(s float64) string {
	switch {
	case s == 0:
		return "0s"
	case s < 1e-6:
		return fmt.Sprintf("%.0fns", s*1e9)
	case s < 1e-3:
		return trimZeros(fmt.Sprintf("%.1f", s*1e6)) + "µs"
	case s < 1:
		return trimZeros(fmt.Sprintf("%.1f", s*1e3)) + "ms"
	case s < 60:
		return trimZeros(fmt.Sprintf("%.2f", s)) + "s"
	}
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// px renders a coordinate for SVG.
func px(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
