package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/gridrun/gridrun/internal/testbin"
	"github.com/gridrun/gridrun/outdir"
)

// A real job with crashes, served with --listen: scraped while it runs
// with Prometheus's own text parser, its live page loaded in headless
// Chromium, and scraped once more after it ends (--listen-linger). The
// metrics have their conventional names, types and labels, never run
// ahead of the job, and end at the manifest's counts, which the input
// decides.
func TestListenServesMetricsAndALivePageWhileTheJobRuns(t *testing.T) {
	t.Parallel()
	browser := testbin.Chromium(t)
	// 300 tasks of 20 ms in calls of 10 on 2 slots: three seconds of calls
	// at least, to watch while they run. Two crash and one throws; one
	// row is no task.
	faults := map[int]string{}
	for i := range 300 {
		faults[i] = "sleep:20"
	}
	faults[5], faults[150], faults[40] = "segv", "segv", "throw"
	in := testbin.WriteLines(t, "tasks.jsonl", append(testbin.FaultyTasks(300, faults), `{"id":"bad","x":"not a number"}`)...)
	const rows, wantResults = 301, 297
	wantKinds := map[string]int64{"crash": 2, "element_error": 1, "bad_input": 1}
	allKinds := []string{"bad_input", "element_error", "crash", "bad_output", "timeout", "missing_join", "bad_join_row", "join_unavailable"}

	out := filepath.Join(t.TempDir(), "out")
	g := startListening(t, "run", "--binary", testbin.Path(t, "faulty"), "--input", in, "--output", out,
		"--batch-size", "10", "--fixed-batch-size", "--parallelism", "2", "--progress", "none",
		"--listen", "0", "--listen-linger", "10m")
	m := g.waitFor(t, regexp.MustCompile(`^metrics on (http://127\.0\.0\.1:[0-9]+)/metrics, live page on http://127\.0\.0\.1:[0-9]+/$`))
	base := m[1]

	// While it runs: scrape until a call has ended and others run.
	var mid map[string]*dto.MetricFamily
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(2 * time.Minute)
	for mid == nil {
		mf := testbin.Scrape(t, base)
		if testbin.MetricValue(t, mf, "gridrun_call_duration_seconds") >= 1 && testbin.MetricValue(t, mf, "gridrun_calls_running") >= 1 {
			mid = mf
			break
		}
		if testbin.MetricValue(t, mf, "gridrun_elements_settled_total") == rows {
			t.Fatalf("the job ended before it was seen running:\n%s", g.stderr())
		}
		select {
		case <-tick.C:
		case <-g.ended:
			t.Fatalf("the job ended before it was seen running:\n%s", g.stderr())
		case <-deadline:
			t.Fatalf("no call ended within 2 minutes:\n%s", g.stderr())
		}
	}
	types := map[string]dto.MetricType{
		"gridrun_elements_settled_total": dto.MetricType_COUNTER,
		"gridrun_dead_letters_total":     dto.MetricType_COUNTER,
		"gridrun_calls_running":          dto.MetricType_GAUGE,
		"gridrun_slots":                  dto.MetricType_GAUGE,
		"gridrun_call_duration_seconds":  dto.MetricType_HISTOGRAM,
		"gridrun_batch_size":             dto.MetricType_HISTOGRAM,
		"gridrun_job_info":               dto.MetricType_GAUGE,
		"process_cpu_seconds_total":      dto.MetricType_COUNTER,
		"process_resident_memory_bytes":  dto.MetricType_GAUGE,
		"go_goroutines":                  dto.MetricType_GAUGE,
	}
	for name, want := range types {
		if f := mid[name]; f == nil || f.GetType() != want {
			t.Errorf("while running: %s is %v, want a %v", name, f.GetType(), want)
		}
	}
	if f := mid["gridrun_elements_total"]; f != nil && f.GetType() != dto.MetricType_GAUGE {
		t.Errorf("while running: gridrun_elements_total is a %v", f.GetType())
	}
	for _, k := range allKinds {
		testbin.MetricValue(t, mid, "gridrun_dead_letters_total", "kind", k) // fails when missing
	}
	if v := testbin.MetricValue(t, mid, "gridrun_calls_running"); v > 2 {
		t.Errorf("while running: %g calls running in 2 slots", v)
	}

	// The live page, in a browser, while the job runs (or lingers, if the
	// browser is slow to start): the report's Gantt chart drawn, and
	// refreshed by the page itself.
	dom := string(testbin.Headless(t, browser, "--dump-dom", "--virtual-time-budget=3000", base+"/"))
	bars := len(regexp.MustCompile(`<rect class="bar[ "]`).FindAllString(dom, -1))
	if !strings.Contains(dom, `id="gantt-chart"`) || bars < 1 {
		t.Errorf("the live page has no Gantt chart with bars (%d bars):\n%.2000s", bars, dom)
	}
	body := regexp.MustCompile(`<body[^>]*>`).FindString(dom)
	if u := regexp.MustCompile(`data-updates="([0-9]+)"`).FindStringSubmatch(body); u == nil || u[1] == "0" {
		t.Errorf("the live page did not refresh itself:\n%.2000s", dom)
	}
	if strings.Contains(body, "data-disconnected") {
		t.Errorf("the live page lost contact with gridrun while it served")
	}

	// After the job, while it lingers: the final counts.
	g.waitFor(t, regexp.MustCompile(`^still serving http://`))
	final := testbin.Scrape(t, base)
	man, err := outdir.ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if man.Elements != rows || man.Results != wantResults {
		t.Fatalf("the job settled %d elements, %d results; the input makes %d and %d", man.Elements, man.Results, rows, wantResults)
	}
	if got := testbin.MetricValue(t, final, "gridrun_elements_settled_total"); got != rows {
		t.Errorf("gridrun_elements_settled_total = %g after the job, the manifest says %d", got, man.Elements)
	}
	if got := testbin.MetricValue(t, final, "gridrun_elements_total"); got != rows {
		t.Errorf("gridrun_elements_total = %g, the input has %d rows", got, rows)
	}
	for _, k := range allKinds {
		got := testbin.MetricValue(t, final, "gridrun_dead_letters_total", "kind", k)
		if got != float64(man.DeadLettersByKind[k]) || got != float64(wantKinds[k]) {
			t.Errorf("gridrun_dead_letters_total{kind=%q} = %g, the manifest says %d, the input makes %d", k, got, man.DeadLettersByKind[k], wantKinds[k])
		}
		if before := testbin.MetricValue(t, mid, "gridrun_dead_letters_total", "kind", k); before > got {
			t.Errorf("gridrun_dead_letters_total{kind=%q} went from %g to %g", k, before, got)
		}
	}
	for _, name := range []string{"gridrun_elements_settled_total", "gridrun_call_duration_seconds", "gridrun_batch_size"} {
		if before, after := testbin.MetricValue(t, mid, name), testbin.MetricValue(t, final, name); before > after {
			t.Errorf("%s went from %g while running to %g at the end", name, before, after)
		}
	}
	if got := testbin.MetricValue(t, final, "gridrun_calls_running"); got != 0 {
		t.Errorf("%g calls running after the job", got)
	}
	// One observation per ended call of the timeline, its elements summed.
	var calls, elements int
	tl, err := os.ReadFile(filepath.Join(out, man.Timeline))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(tl)) {
		var c outdir.TimelineRecord
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("timeline line %q: %v", line, err)
		}
		if c.Event != outdir.EventCall {
			continue // a call's start, a run's start, end or times
		}
		calls++
		elements += c.Elements
	}
	if int64(calls) != man.Calls || bars > calls {
		t.Errorf("%d calls in the timeline, %d in the manifest, %d bars on the page", calls, man.Calls, bars)
	}
	for _, name := range []string{"gridrun_call_duration_seconds", "gridrun_batch_size"} {
		if got := testbin.MetricValue(t, final, name); got != float64(calls) {
			t.Errorf("%s counts %g calls, the timeline %d", name, got, calls)
		}
	}
	if got := final["gridrun_batch_size"].GetMetric()[0].GetHistogram().GetSampleSum(); got != float64(elements) {
		t.Errorf("gridrun_batch_size sums to %g elements, the timeline's calls to %d", got, elements)
	}
	if got := testbin.MetricValue(t, final, "gridrun_job_info", "job_id", man.JobID, "run", "1"); got != 1 {
		t.Errorf("gridrun_job_info{job_id=%q} = %g", man.JobID, got)
	}
	if page := get(t, base+"/live"); !strings.Contains(page, `data-status="dead_letters"`) {
		t.Errorf("the page does not say how the job ended:\n%.2000s", page)
	}

	// Ctrl-C ends the lingering; the exit code is the job's.
	if err := g.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := g.wait(); code != 3 {
		t.Errorf("exit %d, want 3 (dead letters):\n%s", code, g.stderr())
	}
}

