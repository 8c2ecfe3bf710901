package progress

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gridrun/gridrun/grid"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// snapshots is a job of 1,000 elements, 200 of them settled by an earlier
// run: read to the end at 2s, 100 elements a second from 200 on.
func snapshots() []grid.Progress {
	return []grid.Progress{
		{Elapsed: 1 * time.Second, RowsRead: 600, Settled: 300, Results: 300, Resumed: 200, Running: 2, Calls: 1},
		{Elapsed: 2 * time.Second, RowsRead: 1000, InputDone: true, Settled: 400, Results: 398, DeadLetters: 2, Resumed: 200, Running: 2, Calls: 2, Retries: 1},
		{Elapsed: 10 * time.Second, RowsRead: 1000, InputDone: true, Settled: 1000, Results: 997, DeadLetters: 3, Resumed: 200, Calls: 8, Retries: 1},
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

func TestPlainLogsOneLineWithoutControlCharacters(t *testing.T) {
	var buf bytes.Buffer
	d := New(Plain, &Options{Logger: plainLogger(&buf)})
	for _, p := range snapshots() {
		d.Update(p)
	}
	d.Close()
	want := []string{
		// 100 settled by this run in 1s; the total is not known yet.
		`level=INFO msg=progress settled=300 rows_read=600 rate_per_second=100 running=2 calls=1 retries=0 dead_letters=0 elapsed=1s`,
		// 200 in 2s: 100/s, 600 to go.
		`level=INFO msg=progress settled=400 total=1000 percent=40 rate_per_second=100 eta=6s running=2 calls=2 retries=1 dead_letters=2 elapsed=2s`,
		`level=INFO msg=progress settled=1000 total=1000 percent=100 rate_per_second=80 eta=0s running=0 calls=8 retries=1 dead_letters=3 elapsed=10s`,
	}
	got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), strings.Join(want, "\n"))
	}
	for _, c := range buf.String() {
		if c < ' ' && c != '\n' {
			t.Fatalf("control character %q in %q", c, buf.String())
		}
	}
}

func TestJSONWritesOneObjectPerSnapshot(t *testing.T) {
	var buf bytes.Buffer
	d := New(JSON, &Options{Out: &buf})
	for _, p := range snapshots() {
		d.Update(p)
	}
	d.Close()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
	var recs []map[string]any
	for _, l := range lines {
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		recs = append(recs, r)
	}
	if _, ok := recs[0]["total"]; ok {
		t.Errorf("total given before the input is read: %v", recs[0])
	}
	if _, ok := recs[0]["eta_seconds"]; ok {
		t.Errorf("eta given before the total is known: %v", recs[0])
	}
	checks := []struct {
		rec  int
		key  string
		want float64
	}{
		{0, "elapsed_seconds", 1}, {0, "settled", 300}, {0, "rows_read", 600}, {0, "rate_per_second", 100},
		{1, "total", 1000}, {1, "eta_seconds", 6}, {1, "dead_letters", 2}, {1, "retries", 1}, {1, "running", 2},
		{2, "total", 1000}, {2, "eta_seconds", 0}, {2, "settled", 1000}, {2, "resumed", 200},
	}
	for _, c := range checks {
		if got, _ := recs[c.rec][c.key].(float64); got != c.want {
			t.Errorf("line %d: %s = %v, want %v", c.rec+1, c.key, recs[c.rec][c.key], c.want)
		}
	}
}

func TestTheRateFollowsTheLastHalfMinute(t *testing.T) {
	var e estimator
	// 1,000 elements a second for a minute, then 10 a second.
	var s Stats
	done := int64(0)
	for sec := 1; sec <= 120; sec++ {
		if sec <= 60 {
			done += 1000
		} else {
			done += 10
		}
		s = e.add(grid.Progress{Elapsed: time.Duration(sec) * time.Second, Settled: done, RowsRead: 100000, InputDone: true})
	}
	if s.Rate != 10 {
		t.Errorf("rate %v after a minute at 10/s, want 10", s.Rate)
	}
	wantETA := time.Duration(float64(100000-done)/10) * time.Second
	if s.ETA != wantETA {
		t.Errorf("eta %v, want %v", s.ETA, wantETA)
	}
	if len(e.window) > 32 {
		t.Errorf("window holds %d samples of a 30s window at 1/s", len(e.window))
	}
}

func TestTTYDrawsTheLineAndLetsLogsThrough(t *testing.T) {
	var buf syncBuffer
	d := New(TTY, &Options{Out: &buf})
	w, ok := d.(interface{ Write([]byte) (int, error) })
	if !ok {
		t.Fatal("a TTY display is not a writer for the log")
	}
	ps := snapshots()
	d.Update(ps[0])
	w.Write([]byte("level=WARN msg=\"call failed\"\n"))
	d.Update(ps[1])
	d.Update(ps[2])
	d.Close()
	w.Write([]byte("after close\n"))
	out := buf.String()
	for _, want := range []string{"1,000/1,000", "100.0%", "3 dead letters", "1 retries", "call failed", "after close"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%q", want, out)
		}
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
