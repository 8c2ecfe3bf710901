package progress

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gridrun/gridrun/grid"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// steady is a job of 10,000 elements whose rows were counted up front, a
// second apart, settling 100 elements a second from the start, 500 of
// them committed by an earlier run: the inputs are never read to their
// end in these snapshots.
func steady(n int) []grid.Progress {
	var ps []grid.Progress
	for sec := 1; sec <= n; sec++ {
		done := int64(100 * sec)
		ps = append(ps, grid.Progress{
			JobID: "j1", Elapsed: time.Duration(sec) * time.Second, RowsRead: 500 + 2*done, Total: 10000,
			Settled: 500 + done, Results: 500 + done - 2, DeadLetters: 2, DeadLettersByKind: map[string]int64{"crash": 2},
			Resumed: 500, Running: 4, Calls: int64(sec), Retries: 1,
		})
	}
	return ps
}

func TestTheETAAppearsOnceTheRateSettles(t *testing.T) {
	var e estimator
	for i, p := range steady(5) {
		s := e.add(p)
		if s.Total != 10000 || s.Estimated {
			t.Fatalf("snapshot %d: total %d (estimated %v), want the count 10000", i+1, s.Total, s.Estimated)
		}
		// The percentage is of the total from the first snapshot on,
		// not of the rows read so far.
		if want := math.Floor(1000*float64(p.Settled)/10000) / 10; s.Percent != want {
			t.Errorf("snapshot %d: %v%%, want %v%%", i+1, s.Percent, want)
		}
		if math.Abs(s.Rate-100) > 1e-9 {
			t.Errorf("snapshot %d: rate %v, want 100/s", i+1, s.Rate)
		}
		if i+1 < settledSamples {
			if s.ETA >= 0 {
				t.Errorf("snapshot %d: ETA %v before the rate settled", i+1, s.ETA)
			}
			continue
		}
		want := time.Duration(10000-p.Settled) * time.Second / 100
		if s.ETA != want {
			t.Errorf("snapshot %d: ETA %v, want %v", i+1, s.ETA, want)
		}
	}
}

// An idle start (staging, the first calls) does not hold the ETA back:
// it needs snapshots that saw elements settle, not a span of time.
func TestTheETANeedsSnapshotsThatSettledElements(t *testing.T) {
	var e estimator
	settled := []int64{0, 0, 0, 0, 80, 80, 160, 240}
	for i, n := range settled {
		s := e.add(grid.Progress{Elapsed: time.Duration(i+1) * time.Second, Total: 1000, Settled: n})
		advances := 0
		for k := range i + 1 {
			if k > 0 && settled[k] > settled[k-1] || k == 0 && settled[0] > 0 {
				advances++
			}
		}
		if got := s.ETA >= 0; got != (advances >= 3) {
			t.Errorf("snapshot %d (%d snapshots settled elements): ETA %v", i+1, advances, s.ETA)
		}
	}
}

// The rate weighs each second by 2^(-age/half-life): after a minute at
// 1,000/s and a minute at 10/s it is the weighted mean of the two, the
// sums of two geometric series.
func TestTheRateFollowsAChangeWithItsHalfLife(t *testing.T) {
	var e estimator
	var s Stats
	done := int64(0)
	for sec := 1; sec <= 120; sec++ {
		if sec <= 60 {
			done += 1000
		} else {
			done += 10
		}
		s = e.add(grid.Progress{Elapsed: time.Duration(sec) * time.Second, Settled: done, Total: 200000})
	}
	q := math.Pow(2, -1/rateHalfLife.Seconds())
	geo := func(a, b int) float64 { return (math.Pow(q, float64(a)) - math.Pow(q, float64(b+1))) / (1 - q) } // q^a + ... + q^b
	want := (10*geo(0, 59) + 1000*geo(60, 119)) / geo(0, 119)
	if math.Abs(s.Rate-want) > 1e-6*want {
		t.Errorf("rate %v, want %v", s.Rate, want)
	}
	if s.Rate > 30 {
		t.Errorf("rate %v a minute after the job slowed to 10/s", s.Rate)
	}
	if wantETA := time.Duration(float64(200000-done) / want * float64(time.Second)); (s.ETA - wantETA).Abs() > time.Millisecond {
		t.Errorf("ETA %v, want %v", s.ETA, wantETA)
	}
}

