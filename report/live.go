package report

import (
	"html/template"
	"io"
	"path/filepath"
	"strings"

	"github.com/gridrun/gridrun/outdir"
)

// WriteGantt writes the report's Gantt chart of the calls the job in dir
// has made so far, with its notes and legend, as an HTML fragment: the
// chart of a page that shows a running job (gridrun run --listen). Unlike
// Render it needs no manifest, since the engine writes each call's line of
// the timeline as the call ends. Style styles the fragment.
func WriteGantt(w io.Writer, dir string, opts *Options) error {
	o := opts.withDefaults()
	g, _, err := readTimeline(filepath.Join(dir, outdir.TimelineFile), o.MaxCalls, 0)
	if err != nil {
		return err
	}
	if g == nil {
		_, err := io.WriteString(w, `<p class="note">No call has ended yet.</p>`)
		return err
	}
	return pageTemplate.ExecuteTemplate(w, "gantt", g)
}

// Style returns the report's style sheet, for a page that shows its
// charts.
func Style() template.CSS { return styleSheet }

// styleSheet is the page template's style block, constant text: made when
// the package loads, as the template is parsed, so that a broken one fails
// every test.
var styleSheet = func() template.CSS {
	var b strings.Builder
	if err := pageTemplate.ExecuteTemplate(&b, "style", nil); err != nil {
		panic(err)
	}
	return template.CSS(b.String())
}()
