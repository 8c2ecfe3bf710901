package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/gridrun/gridrun/cmd/internal/progress"
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
characters, or with --progress json one JSON object per interval.
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

// start starts the progress display of the job and points the job's log at
// it; the returned function ends it.
func (u *runUX) start(cmd *cobra.Command, hooks *grid.Hooks) (stop func(), err error) {
	mode, err := progress.ParseMode(u.progress)
	if err != nil {
		return nil, usageError("--progress: %v", err)
	}
	mode = mode.Resolve(os.Stderr)
	if mode == progress.None {
		return func() {}, nil
	}
	d := progress.New(mode, &progress.Options{Out: os.Stderr, Logger: hooks.Logger})
	if w, ok := d.(io.Writer); ok {
		// Log lines go above the live line, not through it.
		h, err := newLogHandler(w, flagValue(cmd, "log-format"), flagValue(cmd, "log-level"))
		if err != nil {
			return nil, err
		}
		hooks.Logger = slog.New(h)
	}
	hooks.OnProgress = d.Update
	hooks.ProgressInterval = u.progressInterval
	if hooks.ProgressInterval <= 0 {
		hooks.ProgressInterval = mode.Interval()
	}
	return d.Close, nil
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
