// Package runlog is a running job's log as the CLI shows it: every record
// in full in a file of the output directory (outdir.RunLogFile), and on
// the terminal what a person watching needs. While a live progress line is
// on the terminal, warnings are counted on it by kind rather than printed
// around it; the job's start is one short line naming the log file, and
// its end is left to the summary.
package runlog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/outdir"
)

// Quiet is a live progress line (progress.Live): what keeps warnings off
// the terminal while it is on.
type Quiet interface {
	On() bool
	Warn(kind string)
}

// Options configure a Handler.
type Options struct {
	// Dir is the job's output directory: the log is Dir/outdir.RunLogFile.
	// The file is opened, for appending, at the job's start record
	// (grid.LogJobStarted), once the job owns the directory: a job refused
	// for a non-empty output must leave nothing in it. Records before the
	// start are held until then, up to maxHeld bytes.
	Dir string
	// Term is the terminal's handler. Required.
	Term slog.Handler
	// Quiet, when set, is the live line: while it is on, warnings and
	// errors are counted on it, not given to Term; the start record is
	// printed short to TermOut, and the end record not at all. Without
	// it, Term gets every record, the start record with the log's path.
	Quiet Quiet
	// TermOut is where the short start line goes, with Quiet. Defaults
	// to os.Stderr.
	TermOut io.Writer
	// Level is the least level the file keeps. Defaults to Info, or
	// lower when Term takes lower.
	Level slog.Leveler
}

// maxHeld bounds the records held before the file opens.
const maxHeld = 1 << 20

// Handler is the job's log handler. Close it after the job.
type Handler struct {
	s    *shared
	file slog.Handler
	term slog.Handler
	kind string // a "kind" attribute given by WithAttrs
}

// shared is what a Handler and those derived from it by WithAttrs and
// WithGroup have in common.
type shared struct {
	opts Options
	path string

	mu     sync.Mutex
	f      *os.File
	held   bytes.Buffer
	err    error // why the file could not be opened
	opened bool
}

// New returns the handler of a job writing to o.Dir.
func New(o Options) *Handler {
	if o.TermOut == nil {
		o.TermOut = os.Stderr
	}
	if o.Level == nil {
		o.Level = slog.LevelInfo
		if o.Term.Enabled(context.Background(), slog.LevelDebug) {
			o.Level = slog.LevelDebug
		}
	}
	s := &shared{opts: o, path: filepath.Join(o.Dir, outdir.RunLogFile)}
	return &Handler{s: s, file: slog.NewJSONHandler(s, &slog.HandlerOptions{Level: o.Level}), term: o.Term}
}

// Path returns the log file's path once the job has started and the file
// is open, "" otherwise.
func (h *Handler) Path() string {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if h.s.f == nil {
		return ""
	}
	return h.s.path
}

// Close closes the file.
func (h *Handler) Close() error {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if h.s.f == nil {
		return nil
	}
	err := h.s.f.Close()
	h.s.f = nil
	return err
}

// Write is the file handler's output: held until the file opens.
func (s *shared) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.f != nil:
		return s.f.Write(p)
	case !s.opened && s.held.Len()+len(p) <= maxHeld:
		s.held.Write(p)
	}
	return len(p), nil
}

// open opens the file and writes the records held so far.
func (s *shared) open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opened {
		return s.err
	}
	s.opened = true
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		s.err = err
		return err
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		s.err = err
		return err
	}
	if _, err := f.Write(s.held.Bytes()); err != nil {
		f.Close()
		s.err = err
		return err
	}
	s.held = bytes.Buffer{}
	s.f = f
	return nil
}

func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.file.Enabled(ctx, l) || h.term.Enabled(ctx, l)
}

func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	start := r.Message == grid.LogJobStarted
	var openErr error
	if start {
		openErr = h.s.open()
	}
	if h.file.Enabled(ctx, r.Level) {
		h.file.Handle(ctx, r.Clone()) // a log the disk refuses must not stop the job
	}
	if !h.term.Enabled(ctx, r.Level) {
		return nil
	}
	q := h.s.opts.Quiet
	switch {
	case start && q != nil:
		h.startLine(r, openErr)
		return nil
	case start:
		r = r.Clone()
		if openErr == nil {
			r.AddAttrs(slog.String("log", h.s.path))
		}
	case r.Message == grid.LogJobFinished && q != nil:
		return nil // the summary says how the job ended
	case r.Level >= slog.LevelWarn && q != nil && q.On():
		q.Warn(h.kindOf(r))
		return nil
	}
	err := h.term.Handle(ctx, r)
	if start && openErr != nil {
		h.term.Handle(ctx, slog.NewRecord(r.Time, slog.LevelWarn, "cannot write the job's log file", 0))
	}
	return err
}

// startLine prints the start record in two short lines:
//
//	job 20260101-120000-ab12cd: bin/pricer (sha256 0123456789ab)
//	  log /tmp/out/logs/run.jsonl
func (h *Handler) startLine(r slog.Record, openErr error) {
	a := map[string]string{}
	r.Attrs(func(at slog.Attr) bool {
		a[at.Key] = at.Value.Resolve().String()
		return true
	})
	sha := a["sha256"]
	if len(sha) > 12 {
		sha = sha[:12]
	}
	line := fmt.Sprintf("job %s: %s (sha256 %s)\n", a["job"], a["binary"], sha)
	if openErr != nil {
		line += fmt.Sprintf("  no log file: %v\n", openErr)
	} else {
		line += fmt.Sprintf("  log %s\n", h.s.path)
	}
	io.WriteString(h.s.opts.TermOut, line)
}

// kindOf is what a warning counts as on the live line: its "kind" (a
// failed call's: crash, timeout, bad_output), or its level.
func (h *Handler) kindOf(r slog.Record) string {
	kind := h.kind
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "kind" {
			kind = a.Value.String()
			return false
		}
		return true
	})
	if kind != "" {
		return kind
	}
	if r.Level >= slog.LevelError {
		return "error"
	}
	return "warning"
}

func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.file, c.term = h.file.WithAttrs(attrs), h.term.WithAttrs(attrs)
	for _, a := range attrs {
		if a.Key == "kind" {
			c.kind = a.Value.String()
		}
	}
	return &c
}

func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.file, c.term = h.file.WithGroup(name), h.term.WithGroup(name)
	return &c
}
