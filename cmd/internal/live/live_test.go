package live

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The storage client's dependencies start this in an init.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

func TestAddressesWithoutAHostAreLoopback(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"9090":           "127.0.0.1:9090",
		":9090":          "127.0.0.1:9090",
		"0":              "127.0.0.1:0",
		":0":             "127.0.0.1:0",
		"localhost:9090": "localhost:9090",
		"0.0.0.0:9090":   "0.0.0.0:9090",
		"[::1]:9090":     "[::1]:9090",
		"[::]:0":         "[::]:0",
	} {
		got, err := ListenAddr(in)
		if err != nil || got != want {
			t.Errorf("ListenAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "abc", "70000", ":http", "host:", "a b:80", "1.2.3.4"} {
		if got, err := ListenAddr(in); err == nil {
			t.Errorf("ListenAddr(%q) = %q, want an error", in, got)
		}
	}
}

// A server given a port alone listens on 127.0.0.1 and nowhere else: a
// connection to this machine's other addresses is refused.
func TestAServerGivenAPortListensOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	s, err := Start("0", &Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if !s.Loopback() || !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || strings.HasSuffix(s.URL(), ":0") {
		t.Fatalf("Start(\"0\") serves %s (loopback %v), want 127.0.0.1 and a port the system chose", s.URL(), s.Loopback())
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.URL(), "http://"))
	resp, err := http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	others := 0
	for _, a := range addrs {
		ip, ok := a.(*net.IPNet)
		if !ok || ip.IP.IsLoopback() || ip.IP.IsLinkLocalUnicast() {
			continue
		}
		others++
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ip.IP.String(), port), 5*time.Second)
		if err == nil {
			c.Close()
			t.Errorf("the server given port 0 accepts connections on %s", ip.IP)
		}
	}
	t.Logf("checked %d non-loopback addresses", others)

	all, err := Start("0.0.0.0:0", &Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close(context.Background())
	if all.Loopback() {
		t.Errorf("a server on 0.0.0.0 says it is loopback only")
	}
}

// The metrics follow the observer's events: the counters start at what
// earlier runs committed, the histograms count calls, and the total appears
// only once it is known.
func TestTheMetricsCountWhatTheObserverIsTold(t *testing.T) {
	t.Parallel()
	s, err := Start("0", &Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	o := s.Observer()
	t0 := time.Now()
	var running atomic.Int64
	o.JobStarted(grid.JobStart{JobID: "j1", Run: 2, Slots: 4, Running: func() int { return int(running.Load()) },
		Results: 5, DeadLetters: map[string]int64{grid.KindCrash: 2}})
	o.CallStarted(0, 10)
	o.CallStarted(1, 30)
	o.CallEnded(grid.CallRecord{Slot: 0, Elements: 10, Start: t0, End: t0.Add(1500 * time.Millisecond)})
	for _, k := range []string{"", "", "", grid.KindTimeout} {
		o.Settled(k)
	}
	mf := testbin.Scrape(t, s.URL())
	if _, ok := mf["gridrun_elements_total"]; ok {
		t.Errorf("gridrun_elements_total is exported before the total is known")
	}
	o.InputCounted(100)
	running.Store(3)
	mf = testbin.Scrape(t, s.URL())

	value := func(name string, labels ...string) float64 {
		t.Helper()
		return testbin.MetricValue(t, mf, name, labels...)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"gridrun_elements_settled_total", nil, 5 + 2 + 4},
		{"gridrun_dead_letters_total", []string{"kind", "crash"}, 2},
		{"gridrun_dead_letters_total", []string{"kind", "timeout"}, 1},
		{"gridrun_dead_letters_total", []string{"kind", "bad_input"}, 0},
		{"gridrun_calls_running", nil, 3},
		{"gridrun_slots", nil, 4},
		{"gridrun_call_duration_seconds", nil, 1},
		{"gridrun_batch_size", nil, 2},
		{"gridrun_elements_total", nil, 100},
		{"gridrun_job_info", []string{"job_id", "j1", "run", "2"}, 1},
	} {
		if got := value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %g, want %g", c.name, c.labels, got, c.want)
		}
	}
	h := mf["gridrun_call_duration_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleSum() != 1.5 {
		t.Errorf("call durations sum to %g, want 1.5", h.GetSampleSum())
	}
	if b := mf["gridrun_batch_size"].GetMetric()[0].GetHistogram(); b.GetSampleSum() != 40 {
		t.Errorf("batch sizes sum to %g, want 40", b.GetSampleSum())
	}
	for _, name := range []string{"process_cpu_seconds_total", "go_goroutines"} {
		if mf[name] == nil {
			t.Errorf("no %s: the process and Go collectors are missing", name)
		}
	}
}

// The page and its fragment are served, say the job's state, and stop
// being served once the server is closed.
func TestThePageSaysHowTheJobStands(t *testing.T) {
	t.Parallel()
	s, err := Start("0", &Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	o := s.Observer()
	o.JobStarted(grid.JobStart{JobID: "job-42", Run: 1, Slots: 2})
	o.InputCounted(1000)
	for range 250 {
		o.Settled("")
	}
	get := func(path string) string {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return string(b)
	}
	page := get("/")
	for _, want := range []string{"<!DOCTYPE html>", "gridrun job job-42", `data-status="running"`, "250", "of 1,000 (25.0%)", "No subprocess call was made", "<script>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Errorf("the page refers to something outside it")
	}
	s.Finish("ok")
	frag := get("/live")
	if strings.Contains(frag, "<html") || !strings.Contains(frag, `data-status="ok"`) {
		t.Errorf("the fragment after the job ended:\n%s", frag)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(s.URL() + "/"); err == nil {
		t.Errorf("the server still serves once closed")
	}
}
