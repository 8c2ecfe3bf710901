package progress

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/gridrun/gridrun/grid"
)

// Mode is how progress is shown.
type Mode string

const (
	// Auto is TTY when the output is a terminal, Plain otherwise.
	Auto Mode = "auto"
	// TTY redraws one line in place.
	TTY Mode = "tty"
	// Plain logs a line every interval, with no control characters.
	Plain Mode = "plain"
	// JSON writes one JSON object per interval.
	JSON Mode = "json"
	// None shows nothing.
	None Mode = "none"
)

// Modes lists the modes, for help and shell completion.
var Modes = []Mode{Auto, TTY, Plain, JSON, None}

// ParseMode checks a mode named by the user.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown progress mode %q: want auto, tty, plain, json or none", s)
}

// Resolve turns Auto into TTY or Plain for the output w.
func (m Mode) Resolve(w io.Writer) Mode {
	if m != Auto {
		return m
	}
	if IsTerminal(w) {
		return TTY
	}
	return Plain
}

// IsTerminal reports whether w is a terminal that can redraw a line: not a
// file or pipe, not a TERM=dumb one (an editor's shell buffer), and one
// that knows its width (a pseudo-terminal opened without a size reports 0
// columns, and a line cannot be fitted to it).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || os.Getenv("TERM") == "dumb" {
		return false
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	return err == nil && cols > 0
}

// Interval is the default time between two updates in a mode: a live line
// wants to move, while a log read by people later wants few lines.
func (m Mode) Interval() time.Duration {
	if m == TTY {
		return 500 * time.Millisecond
	}
	return 10 * time.Second
}

// A Display shows the snapshots of one job. Update is called with each
// snapshot, never concurrently (grid calls OnProgress from one goroutine at
// a time); Close after the last one.
type Display interface {
	Update(grid.Progress)
	Close()
}

// A Live display holds a line on the terminal that other output must not
// break: log lines go through its Write, above the line, and warnings are
// better counted on it (Warn) than printed.
type Live interface {
	Display
	io.Writer
	// On says the line is on the terminal: the first snapshot drew it and
	// Close has not ended it.
	On() bool
	// Warn counts a warning of a kind (a call's failure kind, or
	// "warning") on the line.
	Warn(kind string)
}

// Options configure a Display.
type Options struct {
	// Out receives the progress line or the JSON objects. Defaults to
	// os.Stderr.
	Out io.Writer
	// Logger receives the Plain mode's lines. Defaults to slog.Default().
	Logger *slog.Logger
	// Now stamps the JSON objects. Defaults to time.Now.
	Now func() time.Time
	// Width is the terminal's width in columns, asked before each redraw
	// of the TTY line. Defaults to Out's width when it is a terminal, 80
	// otherwise.
	Width func() int
}

// New returns a Display of mode m, which must not be Auto (see Resolve).
// A TTY display is Live.
func New(m Mode, opts *Options) Display {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Out == nil {
		o.Out = os.Stderr
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Width == nil {
		o.Width = terminalWidth(o.Out)
	}
	switch m {
	case TTY:
		return newTTY(o.Out, o.Width)
	case Plain:
		return &plain{log: o.Logger}
	case JSON:
		return &jsonLines{enc: json.NewEncoder(o.Out), now: o.Now}
	}
	return nop{}
}

// terminalWidth returns w's width in columns, asked each time (the window
// may be resized), or 80 when w is not a terminal.
func terminalWidth(w io.Writer) func() int {
	f, ok := w.(*os.File)
	return func() int {
		if ok {
			if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
				return cols
			}
		}
		return 80
	}
}

type nop struct{}

func (nop) Update(grid.Progress) {}
func (nop) Close()               {}

// plain logs one line per snapshot, with the total, the percentage and
// the ETA as soon as each is known.
type plain struct {
	est estimator
	log *slog.Logger
}

func (d *plain) Update(p grid.Progress) {
	s := d.est.add(p)
	attrs := []any{"job", s.JobID, "settled", s.Settled}
	if s.Total >= 0 {
		attrs = append(attrs, "total", s.Total)
		if s.Estimated {
			attrs = append(attrs, "total_estimated", true)
		}
		attrs = append(attrs, "percent", s.Percent)
	}
	attrs = append(attrs, "rate_per_second", roundRate(s.Rate))
	if s.ETA >= 0 {
		attrs = append(attrs, "eta", eta(s.ETA))
	}
	attrs = append(attrs, "running", s.Running, "calls", s.Calls, "retries", s.Retries, "dead_letters", s.DeadLetters)
	if len(s.DeadLettersByKind) > 0 {
		attrs = append(attrs, "dead_letters_by_kind", kinds(s.DeadLettersByKind))
	}
	attrs = append(attrs, "elapsed", eta(s.Elapsed))
	d.log.Info("progress", attrs...)
}

func (d *plain) Close() {}

// roundRate keeps three significant digits below 100 and whole numbers
// above, as the live line shows them.
func roundRate(r float64) float64 {
	if r < 100 {
		return math.Round(r*10) / 10
	}
	return math.Round(r)
}

// jsonLines writes one object per snapshot.
type jsonLines struct {
	est estimator
	enc *json.Encoder
	now func() time.Time
}

// Record is the object the JSON mode writes per snapshot: the live line's
// figures, stamped. Total, Percent and ETASeconds are absent while
// unknown.
type Record struct {
	Time              string           `json:"time"` // RFC 3339, to the nanosecond
	Job               string           `json:"job"`
	ElapsedSeconds    float64          `json:"elapsed_seconds"`
	Settled           int64            `json:"settled"`
	Total             *int64           `json:"total,omitempty"`
	TotalEstimated    bool             `json:"total_estimated,omitempty"`
	Percent           *float64         `json:"percent,omitempty"`
	ETASeconds        *float64         `json:"eta_seconds,omitempty"`
	RatePerSecond     float64          `json:"rate_per_second"`
	Results           int64            `json:"results"`
	DeadLetters       int64            `json:"dead_letters"`
	DeadLettersByKind map[string]int64 `json:"dead_letters_by_kind"`
	Resumed           int64            `json:"resumed"`
	RowsRead          int64            `json:"rows_read"`
	InputDone         bool             `json:"input_done"`
	Running           int              `json:"running"`
	Calls             int64            `json:"calls"`
	Retries           int64            `json:"retries"`
}

func (d *jsonLines) Update(p grid.Progress) {
	s := d.est.add(p)
	r := Record{
		Time: d.now().UTC().Format(time.RFC3339Nano), Job: s.JobID,
		ElapsedSeconds: s.Elapsed.Seconds(), Settled: s.Settled, RatePerSecond: roundRate(s.Rate),
		Results: s.Results, DeadLetters: s.DeadLetters, DeadLettersByKind: maps.Clone(s.DeadLettersByKind),
		Resumed: s.Resumed, RowsRead: s.RowsRead, InputDone: s.InputDone, Running: s.Running, Calls: s.Calls,
		Retries: s.Retries,
	}
	if r.DeadLettersByKind == nil {
		r.DeadLettersByKind = map[string]int64{}
	}
	if s.Total >= 0 {
		r.Total, r.TotalEstimated, r.Percent = &s.Total, s.Estimated, &s.Percent
	}
	if s.ETA >= 0 {
		sec := math.Round(s.ETA.Seconds()*10) / 10
		r.ETASeconds = &sec
	}
	d.enc.Encode(r) // a lost progress line must not stop the job
}

func (d *jsonLines) Close() {}
