package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gridrun/gridrun/grid"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The storage client's dependencies start this in an init.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func call(slot int, batch, reason string, startMS, endMS int, failure string, stopped bool) grid.CallRecord {
	return grid.CallRecord{Slot: slot, Batch: batch, Attempt: 1, Start: t0.Add(time.Duration(startMS) * time.Millisecond),
		End: t0.Add(time.Duration(endMS) * time.Millisecond), Elements: 4, Results: 4, Reason: reason, Failure: failure, Stopped: stopped}
}

// The synthetic job: 12 calls on 3 slots, one of each reason, two failed,
// one stopped; a torn last line; 10 dead letters of two kinds.
var calls = []grid.CallRecord{
	call(0, "b000000", "batch", 0, 100, "", false),
	call(1, "b000001", "batch", 0, 400, "crash", false),
	call(2, "b000002", "batch", 0, 90, "", false),
	call(0, "b000003", "batch", 100, 180, "", false),
	call(2, "b000004", "batch", 90, 150, "", false),
	call(0, "b000001.1", "isolate", 400, 420, "crash", false),
	call(2, "b000001.2", "isolate", 400, 700, "", true),
	call(1, "b000001.3", "split", 700, 760, "", false),
	call(0, "b000005", "retry", 420, 500, "", false),
	call(1, "b000006", "backup", 420, 480, "", false),
	call(0, "b000007", "speculative", 500, 520, "", false),
	call(1, "b000008", "batch", 150, 170, "", false),
}

func writeJob(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "_gridrun"), 0o755)
	var tl bytes.Buffer
	for _, c := range calls {
		b, _ := json.Marshal(c)
		tl.Write(append(b, '\n'))
	}
	tl.WriteString(`{"slot":0,"batch":"b0000`) // torn by a kill
	os.WriteFile(filepath.Join(dir, "_gridrun", "timeline.jsonl"), tl.Bytes(), 0o644)

	var dl bytes.Buffer
	for i := range 8 {
		d := grid.DeadLetter{ID: fmt.Sprintf("C%d", i), Kind: "crash", Message: "binary crashed: signal 11", Input: "in.jsonl", Line: int64(i + 1),
			ExitCode: 139, Stderr: "Segmentation fault <core>", Element: json.RawMessage(`{"id":"C` + fmt.Sprint(i) + `"}`)}
		if i == 0 { // too long a line to load for an example: skipped
			d.Element = json.RawMessage(`"` + strings.Repeat("x", maxLine) + `"`)
		}
		b, _ := json.Marshal(d)
		dl.Write(append(b, '\n'))
	}
	for i := range 2 {
		b, _ := json.Marshal(grid.DeadLetter{ID: fmt.Sprintf("T%d", i), Kind: "timeout", Message: "call timed out", Element: json.RawMessage(`{"id":"T"}`)})
		dl.Write(append(b, '\n'))
	}
	os.WriteFile(filepath.Join(dir, "dead-letters-00000.jsonl"), dl.Bytes(), 0o644)

	m := grid.Manifest{
		JobID: "job-1", Status: "dead_letters", Started: t0, Finished: t0.Add(time.Second), WallSeconds: 1, Runs: 1,
		Elements: 40, Results: 30, DeadLetters: 10, DeadLettersByKind: map[string]int64{"crash": 8, "timeout": 2},
		Batches: 9, ExecStats: grid.ExecStats{Calls: 12, Retries: 1, Isolations: 2, Splits: 1},
		ElementTimes: grid.HistogramSummary{Count: 3, Sum: 0.3, Min: 0.05, P50: 0.1, P99: 0.15, Max: 0.15,
			Buckets: []grid.Bucket{{LE: 0.0594, Count: 1}, {LE: 0.1, Count: 1}, {LE: 0.1542, Count: 1}}},
		Timeline:        "_gridrun/timeline.jsonl",
		Binary:          grid.BinaryInfo{URI: "bin/pricer", SHA256: strings.Repeat("ab", 32), Version: "1.0.0"},
		Join:            &grid.JoinInfo{Source: "quotes.csv", Key: "{underlying}", MissingPolicy: "dead-letter"},
		DeadLetterFiles: []string{"dead-letters-00000.jsonl"},
		ResultFiles:     []string{},
		Options:         grid.Job{BatchSize: 4, Parallelism: 3},
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644)
	return dir
}

func render(t *testing.T, dir string, o *Options) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, dir, o); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

var barRE = regexp.MustCompile(`<rect class="bar ([^"]*)"[^>]*data-batch="([^"]*)"`)

