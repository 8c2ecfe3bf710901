package report_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
	"github.com/gridrun/gridrun/outdir"
	"github.com/gridrun/gridrun/report"
)

// repoFile returns a file of the repository, failing when it is missing.
func repoFile(t *testing.T, rel, hint string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", rel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing (%s)", rel, hint)
	}
	return p
}

// The report of a real job, opened in a real browser: the Gantt chart has
// one bar per call of the timeline, and the screenshot shows it drawn.
func TestTheReportRendersInChromium(t *testing.T) {
	browser := testbin.Chromium(t)
	pricer := repoFile(t, "bin/pricer", "run make build")
	trades := repoFile(t, "testdata/trades.jsonl", "the demo's trades")
	quotes := repoFile(t, "testdata/quotes.csv", "the demo's quotes")

	// The demo's 1,000 trades and three that cannot be priced, one of each
	// kind: a strike that is not a number, a negative strike, an
	// underlying without a quote.
	in := filepath.Join(t.TempDir(), "trades.jsonl")
	data, err := os.ReadFile(trades)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, []byte(`{"id":"BAD1","underlying":"AAPL","type":"CALL","style":"EUROPEAN","strike":"high","expiry":1,"quantity":1}
{"id":"NEG1","underlying":"AAPL","type":"CALL","style":"EUROPEAN","strike":-5,"expiry":1,"quantity":1}
{"id":"NOQ1","underlying":"ZZZZ","type":"CALL","style":"EUROPEAN","strike":5,"expiry":1,"quantity":1}
`)...)
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	m, err := grid.Run(context.Background(), grid.Job{
		Binary: pricer, Inputs: []string{in}, Output: out, BatchSize: 50, Parallelism: 2,
		CacheDir: t.TempDir(), Join: &grid.JoinSpec{Source: quotes, Key: "{underlying}"},
	}, &grid.Hooks{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if m.Results != 1000 || m.DeadLetters != 3 {
		t.Fatalf("%d results and %d dead letters, want 1000 and 3", m.Results, m.DeadLetters)
	}
	page, err := report.Write(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	calls := lines(t, filepath.Join(out, m.Timeline))
	if calls < 10 {
		t.Fatalf("%d calls in the timeline; 1,003 elements in batches of 50 make at least 20", calls)
	}

	dom := testbin.Headless(t, browser, "--dump-dom", "file://"+page)
	bars := regexp.MustCompile(`<rect class="bar[ "]`).FindAll(dom, -1)
	if len(bars) != calls {
		t.Errorf("the rendered chart has %d bars, the timeline %d calls", len(bars), calls)
	}
	for _, kind := range []string{"bad_input", "element_error", "missing_join"} {
		if !bytes.Contains(dom, []byte(`id="dead-`+kind+`"`)) {
			t.Errorf("the rendered report lacks the dead letters of kind %s", kind)
		}
	}

	shot := filepath.Join(t.TempDir(), "report.png")
	testbin.Headless(t, browser, "--screenshot="+shot, "--window-size=1400,1000", "file://"+page)
	checkChartPainted(t, shot)
}

// lines counts the calls of a timeline: its lines without an event.
func lines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var r struct {
			Event *string `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Event == nil {
			n++
		}
	}
	return n
}

// checkChartPainted finds the pixels of the bars' colour (--batch in the
// page's CSS) and checks the area they span holds more than the bars and
// the background: gaps, axis, labels, the balanced-finish line.
func checkChartPainted(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	barColor := color.RGBA{0x4e, 0x79, 0xa7, 0xff}
	b := img.Bounds()
	area := image.Rectangle{Min: b.Max, Max: b.Min}
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)) == barColor {
				n++
				area = area.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	if n < 2000 {
		t.Fatalf("%d pixels of the bar colour in the screenshot: the chart was not drawn", n)
	}
	colors := map[color.Color]bool{}
	for y := area.Min.Y; y < area.Max.Y; y++ {
		for x := area.Min.X; x < area.Max.X; x++ {
			colors[color.RGBAModel.Convert(img.At(x, y))] = true
		}
	}
	if len(colors) <= 2 {
		t.Errorf("the chart area %v has %d colours, want more than 2", area, len(colors))
	}
}

// A job with crashes, killed outright mid-run with a call in flight and
// resumed to its end: its report, opened in Chromium, marks where run 2
// begins, draws run 1's calls in flight as lost, and no text of any chart
// lies outside its SVG.
func TestAKilledAndResumedJobsReportInChromium(t *testing.T) {
	browser := testbin.Chromium(t)
	gridrun := testbin.Path(t, "gridrun")
	faulty := testbin.Path(t, "faulty")

	// 400 elements of 5ms; three crash; one sleeps a minute the first
	// time it runs (not when resumed), to be in flight at the kill.
	const n = 400
	faults := map[int]string{20: "segv", 150: "segv", 250: "segv", 100: "stuck-first:60000"}
	for i := range n {
		if _, ok := faults[i]; !ok {
			faults[i] = "sleep:5"
		}
	}
	input := testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(n, faults)...)
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"run", "--binary", faulty, "--input", input, "--output", out, "--batch-size", "10",
		"--parallelism", "2", "--commit-interval", "100ms", "--env", "FAULTY_STATE_DIR=" + t.TempDir()}
	env := append(os.Environ(), "GRIDRUN_CACHE_DIR="+t.TempDir())

	// Run 1, killed once a call has been in flight for 700ms: the stuck
	// one, as the others take about 60ms.
	cmd := exec.Command(gridrun, args...)
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	timeline := filepath.Join(out, "_gridrun", "timeline.jsonl")
	deadline := time.After(2 * time.Minute)
	openSince := map[int64]time.Time{}
	for killed := false; !killed; {
		select {
		case err := <-exited:
			t.Fatalf("run 1 ended before the kill: %v", err)
		case <-deadline:
			cmd.Process.Kill()
			<-exited
			t.Fatal("no call stayed in flight for 700ms within 2 minutes")
		case <-time.After(20 * time.Millisecond):
		}
		now := time.Now()
		open := openCalls(t, timeline)
		for seq := range openSince {
			if !open[seq] {
				delete(openSince, seq)
			}
		}
		for seq := range open {
			if _, ok := openSince[seq]; !ok {
				openSince[seq] = now
			} else if now.Sub(openSince[seq]) >= 700*time.Millisecond {
				killed = true
			}
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited

	resume := exec.Command(gridrun, append(args, "--resume")...)
	resume.Env = env
	if b, err := resume.CombinedOutput(); err != nil {
		if ee := new(exec.ExitError); !errors.As(err, &ee) || ee.ExitCode() != 3 { // 3: finished with dead letters
			t.Fatalf("resume: %v\n%s", err, b)
		}
	}
	var m outdir.Manifest
	if b, err := os.ReadFile(filepath.Join(out, outdir.ManifestFile)); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Runs != 2 || m.Elements != n || m.DeadLettersByKind[outdir.KindCrash] != 3 {
		t.Fatalf("manifest: %d runs, %d elements, %v dead letters; want 2 runs, %d elements, 3 crashes", m.Runs, m.Elements, m.DeadLettersByKind, n)
	}

	// What the timeline says, read here apart from the report: calls
	// ended, and calls of run 1 begun and never ended.
	ended, lost := 0, 0
	starts := map[[2]int64]bool{}
	testbin.ScanLines(t, filepath.Join(out, "_gridrun"), "timeline.jsonl", func(where string, line []byte) {
		var r struct {
			Event string `json:"event"`
			Run   int64  `json:"run"`
			Seq   int64  `json:"seq"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		switch r.Event {
		case "start":
			starts[[2]int64{r.Run, r.Seq}] = true
		case "":
			ended++
			delete(starts, [2]int64{r.Run, r.Seq})
		}
	})
	for k := range starts {
		if k[0] != 1 {
			t.Errorf("run %d's call %d never ended, yet the run finished", k[0], k[1])
		}
		lost++
	}
	if lost == 0 {
		t.Fatal("no call of run 1 was in flight at the kill")
	}

	page, err := report.Write(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	// The check runs in the page: each text element's box against its
	// SVG's, as laid out; the results go into the DOM Chromium dumps.
	checked := filepath.Join(filepath.Dir(page), "checked.html")
	script := `<script>
const clipped = []; let texts = 0;
for (const svg of document.querySelectorAll("svg")) {
  const s = svg.getBoundingClientRect();
  for (const t of svg.querySelectorAll("text")) {
    texts++;
    const b = t.getBoundingClientRect();
    if (b.width === 0) { clipped.push("empty: " + t.textContent); continue; }
    if (b.left < s.left - 0.5 || b.right > s.right + 0.5 || b.top < s.top - 0.5 || b.bottom > s.bottom + 0.5)
      clipped.push(t.textContent + " [" + [b.left, b.right, b.top, b.bottom].map(Math.round) + "] outside [" + [s.left, s.right, s.top, s.bottom].map(Math.round) + "]");
  }
}
document.body.insertAdjacentHTML("beforeend", "<pre id=check data-texts=" + texts + ">" + clipped.join("\n").replace(/</g, "&lt;") + "</pre>");
</script></body>`
	if err := os.WriteFile(checked, bytes.Replace(html, []byte("</body>"), []byte(script), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := testbin.Headless(t, browser, "--window-size=1400,1000", "--virtual-time-budget=5000", "--dump-dom", "file://"+checked)
	check := regexp.MustCompile(`(?s)<pre id="check" data-texts="(\d+)">(.*?)</pre>`).FindSubmatch(dom)
	if check == nil {
		t.Fatalf("the page's check did not run:\n%s", dom)
	}
	if texts, _ := strconv.Atoi(string(check[1])); texts < 20 {
		t.Errorf("the check saw %d text elements in the charts, want at least 20", texts)
	}
	if len(bytes.TrimSpace(check[2])) > 0 {
		t.Errorf("text outside its chart:\n%s", check[2])
	}

	bars := regexp.MustCompile(`<rect class="bar [^"]*"`).FindAll(dom, -1)
	lostBars := regexp.MustCompile(`<rect class="bar [^"]*\blost\b[^"]*"[^>]*data-run="1"`).FindAll(dom, -1)
	if len(bars) != ended+lost || len(lostBars) != lost {
		t.Errorf("%d bars, %d of them lost; the timeline has %d calls ended and %d lost", len(bars), len(lostBars), ended, lost)
	}
	for _, want := range []string{`data-run-label="run 1 (killed)"`, `data-run-label="run 2"`, `class="run-marker"`,
		`<span>crash</span><b>3</b>`, `>smallest batch `, `id="run-2"`} {
		if !bytes.Contains(dom, []byte(want)) {
			t.Errorf("the rendered report lacks %s", want)
		}
	}

	shot := filepath.Join(t.TempDir(), "report.png")
	testbin.Headless(t, browser, "--screenshot="+shot, "--window-size=1400,1000", "file://"+page)
	checkChartPainted(t, shot)
}

// openCalls returns the calls of the timeline begun and not ended, by
// their sequence number, for a job of one run.
func openCalls(t *testing.T, path string) map[int64]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil // not yet written
	}
	open := map[int64]bool{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		var r struct {
			Event string `json:"event"`
			Seq   int64  `json:"seq"`
		}
		if json.Unmarshal(line, &r) != nil {
			continue
		}
		switch r.Event {
		case "start":
			open[r.Seq] = true
		case "":
			delete(open, r.Seq)
		}
	}
	return open
}
