package report_test

import (
	"bufio"
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/gridrun/gridrun/grid"
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

// chromium finds the browser the end-to-end test drives: $GRIDRUN_CHROMIUM
// or Debian's chromium. A missing browser fails the test rather than
// skipping it, so that a run without it does not pass unseen.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GRIDRUN_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: `make test` installs it (scripts/deps chromium), or set GRIDRUN_CHROMIUM to a Chromium binary")
	return ""
}

// headless runs Chromium on a page with its network-facing features off.
func headless(t *testing.T, browser string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, browser, append(base, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

// The report of a real job, opened in a real browser: the Gantt chart has
// one bar per call of the timeline, and the screenshot shows it drawn.
func TestTheReportRendersInChromium(t *testing.T) {
	browser := chromium(t)
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

	dom := headless(t, browser, "--dump-dom", "file://"+page)
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
	headless(t, browser, "--screenshot="+shot, "--window-size=1400,1000", "file://"+page)
	checkChartPainted(t, shot)
}

func lines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		n++
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
