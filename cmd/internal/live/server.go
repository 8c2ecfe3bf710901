package live

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"errors"
	"html/template"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/outdir"
	"github.com/gridrun/gridrun/report"
)

// Options configure a Server.
type Options struct {
	// Dir is the job's output directory, whose timeline the page draws.
	// Required.
	Dir string
	// Logger receives what goes wrong serving a request. Defaults to
	// slog.Default().
	Logger *slog.Logger
}

// Server serves one job's metrics and live page. Make one with Start,
// give its Observer to the job, and Close it when done.
type Server struct {
	m       *metrics
	dir     string
	ln      net.Listener
	srv     *http.Server
	served  chan struct{} // closed when Serve returns
	err     error         // what Serve returned
	started time.Time

	// ended is the job's status and its time once it has ended.
	ended atomic.Pointer[ending]

	mu    sync.Mutex
	gantt cachedGantt
}

type ending struct {
	status string
	at     time.Time
}

// cachedGantt is the chart last drawn and the size and time of the
// timeline it was drawn from: a page polling every second redraws it only
// when a call has ended since.
type cachedGantt struct {
	size int64
	mod  time.Time
	html template.HTML
}

// Start listens on addr (see ListenAddr) and serves until Close.
func Start(addr string, opts *Options) (*Server, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Dir == "" {
		return nil, errors.New("live: no output directory given")
	}
	o.Logger = cmp.Or(o.Logger, slog.Default())
	a, err := ListenAddr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", a)
	if err != nil {
		return nil, err
	}
	s := &Server{m: newMetrics(), dir: o.Dir, ln: ln, served: make(chan struct{}), started: time.Now()}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError, // a failed process metric spoils no other
	}))
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("GET /live", s.fragment)
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(&logWriter{o.Logger}, "", 0),
	}
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	return s, nil
}

// logWriter gives the HTTP server's own complaints (a client that hung up
// mid-response) to the job's logger, at debug: they say nothing of the job.
type logWriter struct{ log *slog.Logger }

func (w *logWriter) Write(p []byte) (int, error) {
	w.log.Debug("live: " + strings.TrimSpace(string(p)))
	return len(p), nil
}

// Observer is what the job tells of itself: set it as the job's
// grid.Hooks.Observer.
func (s *Server) Observer() grid.Observer { return s.m }

// URL is the server's base URL, http://HOST:PORT, with the port the system
// chose when asked for port 0.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Loopback reports whether the server can be reached from this machine
// only.
func (s *Server) Loopback() bool { return loopback(s.ln.Addr()) }

// Finish tells the page that the job has ended, and how (the manifest's
// status); the page stops refreshing once it has shown it.
func (s *Server) Finish(status string) {
	s.ended.Store(&ending{status: cmp.Or(status, "ended"), at: time.Now()})
}

// Close stops the server: it takes no new connection, and the requests in
// flight have until ctx ends to finish before their connections are
// closed.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	<-s.served // Serve returns as soon as Shutdown or Close begins
	return cmp.Or(s.err, err)
}

//go:embed live.html.tmpl
var pageSource string

var pageTemplate = template.Must(template.New("live").Funcs(template.FuncMap{
	"count": count,
}).Parse(pageSource))

// view is what the page's template draws.
type view struct {
	counts
	Style   template.CSS
	Status  string
	Elapsed string
	Dir     string
	Percent string // of the total, when known
	Gantt   template.HTML
}

func (s *Server) view() view {
	v := view{counts: s.m.snapshot(), Style: template.CSS(report.Style()), Status: "running", Dir: s.dir, Gantt: s.drawGantt()}
	end := time.Now()
	if e := s.ended.Load(); e != nil {
		v.Status, end = e.status, e.at
	}
	v.Elapsed = end.Sub(s.started).Round(time.Second).String()
	if v.Total > 0 {
		v.Percent = strconv.FormatFloat(100*float64(v.Settled)/float64(v.Total), 'f', 1, 64) + "%"
	}
	return v
}

func (s *Server) page(w http.ResponseWriter, _ *http.Request) {
	s.render(w, "live", s.view())
}

// fragment is the part of the page that changes, for the page to poll.
func (s *Server) fragment(w http.ResponseWriter, _ *http.Request) {
	s.render(w, "counts", s.view())
}

func (s *Server) render(w http.ResponseWriter, name string, v view) {
	var b bytes.Buffer
	if err := pageTemplate.ExecuteTemplate(&b, name, v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}

// drawGantt draws the report's Gantt chart of the job so far, the calls
// still running up to now, again only when the timeline has changed: it
// changes as each call starts and ends.
func (s *Server) drawGantt() template.HTML {
	var size int64 = -1
	var mod time.Time
	if st, err := os.Stat(filepath.Join(s.dir, outdir.TimelineFile)); err == nil {
		size, mod = st.Size(), st.ModTime()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.gantt; c.html != "" && c.size == size && c.mod.Equal(mod) {
		return c.html
	}
	var b bytes.Buffer
	if err := report.Gantt(&b, filepath.Join(s.dir, outdir.TimelineFile), &report.Options{Now: time.Now()}); err != nil {
		return template.HTML(`<p class="note">The chart cannot be drawn: ` + template.HTMLEscapeString(err.Error()) + `</p>`)
	}
	s.gantt = cachedGantt{size: size, mod: mod, html: template.HTML(b.String())}
	return s.gantt.html
}

// count renders n with thousands separators.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
