package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gridrun/gridrun/outdir"
)

func newVerifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify OUTPUT_DIR",
		Short: "Check a finished job's output end to end before loading it",
		Long: `Check the output directory of a finished job end to end: manifest.json is
there, parses and says the job finished; every line of every results and
dead-letter shard parses (Parquet results are read row by row); the counts
equal the manifest's; no id is settled twice; the files the manifest names
exist and no other shard does; and every shard matches the size, line count
and sha256 the job's journal recorded when it committed it (a Beam output has
no journal: its shards are checked without checksums).

One line per problem, naming the file (and the line), then a summary line.
Exit 0 when the output is whole, 1 when anything is wrong.`,
		Example: `  gridrun verify out/demo && load-results out/demo`,
		Args:    cobra.ExactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return nil, cobra.ShellCompDirectiveFilterDirs
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			v, err := outdir.Verify(cmd.Context(), dir)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, p := range v.Problems {
				p.File = filepath.Join(dir, p.File)
				fmt.Fprintln(out, p)
			}
			checked := "no journal checksums"
			if v.Checksums > 0 {
				checked = fmt.Sprintf("%d checked against the journal", v.Checksums)
			}
			if !v.OK() {
				fmt.Fprintf(out, "%s: %s; %d results and %d dead letters read from %d files (%s)\n",
					dir, problems(len(v.Problems)), v.Results, v.DeadLetters, v.Files, checked)
				return &exitError{code: exitFailed}
			}
			fmt.Fprintf(out, "%s: ok: %d results and %d dead letters in %d files (%s)\n",
				dir, v.Results, v.DeadLetters, v.Files, checked)
			return nil
		},
	}
}

func problems(n int) string {
	if n == 1 {
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", n)
}
