package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridrun/gridrun/outdir"
)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func started(run int, seq int64, slot int, batch string, elements, ms int) outdir.TimelineRecord {
	return outdir.TimelineRecord{Event: outdir.EventCallStart, CallRecord: outdir.CallRecord{Run: run, Seq: seq, Slot: slot, Batch: batch, Attempt: 1,
		Start: at(ms), Elements: elements, Reason: "batch"}}
}

func ended(s outdir.TimelineRecord, ms int, failure string) outdir.TimelineRecord {
	e := s
	e.Event, e.End, e.Failure, e.Results = outdir.EventCall, at(ms), failure, s.Elements
	return e
}

func runEvent(event string, run, ms int, elementTimes ...float64) outdir.TimelineRecord {
	r := outdir.TimelineRecord{Event: event, CallRecord: outdir.CallRecord{Run: run}}
	if event == outdir.EventRunStart {
		r.Start = at(ms)
	} else {
		r.End = at(ms)
	}
	if len(elementTimes) > 0 {
		var d durations
		for _, v := range elementTimes {
			d.add(v)
		}
		s := d.summary()
		r.ElementTimes = &s
	}
	return r
}

// A job killed once and resumed: run 1 ran two calls to their end and was
// killed with two more in flight (its last record, its element times at
// its last commit, at 180ms); run 2 began 10s later and ran three calls.
func killedAndResumed() []outdir.TimelineRecord {
	a, b := started(1, 1, 0, "b000000", 10, 0), started(1, 2, 1, "b000001", 30, 0)
	c, d := started(1, 3, 0, "b000002", 20, 100), started(1, 4, 1, "b000003", 20, 150)
	e, f := started(2, 1, 0, "b000004", 20, 10050), started(2, 2, 1, "b000005", 20, 10050)
	g := started(2, 3, 1, "b000006", 5, 10150)
	return []outdir.TimelineRecord{
		runEvent(outdir.EventRunStart, 1, 0 /* ms */), a, b, ended(a, 100, ""), c, ended(b, 150, "crash"), d,
		runEvent(outdir.EventTimes, 1, 180, 0.01, 0.02, 0.04),
		runEvent(outdir.EventRunStart, 2, 10000), e, f, ended(f, 10150, ""), g, ended(g, 10200, ""), ended(e, 10250, ""),
		runEvent(outdir.EventRunEnd, 2, 10300, 0.01, 0.08),
	}
}

