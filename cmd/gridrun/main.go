// Command gridrun runs a compiled binary over millions of elements.
//
// Exit codes:
//
//	0  every element has a result
//	1  the job failed or was interrupted (committed output stays; rerun with --resume)
//	2  usage or configuration error; no call ran
//	3  the job finished, but some elements are dead letters
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gridrun/gridrun/grid"
	// Registers bigtable:// as a join source.
	_ "github.com/gridrun/gridrun/join/bigtable"
)

// Exit codes, as documented above and in --help.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitDeadLetters = 3
	// exitRejected is marketdata load's 3: the load finished, some rows
	// were rejected.
	exitRejected = 3
)

// exitError carries an exit code to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks errors in how gridrun was called.
func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal stops the job cleanly; a second one ends gridrun at
	// once, as signals do by default.
	go func() {
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	// An error before a command's RunE starts is cobra's: a bad flag, a
	// missing required flag, a wrong argument.
	ran := false
	markRun(root, &ran)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.err == nil {
		return ee.code
	}
	fmt.Fprintln(stderr, "gridrun:", err)
	var ce *grid.ConfigError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ce), !ran:
		return exitUsage
	}
	return exitFailed
}

// markRun sets *ran when any command's RunE starts.
func markRun(c *cobra.Command, ran *bool) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			*ran = true
			return run(cmd, args)
		}
	}
	for _, sub := range c.Commands() {
		markRun(sub, ran)
	}
}

func newRootCmd() *cobra.Command {
	var logFormat, logLevel string
	root := &cobra.Command{
		Use:   "gridrun",
		Short: "Run a compiled binary over millions of elements, in batches, without losing one",
		Long: `gridrun runs an external binary (a C++ pricing or risk library, say) over every
element of its inputs in batches, one subprocess call each, as protobuf files:
100 elements to start, then as many as last about --target-call-duration (2s),
measured as the job runs. At most --parallelism calls run at once, with market
data joined per batch. Every element ends in exactly one place: the results,
or the dead letters with the reason. A killed job resumes where it stopped.

Exit codes:
  0  every element has a result
  1  the job failed or was interrupted (rerun with --resume to continue)
  2  usage or configuration error; no call ran
  3  the job finished, but some elements are dead letters

` + envPrecedence,
		SilenceUsage:  true,
		SilenceErrors: true,
		// An unknown command within two edits of one is suggested.
		SuggestionsMinimumDistance: 2,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd); err != nil {
				return err
			}
			return setupLogging(cmd.ErrOrStderr(), logFormat, logLevel)
		},
	}
	pf := root.PersistentFlags()
	choiceVar(pf, &logFormat, "log-format", "text", "log format on stderr: text or json", logFormats...)
	choiceVar(pf, &logLevel, "log-level", "info", "log level: debug, info, warn or error", logLevels...)
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(newRunCmd(), newDescribeCmd(), newStageCmd(), newMarketdataCmd(), newCacheCmd(), newVersionCmd())
	addUXCommands(root)
	addVersionFlag(root)
	return root
}

// The words --log-format and --log-level take.
var (
	logFormats = []string{"text", "json"}
	logLevels  = []string{"debug", "info", "warn", "error"}
)

func setupLogging(w io.Writer, format, level string) error {
	h, err := newLogHandler(w, format, level)
	if err != nil {
		return err
	}
	slog.SetDefault(slog.New(h))
	return nil
}

// newLogHandler is the log handler the --log-format and --log-level flags
// ask for, writing to w.
func newLogHandler(w io.Writer, format, level string) (slog.Handler, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.NewTextHandler(w, opts), nil
	case "json":
		return slog.NewJSONHandler(w, opts), nil
	}
	return nil, usageError("--log-format %q: want text or json", format)
}
