package report_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gridrun/gridrun/outdir"
	"github.com/gridrun/gridrun/report"
)

// The live Gantt chart is drawn from the timeline alone, before the job
// has a manifest: one bar per call written so far, styled by Style.
func TestTheGanttOfARunningJobNeedsNoManifest(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	if err := report.Gantt(&b, filepath.Join(dir, outdir.TimelineFile), nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "No subprocess call was made") {
		t.Errorf("before any call, the fragment is %q", b.String())
	}

	os.MkdirAll(filepath.Join(dir, outdir.StateDir), 0o755)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var tl bytes.Buffer
	for i, c := range []struct {
		slot   int
		reason string
	}{{0, "batch"}, {1, "batch"}, {0, "isolate"}} {
		start := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		line, _ := json.Marshal(outdir.CallRecord{Run: 1, Slot: c.slot, Batch: "b", Attempt: 1, Start: start, End: start.Add(150 * time.Millisecond), Elements: 5, Reason: c.reason})
		tl.Write(append(line, '\n'))
	}
	if err := os.WriteFile(filepath.Join(dir, outdir.TimelineFile), tl.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := report.Gantt(&b, filepath.Join(dir, outdir.TimelineFile), nil); err != nil {
		t.Fatal(err)
	}
	frag := b.String()
	if strings.Contains(frag, "<html") || strings.Contains(frag, "<style") {
		t.Errorf("the fragment is a page, not a chart:\n%s", frag)
	}
	if !strings.Contains(frag, `id="gantt-chart"`) {
		t.Fatalf("no chart in the fragment:\n%s", frag)
	}
	if n := len(regexp.MustCompile(`<rect class="bar[ "]`).FindAllString(frag, -1)); n != 3 {
		t.Errorf("%d bars, the timeline has 3 calls", n)
	}
	css := report.Style()
	for _, class := range []string{".bar", ".r-batch", ".r-isolate", ".balanced"} {
		if !strings.Contains(css, class) {
			t.Errorf("the style sheet does not style %s", class)
		}
	}
	if strings.Contains(css, "<") {
		t.Errorf("the style sheet holds markup: %q", css)
	}
}
