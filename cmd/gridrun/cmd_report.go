package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gridrun/gridrun/report"
)

func newReportCmd() *cobra.Command {
	var opts report.Options
	cmd := &cobra.Command{
		Use:   "report OUTPUT_DIR",
		Short: "Write the HTML report of a finished job",
		Long: `Write report.html into the output directory of a finished job: one
self-contained page (no network fetches when opened) with the summary, the
Gantt chart of the calls per slot over time (retries, isolations, splits,
backups and failed calls marked; stragglers run past the balanced finish),
the histograms of per-element and per-call durations, the batch sizes over
time and the dead letters grouped by kind with examples.

A job killed and resumed is reported over all its runs: the charts draw
the runs one after the other without the idle time between them, mark
where each begins, and draw the calls in flight at a kill as lost; the
balanced finish and the slots' busy time count only the runs' own time.

gridrun run --report writes the same page at the end of a run.`,
		Example: `  gridrun report out/demo && xdg-open out/demo/report.html`,
		Args:    cobra.ExactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return nil, cobra.ShellCompDirectiveFilterDirs
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := report.Write(args[0], &opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), path)
			return nil
		},
	}
	cmd.Flags().IntVar(&opts.MaxCalls, "max-calls", 20000, "calls drawn in the Gantt chart at most; past it, the notable and the longest")
	cmd.Flags().IntVar(&opts.Examples, "examples", 5, "dead letters shown per kind")
	return cmd
}
