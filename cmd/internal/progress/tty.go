package progress

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/gridrun/gridrun/grid"
)

// tty draws the live line with mpb. mpb rather than a hand-drawn "\r" line
// or schollz/progressbar: it sizes the line to the terminal, lets the log
// print above the line (Write) instead of through it, takes a total that is
// unknown at first and set later, and stops all its goroutines on Wait.
// progressbar's unknown-length mode keeps a ticker goroutine until the bar
// completes, which an interrupted job never does, and it holds log lines
// back until its next redraw of its own.
type tty struct {
	out io.Writer
	p   *mpb.Progress
	bar *mpb.Bar
	est estimator

	mu     sync.Mutex
	last   Stats
	closed bool
	done   chan struct{} // closed when mpb has stopped writing
}

func newTTY(out io.Writer) *tty {
	d := &tty{out: out, last: Stats{Total: -1, ETA: -1}, done: make(chan struct{})}
	// WithAutoRefresh: redraw on a timer even when out is not a terminal
	// mpb recognises (a test's buffer, a terminal multiplexer's pipe).
	opts := []mpb.ContainerOption{mpb.WithOutput(out), mpb.WithAutoRefresh(), mpb.WithRefreshRate(200 * time.Millisecond)}
	if !IsTerminal(out) {
		opts = append(opts, mpb.WithWidth(160)) // mpb would cut the line at 80 columns
	}
	d.p = mpb.New(opts...)
	d.bar = d.p.New(0, mpb.BarStyle(), mpb.BarWidth(30),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return d.text(d.left) })),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return d.text(d.right) })),
	)
	return d
}

func (d *tty) text(f func(Stats) string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return f(d.last)
}

// left is the count: settled/total, or settled/rows read so far while the
// input is still being read (marked with a "+": the total is at least that).
func (d *tty) left(s Stats) string {
	if s.Total >= 0 {
		return count(s.Settled) + "/" + count(s.Total) + " "
	}
	return count(s.Settled) + "/" + count(s.RowsRead) + "+ "
}

func (d *tty) right(s Stats) string {
	parts := []string{rate(s.Rate), "ETA " + eta(s.ETA), strconv.Itoa(s.Running) + " running"}
	if s.Total >= 0 {
		parts[0] = strconv.FormatFloat(percent(s.Settled, s.Total), 'f', 1, 64) + "% " + parts[0]
	}
	if s.Retries > 0 {
		parts = append(parts, count(s.Retries)+" retries")
	}
	if s.DeadLetters > 0 {
		parts = append(parts, count(s.DeadLetters)+" dead letters")
	}
	return " " + strings.Join(parts, "  ")
}

func (d *tty) Update(p grid.Progress) {
	s := d.est.add(p)
	d.mu.Lock()
	d.last = s
	d.mu.Unlock()
	total := s.Total
	if total < 0 {
		total = s.RowsRead
	}
	d.bar.SetTotal(max(total, 1), false)
	d.bar.SetCurrent(s.Settled)
}

// Close draws the last snapshot and ends the line; the bar stays on screen.
func (d *tty) Close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.bar.Abort(false) // keeps the line as it is, complete or not
	d.p.Wait()
	close(d.done)
}

// Write prints p above the live line; after Close, straight to the output.
func (d *tty) Write(p []byte) (int, error) {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		<-d.done // mpb may still be drawing the last line
		return d.out.Write(p)
	}
	n, err := d.p.Write(p)
	if errors.Is(err, mpb.ErrDone) { // mpb stopped on a write error of its own
		return d.out.Write(p)
	}
	return n, err
}
