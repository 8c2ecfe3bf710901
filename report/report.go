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
	"math"
	"os"
	"path/filepath"
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
	timeline := filepath.Join(dir, cmp.Or(m.Timeline, outdir.TimelineFile))
	if p.Gantt, p.Sizes, err = readTimeline(timeline, o.MaxCalls, m.Options.BatchSize); err != nil {
		return err
	}
	p.ElementTimes = newHistogram("per element", m.ElementTimes)
	p.CallTimes = newHistogram("per call", m.CallTimes)
	if p.Dead, err = readDeadLetters(dir, m, o.Examples); err != nil {
		return err
	}
	p.Figures = figures(m, p.Gantt)
	return pageTemplate.Execute(w, p)
}

// page is what the template draws.
type page struct {
	M            *outdir.Manifest
	Options      Options
	Figures      []figure
	Gantt        *gantt
	Sizes        *sizes
	ElementTimes *histogram
	CallTimes    *histogram
	Dead         []*deadKind
	ManifestJSON string
}

// figure is one of the key numbers at the top.
type figure struct {
	Label, Value, Note string
}

func figures(m *outdir.Manifest, g *gantt) []figure {
	f := []figure{
		{"elements", count(m.Elements), ""},
		{"results", count(m.Results), ""},
		{"dead letters", count(m.DeadLetters), ""},
		{"wall time", seconds(m.WallSeconds), ""},
		{"throughput", count(int64(math.Round(m.ThroughputPerSecond))) + "/s", ""},
		{"calls", count(m.Calls), fmt.Sprintf("%s batches", count(m.Batches))},
	}
	if m.PeakRSSBytes > 0 {
		f = append(f, figure{"peak memory", fmt.Sprintf("%.0f MiB", float64(m.PeakRSSBytes)/(1<<20)), "the runner's resident set"})
	}
	if g != nil && g.Slots > 0 {
		f = append(f, figure{"slots busy", fmt.Sprintf("%.0f%%", 100*g.Utilization), fmt.Sprintf("of %d slots, first call to last", g.Slots)})
	}
	return f
}

//go:embed report.html.tmpl
var pageSource string

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"count":   count,
	"i64":     func(n int) int64 { return int64(n) },
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
