package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gridrun/gridrun/cmd/internal/live"
	"github.com/gridrun/gridrun/grid"
)

// liveOptions are the flags of the live endpoint: Prometheus metrics and
// a page with the job's Gantt chart, served while it runs.
type liveOptions struct {
	addr   string
	linger time.Duration
}

func (l *liveOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&l.addr, "listen", "", "serve Prometheus metrics at /metrics and a live page at / while the job runs: PORT or :PORT on 127.0.0.1, or HOST:PORT (0.0.0.0:PORT to serve other machines); port 0 picks a free one")
	f.DurationVar(&l.linger, "listen-linger", 0, "keep serving --listen this long after the job ends, so that a last scrape sees the final counts (Ctrl-C stops sooner)")
}

// start starts the server --listen asks for, if any, and makes it the
// job's observer. The returned function ends it, after --listen-linger,
// once the job has ended with manifest m (nil when it has none).
func (l *liveOptions) start(cmd *cobra.Command, hooks *grid.Hooks, dir string) (end func(m *grid.Manifest), err error) {
	if l.addr == "" {
		if l.linger > 0 {
			return nil, usageError("--listen-linger needs --listen")
		}
		return func(*grid.Manifest) {}, nil
	}
	srv, err := live.Start(l.addr, &live.Options{Dir: dir, Logger: hooks.Logger})
	if err != nil {
		return nil, usageError("--listen %s: %v", l.addr, err)
	}
	hooks.Observer = srv.Observer()
	stderr := cmd.ErrOrStderr()
	fmt.Fprintf(stderr, "metrics on %s/metrics, live page on %s/\n", srv.URL(), srv.URL())
	if !srv.Loopback() {
		fmt.Fprintln(stderr, "  (reachable from other machines: neither has any authentication)")
	}
	return func(m *grid.Manifest) {
		status := "failed"
		if m != nil {
			status = m.Status
		}
		srv.Finish(status)
		ctx := cmd.Context()
		if l.linger > 0 && ctx.Err() == nil {
			fmt.Fprintf(stderr, "still serving %s for %s (Ctrl-C to stop)\n", srv.URL(), l.linger)
			t := time.NewTimer(l.linger)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
		// A scrape in flight gets a moment to finish; the job's outcome
		// is decided, so nothing here changes the exit code.
		closeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Close(closeCtx)
	}, nil
}