func TestEveryCallIsOneBarMarkedByItsReason(t *testing.T) {
	html := render(t, writeJob(t), nil)
	bars := barRE.FindAllStringSubmatch(html, -1)
	if len(bars) != len(calls) {
		t.Fatalf("%d bars, want one per call: %d", len(bars), len(calls))
	}
	class := map[string]string{}
	for _, b := range bars {
		class[b[2]] = b[1]
	}
	for batch, want := range map[string]string{
		"b000000": "r-batch", "b000001": "r-batch failed", "b000001.1": "r-isolate failed", "b000001.2": "r-isolate stopped",
		"b000001.3": "r-split", "b000005": "r-retry", "b000006": "r-backup", "b000007": "r-other",
	} {
		if class[batch] != want {
			t.Errorf("bar of %s has class %q, want %q", batch, class[batch], want)
		}
	}
	for _, want := range []string{
		"batch: first call of a batch (6)", "isolate: a suspect alone, or the rest of a failed call (2)", "retry: the call again after a transient failure (1)",
		"split: the remainder of a call stopped to split it (1)", "backup: a second copy of a straggling call (1)", "another reason (1)",
		"failed call, red outline (2)", "stopped to split, faded (1)",
		"1 timeline lines could not be read",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// 1,290ms of calls over 3 slots: balanced at 430ms; the last call
	// ends at 760ms.
	if !strings.Contains(html, "balanced 430ms") || !strings.Contains(html, "end 760ms") {
		t.Error("report lacks the balanced finish at 430ms and the end at 760ms")
	}
	if strings.Contains(html, "calls drawn") {
		t.Error("report says calls were left out of a small job")
	}
}

func TestTooManyCallsDrawsTheNotableOnesAndSaysSo(t *testing.T) {
	html := render(t, writeJob(t), &Options{MaxCalls: 8})
	bars := barRE.FindAllStringSubmatch(html, -1)
	if len(bars) != 8 {
		t.Fatalf("%d bars, want 8", len(bars))
	}
	got := map[string]bool{}
	for _, b := range bars {
		got[b[2]] = true
	}
	// 7 notable calls, then the longest plain one (b000001, 400ms, failed
	// so notable too): the eighth is the longest plain call, b000000.
	for _, b := range []string{"b000001", "b000001.1", "b000001.2", "b000001.3", "b000005", "b000006", "b000007", "b000000"} {
		if !got[b] {
			t.Errorf("call %s not drawn; drawn: %v", b, got)
		}
	}
	if !strings.Contains(html, "8 of 12 calls drawn") {
		t.Error(`report does not say "8 of 12 calls drawn"`)
	}
}

func TestDeadLettersAreGroupedWithCappedExamples(t *testing.T) {
	html := render(t, writeJob(t), &Options{Examples: 3})
	crash := html[strings.Index(html, `id="dead-crash"`):]
	crash = crash[:strings.Index(crash, `id="dead-timeout"`)]
	if n := strings.Count(crash, "<details>"); n != 3 {
		t.Errorf("%d crash examples, want 3", n)
	}
	if !strings.Contains(crash, "crash: 8") || !strings.Contains(html, "timeout: 2") {
		t.Error("report lacks the counts crash: 8 and timeout: 2")
	}
	if strings.Contains(crash, "<code>C0</code>") {
		t.Error("the example with a 1 MiB line was loaded")
	}
	for _, want := range []string{"<code>C1</code>", "<code>in.jsonl:2</code>", "Segmentation fault &lt;core&gt;", "139"} {
		if !strings.Contains(crash, want) {
			t.Errorf("crash examples lack %q", want)
		}
	}
}

func TestTheReportFetchesNothing(t *testing.T) {
	html := render(t, writeJob(t), nil)
	for _, bad := range []string{"<script", "<link", "@import", "src=", "url(http", "@font-face"} {
		if strings.Contains(html, bad) {
			t.Errorf("report holds %q", bad)
		}
	}
	// Links go to parts of the page, never out of it.
	for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(html, -1) {
		if !strings.HasPrefix(m[1], "#") {
			t.Errorf("report links to %q", m[1])
		}
	}
}

func TestAnUnfinishedJobHasNoReport(t *testing.T) {
	dir := t.TempDir()
	_, err := Write(dir, nil)
	if err == nil || !strings.Contains(err.Error(), "has not finished") {
		t.Fatalf("err = %v, want one saying the job has not finished", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err == nil {
		t.Error("a report was written")
	}
}

func TestNiceTicks(t *testing.T) {
	got := fmt.Sprint(niceTicks(0, 0.76, 8))
	if got != "[0 0.1 0.2 0.3 0.4 0.5 0.6 0.7]" {
		t.Errorf("niceTicks(0, 0.76, 8) = %s", got)
	}
}