// --listen refuses what it cannot serve: an address that is none, and a
// port another process holds, before any call runs (exit 2); and
// --listen-linger means nothing without it.
func TestListenRefusesAnAddressItCannotServe(t *testing.T) {
	t.Parallel()
	in := testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(3, nil)...)
	busy := holdPort(t)
	for _, c := range []struct{ addr, want string }{
		{"abc", "not an address"},
		{"127.0.0.1:99999", "not a number from 0 to 65535"},
		{busy, "address already in use"},
	} {
		code, _, stderr := gridrun(t, "run", "--binary", testbin.Path(t, "faulty"), "--input", in,
			"--output", filepath.Join(t.TempDir(), "out"), "--listen", c.addr)
		if code != 2 || !strings.Contains(stderr, "--listen "+c.addr) || !strings.Contains(stderr, c.want) {
			t.Errorf("--listen %s: exit %d, %q; want 2 and %q", c.addr, code, stderr, c.want)
		}
	}
	code, _, stderr := gridrun(t, "run", "--binary", testbin.Path(t, "faulty"), "--input", in,
		"--output", filepath.Join(t.TempDir(), "out"), "--listen-linger", "1m")
	if code != 2 || !strings.Contains(stderr, "--listen-linger needs --listen") {
		t.Errorf("--listen-linger alone: exit %d, %q", code, stderr)
	}
}