func writeRuns(t *testing.T, recs []outdir.TimelineRecord, m outdir.Manifest) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, outdir.StateDir), 0o755); err != nil {
		t.Fatal(err)
	}
	var tl bytes.Buffer
	for _, r := range recs {
		tl.Write(append(r.Encode(), '\n'))
	}
	if err := os.WriteFile(filepath.Join(dir, outdir.TimelineFile), tl.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	m.Timeline = outdir.TimelineFile
	b, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, outdir.ManifestFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// expectations computes from the records, apart from the report's code,
// what its figures must be: per run, the calls' spans with a call never
// ended ending at the run's last record, and the runs laid end to end.
type expectations struct {
	active, busy, capacity, idle, wall float64
	lost                               int
	run2Offset                         float64
}

func expect(recs []outdir.TimelineRecord) expectations {
	type span struct{ first, lastEnd, last, start, end time.Time }
	var x expectations
	runs := map[int]*span{}
	open := map[[2]int64]outdir.CallRecord{}
	slots := map[int]int{}
	busy := map[int]float64{}
	for _, r := range recs {
		s := runs[r.Run]
		if s == nil {
			s = &span{}
			runs[r.Run] = s
		}
		for _, ts := range []time.Time{r.Start, r.End} {
			if ts.After(s.last) {
				s.last = ts
			}
		}
		switch r.Event {
		case "run":
			s.start = r.Start
		case "run_end":
			s.end = r.End
		case "start":
			open[[2]int64{int64(r.Run), r.Seq}] = r.CallRecord
		case "":
			delete(open, [2]int64{int64(r.Run), r.Seq})
			busy[r.Run] += r.End.Sub(r.Start).Seconds()
			if s.first.IsZero() || r.Start.Before(s.first) {
				s.first = r.Start
			}
			if r.End.After(s.lastEnd) {
				s.lastEnd = r.End
			}
			slots[r.Run] = max(slots[r.Run], r.Slot+1)
		}
	}
	for k, c := range open {
		s := runs[int(k[0])]
		busy[int(k[0])] += s.last.Sub(c.Start).Seconds()
		s.lastEnd = s.last
		slots[int(k[0])] = max(slots[int(k[0])], c.Slot+1)
		x.lost++
	}
	var prevEnd time.Time
	for n := 1; n <= len(runs); n++ {
		s := runs[n]
		if n == 2 {
			x.run2Offset = x.active
		}
		sp := s.lastEnd.Sub(s.first).Seconds()
		x.active += sp
		x.busy += busy[n]
		x.capacity += sp * float64(slots[n])
		if !prevEnd.IsZero() {
			x.idle += s.first.Sub(prevEnd).Seconds()
		}
		prevEnd = s.lastEnd
		end := s.end
		if end.IsZero() {
			end = s.last
		}
		x.wall += end.Sub(s.start).Seconds()
	}
	return x
}

func TestAResumedJobsReportCoversEveryRunWithoutTheTimeBetween(t *testing.T) {
	recs := killedAndResumed()
	want := expect(recs)
	// The figures worked by hand, to check the computation above: run 1
	// spans 0-180ms, its lost calls end at 180ms; run 2 spans 50-250ms.
	if math.Abs(want.active-0.38) > 1e-9 || math.Abs(want.busy-0.71) > 1e-9 || want.lost != 2 || math.Abs(want.idle-9.87) > 1e-9 {
		t.Fatalf("the test's own expectations are off: %+v", want)
	}
	dir := writeRuns(t, recs, outdir.Manifest{
		JobID: "job-2", Status: "dead_letters", Runs: 2, Started: at(10000), Finished: at(10300), WallSeconds: 0.3,
		Elements: 100, Results: 99, DeadLetters: 1, DeadLettersByKind: map[string]int64{"crash": 1},
		ExecStats: outdir.ExecStats{Calls: 3},
	})
	html := render(t, dir, nil)

	// Utilisation and the balanced finish over the runs' spans only.
	util := fmt.Sprintf("%.0f%%", 100*want.busy/want.capacity)
	balanced := seconds(want.busy / 2) // both runs ran 2 slots
	for _, s := range []string{
		`<span>slots busy</span><b>` + util + `</b>`,
		">balanced " + balanced + "<",
		">end " + seconds(want.active) + "<",
		`<span>wall time</span><b>` + seconds(want.wall) + `</b><span>2 runs: 180ms &#43; 300ms; ` + seconds(want.idle) + ` between them not counted</span>`,
		`<span>calls</span><b>7</b>`, "1 failed, 2 lost to a kill",
		`<span>crash</span><b>1</b>`,
		`data-run-label="run 1 (killed)"`, `data-run-label="run 2"`,
		"Calls lost: 2",
		// The job began with run 1.
		"2026-01-02 03:04:05.000 UTC to 2026-01-02 03:04:15.300 UTC, 2 runs",
		// 5 calls ended: 100, 150, 100, 50 and 200ms.
		"5 calls (every call that ended, over the 2 runs; the 2 lost in flight are not counted)",
		// Element times: run 1's at its last commit and run 2's.
		"5 elements (over the 2 runs; a killed run&#39;s up to its last commit)",
	} {
		if !strings.Contains(html, s) {
			t.Errorf("report lacks %q", s)
		}
	}
	if n := strings.Count(html, `class="run-marker"`); n != 1+1 { // one in the chart, one in the legend
		t.Errorf("%d run markers, want one in the chart and one in the legend", n)
	}

	// The lost calls are drawn to run 1's last record; run 2's calls
	// begin where run 1's end on the drawn time.
	bars := regexp.MustCompile(`<rect class="bar ([^"]*)"[^>]*data-run="(\d)"[^>]*data-batch="([^"]*)"[^>]*data-start="([^"]*)" data-dur="([^"]*)"`).FindAllStringSubmatch(html, -1)
	if len(bars) != 7 {
		t.Fatalf("%d bars, want 7", len(bars))
	}
	var lost []string
	for _, b := range bars {
		start, _ := strconv.ParseFloat(b[4], 64)
		dur, _ := strconv.ParseFloat(b[5], 64)
		if strings.Contains(b[1], "lost") {
			lost = append(lost, b[3])
			if math.Abs(start+dur-0.18) > 1e-6 {
				t.Errorf("lost call %s drawn to %.3fs, want to 0.180s, run 1's last record", b[3], start+dur)
			}
		}
		if b[3] == "b000004" && math.Abs(start-want.run2Offset) > 1e-6 {
			t.Errorf("run 2's first call drawn at %.3fs, want %.3fs: right after run 1", start, want.run2Offset)
		}
	}
	slices.Sort(lost)
	if !slices.Equal(lost, []string{"b000002", "b000003"}) {
		t.Errorf("lost calls %v, want b000002 and b000003", lost)
	}
	// The runs table has a row per run, with how it ended.
	for _, s := range []string{`<tr id="run-1"><td>1</td>`, `<td>killed</td></tr>`, `<tr id="run-2"><td>2</td>`, `<td>ended</td></tr>`} {
		if !strings.Contains(html, s) {
			t.Errorf("runs table lacks %q", s)
		}
	}
	// The batch sizes: the range the runs chose, not a fixed line.
	if !strings.Contains(html, ">smallest batch 5<") || !strings.Contains(html, ">largest batch 30<") {
		t.Error("the batch-size chart does not mark the batches' range 5 to 30")
	}
}

// A live view: the last run's calls without an end are running, not
// lost, and drawn up to now.
func TestALiveGanttDrawsRunningCallsToNow(t *testing.T) {
	recs := killedAndResumed()
	h := started(2, 4, 0, "b000007", 20, 10260)
	recs = append(recs[:len(recs)-1], h) // run 2 still going
	dir := writeRuns(t, recs, outdir.Manifest{})
	var buf bytes.Buffer
	if err := Gantt(&buf, filepath.Join(dir, outdir.TimelineFile), &Options{Now: at(10400)}); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	running := regexp.MustCompile(`<rect class="bar r-batch running"[^>]*data-batch="b000007"[^>]*data-dur="([^"]*)"`).FindStringSubmatch(html)
	if running == nil {
		t.Fatalf("no running bar for b000007 in\n%s", html)
	}
	if d, _ := strconv.ParseFloat(running[1], 64); math.Abs(d-0.14) > 1e-6 {
		t.Errorf("running call drawn for %ss, want 0.14s (10,260ms to now, 10,400ms)", running[1])
	}
	if n := strings.Count(html, `bar r-batch lost`); n != 2 {
		t.Errorf("%d lost bars, want run 1's 2", n)
	}
	if !strings.Contains(Style(), ".bar.running") {
		t.Error("Style lacks the running bars' rule")
	}
}

// Merged element times count every run's elements in the same buckets.
func TestMergeAddsTheRunsHistograms(t *testing.T) {
	var a, b, all durations
	for i, v := range []float64{0.001, 0.002, 0.5, 0.0011, 3, 0.002, 0.7} {
		all.add(v)
		if i%2 == 0 {
			a.add(v)
		} else {
			b.add(v)
		}
	}
	got, want := merge(a.summary(), b.summary()), all.summary()
	if math.Abs(got.Sum-want.Sum) > 1e-12 {
		t.Errorf("merged sum %v, want %v", got.Sum, want.Sum)
	}
	got.Sum = want.Sum // added in another order
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if !bytes.Equal(gb, wb) {
		t.Errorf("merge = %s\nwant  %s", gb, wb)
	}
	// p50 of 7: the 4th smallest, 0.002, in the bucket up to 2^(36/4)µs.
	if want.P50 != histBase*math.Exp2(float64(int(math.Ceil(4*math.Log2(0.002/histBase))))/4) {
		t.Errorf("p50 = %v, want the upper bound of 0.002's bucket", want.P50)
	}
}

// Labels near a chart's edge are moved inside it.
func TestLabelsStayInsideTheirChart(t *testing.T) {
	for _, c := range []struct {
		x      float64
		text   string
		anchor string
	}{{1179, "end 10m0s", "middle"}, {1, "0s", "middle"}, {1170, "balanced 9m59s", "start"}, {5, "100,000", "end"}} {
		got := fit(c.x, c.text, 1, 1179, c.anchor)
		if got.X < 1 || got.X+textWidth(c.text) > 1179 {
			t.Errorf("fit(%v, %q) = %v: outside [1, 1179]", c.x, c.text, got)
		}
	}
}
