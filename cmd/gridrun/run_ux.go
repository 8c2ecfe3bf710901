package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/gridrun/gridrun/cmd/internal/progress"
	"github.com/gridrun/gridrun/cmd/internal/runlog"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/report"
)

// runUX holds the `run` flags about how a run is shown and described,
// rather than what it does: progress, the report, job files.
type runUX struct {
	progress         string
	progressInterval time.Duration
	report           bool
	jobFile          string
	printJob         bool
}

// addFlags adds the flags to cmd; args receives a job file's binary
// arguments.
func (u *runUX) addFlags(cmd *cobra.Command, args *[]string) {
	cmd.Long += `

Progress goes to stderr (--progress): a live line on a terminal; elsewhere
(CI, schedulers) a log line every --progress-interval, with no control
characters, or with --progress json one JSON object per interval. The
inputs' rows are counted as the job starts, so that the total, the
percentage and, once elements settle at a steady rate, the ETA show early.
The job's log goes in full to OUTPUT/logs/run.jsonl; while the live line is
on, warnings are counted on it by kind rather than printed. An interrupted
job (Ctrl-C) ends with the command that resumes it.
--report writes report.html into the output directory when the job ends.

Job files: -f job.yaml reads flags from YAML fields named like the flags
(batch-size: 200, input: [a.jsonl, b.jsonl], timeout: 30s), and the binary's
arguments from args: [...]. --print-job prints the flags set, on the command
line or by -f, as such a file and exits, so that gridrun run -f printed.yaml
runs the same job; flags left at their defaults, or set only by the
environment (this machine's settings), are not printed (the manifest
records every option as run).

` + envPrecedence
	f := cmd.Flags()
	var modes []string
	for _, m := range progress.Modes {
		modes = append(modes, string(m))
	}
	choiceVar(f, &u.progress, "progress", string(progress.Auto), "progress display on stderr: auto (tty on a terminal, plain otherwise), tty (a live line), plain (a log line per interval), json (an object per interval) or none", modes...)
	f.DurationVar(&u.progressInterval, "progress-interval", 0, "time between progress updates (default 500ms for tty, 10s otherwise)")
	f.BoolVar(&u.report, "report", false, "write report.html, the run's report, into the output directory at the end")
	f.StringVarP(&u.jobFile, "job-file", "f", "", "read flags from a YAML job file (fields named like the flags); flags on the command line win")
	f.BoolVar(&u.printJob, "print-job", false, "print the job as a YAML job file (the flags set, and the binary's arguments) and exit without running")
	markNotInJobFile(f, "job-file", "print-job")
	// Before the required-flag check, so that a job file can give them.
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		if u.jobFile == "" {
			return nil
		}
		a, err := applyJobFile(cmd.LocalFlags(), u.jobFile)
		*args = a // RunE replaces them with the arguments after --, if any
		return err
	}
}

// runView is how a local run is shown: its progress display, and its log
// (the terminal's share and the file in the output directory).
type runView struct {
	display progress.Display
	log     *runlog.Handler

	mu   sync.Mutex
	last grid.Progress // the last snapshot, for the line that ends an interrupted run
}

// start starts the progress display of the job, and its log: every record
// into the output directory's log file, and on the terminal what the
// display leaves room for. end ends both.
func (u *runUX) start(cmd *cobra.Command, hooks *grid.Hooks, output string) (*runView, error) {
	mode, err := progress.ParseMode(u.progress)
	if err != nil {
		return nil, usageError("--progress: %v", err)
	}
	mode = mode.Resolve(os.Stderr)
	v := &runView{display: progress.New(progress.None, nil)}
	term := hooks.Logger.Handler()
	var opts runlog.Options
	if mode != progress.None {
		v.display = progress.New(mode, &progress.Options{Out: os.Stderr, Logger: hooks.Logger})
	}
	if live, ok := v.display.(progress.Live); ok {
		// Log lines go above the live line, not through it, and
		// warnings are counted on it.
		term, err = newLogHandler(live, flagValue(cmd, "log-format"), flagValue(cmd, "log-level"))
		if err != nil {
			return nil, err
		}
		opts.Quiet, opts.TermOut = live, live
	}
	opts.Dir, opts.Term = output, term
	v.log = runlog.New(opts)
	hooks.Logger = slog.New(v.log)
	// Progress is followed even with --progress none: the count of the
	// inputs gives the total an interrupted run reports.
	hooks.OnProgress = func(p grid.Progress) {
		v.mu.Lock()
		v.last = p
		v.mu.Unlock()
		v.display.Update(p)
	}
	hooks.ProgressInterval = u.progressInterval
	if hooks.ProgressInterval <= 0 {
		hooks.ProgressInterval = mode.Interval()
	}
	return v, nil
}

// end ends the live line and closes the log file.
func (v *runView) end() {
	v.display.Close()
	v.log.Close()
}

// interrupted writes the line that ends a run stopped by a signal: what
// is committed, and the command that continues the job. argv is the
// command as run.
func (v *runView) interrupted(w io.Writer, m *grid.Manifest, argv []string) {
	v.mu.Lock()
	last := v.last
	v.mu.Unlock()
	of := ""
	if last.Total > 0 {
		of = " of " + commas(last.Total)
		if last.TotalEstimated && !last.InputDone {
			of = " of ~" + commas(last.Total)
		}
	}
	fmt.Fprintf(w, "interrupted: %s%s elements settled and committed; resume with: %s\n", commas(m.Elements), of, shellJoin(resumeArgs(argv)))
}

// resumeArgs is argv with --resume added, before the binary's arguments.
func resumeArgs(argv []string) []string {
	end := len(argv)
	if i := slices.Index(argv, "--"); i >= 0 {
		end = i
	}
	if slices.Contains(argv[:end], "--resume") || slices.Contains(argv[:end], "--resume=true") {
		return argv
	}
	return slices.Concat(argv[:end], []string{"--resume"}, argv[end:])
}

// shellJoin quotes args for a POSIX shell, each only when it needs it.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = shellQuote(a)
	}
	return strings.Join(out, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_@%+=:,./-", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// commas renders n with thousands separators.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func flagValue(cmd *cobra.Command, name string) string {
	if f := cmd.Flag(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// finish writes the report when asked. A report that cannot be written
// fails a job that succeeded; a failed job's error comes first.
func (u *runUX) finish(w io.Writer, m *grid.Manifest, dir string, runErr error) error {
	if !u.report || m == nil {
		return runErr
	}
	path, err := report.Write(dir, nil)
	if err != nil {
		err = fmt.Errorf("report: %w", err)
		if runErr != nil {
			slog.Error(err.Error())
			return runErr
		}
		return err
	}
	fmt.Fprintf(w, "  report %s\n", path)
	return runErr
}