// holdPort holds a port, as another program would, and returns
// its address.
func holdPort(t *testing.T) string {
	t.Helper()
	srv := &http.Server{Handler: http.NotFoundHandler()}
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// listening is a gridrun process whose stderr is read line by line.
type listening struct {
	cmd   *exec.Cmd
	lines chan string
	ended <-chan struct{} // closed when stderr ends: the process has exited
	mu    sync.Mutex
	all   strings.Builder
}

func startListening(t *testing.T, args ...string) *listening {
	t.Helper()
	// The package's tests define a close of their own: a cancelled
	// context stands for the closed channel.
	stderrEnded, endStderr := context.WithCancel(context.Background())
	r := &listening{cmd: exec.Command(testbin.Path(t, "gridrun"), args...), lines: make(chan string, 1024), ended: stderrEnded.Done()}
	r.cmd.Env = append(os.Environ(), "GRIDRUN_CACHE_DIR="+t.TempDir())
	pipe, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer endStderr()
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			r.mu.Lock()
			r.all.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
			select {
			case r.lines <- sc.Text():
			default: // nobody waits for this one
			}
		}
	}()
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			r.cmd.Process.Kill()
			r.wait()
		}
	})
	return r
}

// waitFor returns the submatches of the first line of stderr matching re.
func (r *listening) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case l := <-r.lines:
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-r.ended:
			t.Fatalf("gridrun exited before writing a line matching %s:\n%s", re, r.stderr())
		case <-deadline:
			t.Fatalf("no line matching %s within 2 minutes:\n%s", re, r.stderr())
		}
	}
}

func (r *listening) stderr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.all.String()
}

// wait waits for the process, up to a minute, and returns its exit code.
func (r *listening) wait() int {
	<-r.ended
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			return -1
		}
		return 0
	case <-time.After(time.Minute):
		r.cmd.Process.Kill()
		<-done
		return -1
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", url, resp.Status, err)
	}
	return string(b)
}
