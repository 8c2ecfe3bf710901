package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gridrun/gridrun/grid"
)

// dryRun is `gridrun run --dry-run` on the local engine: every check the
// job would make before its first call, and more (every row read and
// decoded, every join key looked up), then the plan on stdout. Nothing is
// called on an element and nothing is written to the output directory.
// Any problem is a usage error (exit 2): the job as given would not run,
// or would not run as meant.
func dryRun(cmd *cobra.Command, job grid.Job) error {
	pl, err := grid.DryRun(cmd.Context(), job, nil)
	if err != nil {
		if cmd.Context().Err() != nil {
			return err
		}
		return &exitError{code: exitUsage, err: err}
	}
	writePlan(cmd.OutOrStdout(), pl, job)
	return nil
}

// writePlan prints the plan, one aligned line a part, as the summary of a
// run prints its results.
func writePlan(w io.Writer, pl *grid.Plan, job grid.Job) {
	fmt.Fprintln(w, "dry run: the job would start; no element was sent to the binary, nothing was written")
	b := pl.Binary
	own := ""
	if b.Name != "" {
		own = fmt.Sprintf(" (%s %s)", b.Name, b.Version)
	}
	fmt.Fprintf(w, "  binary   %s%s sha256 %s\n", b.URI, own, b.SHA256)
	side := ""
	if pl.Side != "" {
		side = ", side rows " + pl.Side
	}
	fmt.Fprintf(w, "  messages %s -> %s%s\n", pl.Input, pl.Result, side)
	if c := pl.Common; c != nil {
		fmt.Fprintf(w, "  common   %s: a %s of %d bytes, sha256 %s\n", c.Source, c.Type, c.Bytes, c.SHA256)
	}
	for _, in := range pl.Inputs {
		fmt.Fprintf(w, "  input    %s (%s, %d bytes): %d rows\n", in.Path, in.Format, in.Size, in.Rows)
	}
	bad := ""
	if pl.BadRows > 0 {
		bad = fmt.Sprintf(", %d of them bad: each would be a bad_input dead letter", pl.BadRows)
	}
	fmt.Fprintf(w, "  rows     %d in %d inputs%s\n", pl.Rows, len(pl.Inputs), bad)
	sizing := fmt.Sprintf("about %d batches of %d at first; later ones sized to %v calls", pl.Batches, job.BatchSize, job.TargetCallDuration)
	if job.FixedBatchSize {
		sizing = fmt.Sprintf("%d batches of %d", pl.Batches, job.BatchSize)
	}
	fmt.Fprintf(w, "  batches  %s\n", sizing)
	if j := pl.Join; j != nil {
		fmt.Fprintf(w, "  join     %s, key %s", j.Source, j.Key)
		switch {
		case !j.Checked:
			fmt.Fprintf(w, ": keys not checked (more than a dry run looks up)\n")
		case j.Missing == 0:
			fmt.Fprintf(w, ": all %d keys found\n", j.Keys)
		default:
			fate := "missing_join dead letters"
			if job.Join != nil && job.Join.Missing == grid.MissingPass {
				fate = "run without a row (--join-missing pass)"
			}
			fmt.Fprintf(w, ": %d of %d keys have no row (%s): their elements become %s\n", j.Missing, j.Keys, strings.Join(j.MissingKeys, ", "), fate)
		}
		if len(j.Unused) > 0 {
			fmt.Fprintf(w, "           columns that fill no field: %s\n", strings.Join(j.Unused, ", "))
		}
	}
	state := "new"
	switch {
	case pl.Resume:
		state = "resumed"
	case pl.OutputExists:
		state = "exists, empty"
	}
	fmt.Fprintf(w, "  output   %s (%s)\n", pl.Output, state)
}