func TestAnEstimatedTotalIsMarkedAndTheReadTotalIsExact(t *testing.T) {
	var e estimator
	s := e.add(grid.Progress{Elapsed: time.Second, Total: 5000, TotalEstimated: true, Settled: 100, RowsRead: 900})
	if s.Total != 5000 || !s.Estimated || s.Percent != 2 {
		t.Errorf("estimated: %+v", s)
	}
	if line := Line(s, nil, 200); !strings.HasPrefix(line, "100/~5,000 ") {
		t.Errorf("line %q does not mark the estimate", line)
	}
	s = e.add(grid.Progress{Elapsed: 2 * time.Second, Total: 4000, Settled: 4000, RowsRead: 4000, InputDone: true})
	if s.Estimated || s.Percent != 100 || s.ETA != 0 {
		t.Errorf("done: %+v", s)
	}
	var none estimator
	if s := none.add(grid.Progress{Elapsed: time.Second, Settled: 3}); s.Total != -1 || s.Percent != -1 || s.ETA != -1 {
		t.Errorf("nothing known: %+v", s)
	}
}

func plainLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
}

func TestPlainLinesCarryTheTotalPercentageAndETA(t *testing.T) {
	var buf bytes.Buffer
	d := New(Plain, &Options{Logger: plainLogger(&buf)})
	for _, p := range steady(3) {
		d.Update(p)
	}
	d.Close()
	want := []string{
		`level=INFO msg=progress job=j1 settled=600 total=10000 percent=6 rate_per_second=100 running=4 calls=1 retries=1 dead_letters=2 dead_letters_by_kind="2 crash" elapsed=1s`,
		`level=INFO msg=progress job=j1 settled=700 total=10000 percent=7 rate_per_second=100 running=4 calls=2 retries=1 dead_letters=2 dead_letters_by_kind="2 crash" elapsed=2s`,
		// (10,000 - 800) / 100 per second.
		`level=INFO msg=progress job=j1 settled=800 total=10000 percent=8 rate_per_second=100 eta=1m32s running=4 calls=3 retries=1 dead_letters=2 dead_letters_by_kind="2 crash" elapsed=3s`,
	}
	if got := strings.TrimSuffix(buf.String(), "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

func TestJSONLinesCarryATimestampTheJobAndTheLinesFigures(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Date(2026, 3, 1, 9, 30, 0, 123456789, time.FixedZone("CET", 3600))
	d := New(JSON, &Options{Out: &buf, Now: func() time.Time {
		clock = clock.Add(time.Second)
		return clock
	}})
	for _, p := range steady(3) {
		d.Update(p)
	}
	d.Close()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
	recs := make([]map[string]any, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &recs[i]); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
	}
	times := []string{"2026-03-01T08:30:01.123456789Z", "2026-03-01T08:30:02.123456789Z", "2026-03-01T08:30:03.123456789Z"}
	for i, r := range recs {
		if r["time"] != times[i] {
			t.Errorf("line %d: time %v, want %s", i+1, r["time"], times[i])
		}
		if r["job"] != "j1" {
			t.Errorf("line %d: job %v", i+1, r["job"])
		}
		if k, _ := r["dead_letters_by_kind"].(map[string]any); k["crash"] != 2.0 {
			t.Errorf("line %d: dead_letters_by_kind %v", i+1, r["dead_letters_by_kind"])
		}
	}
	for _, i := range []int{0, 1} {
		if _, ok := recs[i]["eta_seconds"]; ok {
			t.Errorf("line %d: an ETA before the rate settled: %v", i+1, recs[i])
		}
	}
	checks := []struct {
		rec  int
		key  string
		want float64
	}{
		{0, "settled", 600}, {0, "total", 10000}, {0, "percent", 6}, {0, "rate_per_second", 100}, {0, "running", 4},
		{0, "elapsed_seconds", 1}, {0, "resumed", 500}, {0, "dead_letters", 2},
		{2, "settled", 800}, {2, "percent", 8}, {2, "eta_seconds", 92},
	}
	for _, c := range checks {
		if got, _ := recs[c.rec][c.key].(float64); got != c.want {
			t.Errorf("line %d: %s = %v, want %v", c.rec+1, c.key, recs[c.rec][c.key], c.want)
		}
	}
}

func TestTheLineFitsItsWidth(t *testing.T) {
	var e estimator
	var s Stats
	for _, p := range steady(4) {
		s = e.add(p)
	}
	s.DeadLetters, s.Retries = 1234, 56
	warns := map[string]int64{"crash": 12, "timeout": 3, "bad_output": 1}
	for _, width := range []int{30, 50, 77, 100, 200} {
		line := Line(s, warns, width)
		if columns(line) > width {
			t.Errorf("width %d: %d columns: %q", width, columns(line), line)
		}
		if width >= 50 && !strings.HasPrefix(line, "900/10,000  ") || !strings.Contains(line, "9.0%") {
			t.Errorf("width %d: %q lacks the count or the percentage", width, line)
		}
	}
	wide := Line(s, warns, 200)
	for _, want := range []string{"[", "4 running", "56 retries", "1,234 dead letters", "warnings: 12 crash, 3 timeout, 1 bad_output"} {
		if !strings.Contains(wide, want) {
			t.Errorf("a wide line lacks %q: %q", want, wide)
		}
	}
	// At 80 columns the retries and the calls running make room for
	// the warnings by kind.
	if line := Line(s, map[string]int64{"crash": 2, "timeout": 1}, 77); !strings.Contains(line, "warnings: 2 crash, 1 timeout") || strings.Contains(line, "running") {
		t.Errorf("an 80-column line: %q", line)
	}
	if line := Line(s, warns, 60); !strings.Contains(line, "warnings: 16") {
		t.Errorf("a narrow line does not sum the warnings: %q", line)
	}
}

func TestTTYRedrawsOneLineAndPrintsLogsAboveIt(t *testing.T) {
	var buf bytes.Buffer
	d := New(TTY, &Options{Out: &buf, Width: func() int { return 80 }}).(Live)
	d.Write([]byte("before the line\n"))
	if d.On() || buf.String() != "before the line\n" {
		t.Fatalf("before the first snapshot: on %v, %q", d.On(), buf.String())
	}
	ps := steady(3)
	d.Update(ps[0])
	if !d.On() {
		t.Fatal("the line is not on after a snapshot")
	}
	d.Write([]byte("an error\n"))
	d.Warn("crash")
	d.Update(ps[1])
	d.Update(ps[2])
	d.Close()
	d.Write([]byte("after\n"))
	out := buf.String()
	// Each drawing starts at the line's beginning and clears its end; a
	// log line clears the line first.
	if !strings.Contains(out, "\r\033[Kan error\n\r600/10,000") {
		t.Errorf("the log line is not printed above the live line:\n%q", out)
	}
	last := out[strings.LastIndex(out, "\r")+1:]
	for _, want := range []string{"800/10,000", "8.0%", "100/s", "ETA 1m32s", "2 dead letters", "warnings: 1 crash", "\033[K\nafter\n"} {
		if !strings.Contains(last, want) {
			t.Errorf("the last line lacks %q: %q", want, last)
		}
	}
	if d.On() {
		t.Error("the line is on after Close")
	}
}

func TestFormatting(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{-1: "?", 0: "0s", 45 * time.Second: "45s", 185 * time.Second: "3m05s", 2*time.Hour + 7*time.Minute + 40*time.Second: "2h07m"} {
		if got := eta(d); got != want {
			t.Errorf("eta(%v) = %q, want %q", d, got, want)
		}
	}
	for r, want := range map[float64]string{0: "0.0/s", 12.34: "12.3/s", 1234.5: "1,235/s"} {
		if got := rate(r); got != want {
			t.Errorf("rate(%v) = %q, want %q", r, got, want)
		}
	}
	if got := kinds(map[string]int64{"timeout": 1, "crash": 2, "bad_output": 1}); got != "2 crash, 1 bad_output, 1 timeout" {
		t.Errorf("kinds = %q", got)
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range Modes {
		if got, err := ParseMode(string(m)); err != nil || got != m {
			t.Errorf("ParseMode(%q) = %q, %v", m, got, err)
		}
	}
	if _, err := ParseMode("fancy"); err == nil {
		t.Error("ParseMode accepted fancy")
	}
	var buf bytes.Buffer
	if got := Auto.Resolve(&buf); got != Plain {
		t.Errorf("auto on a buffer is %q, want plain", got)
	}
}
