package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/join/bigtable"
)

func newMarketdataCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "marketdata",
		Short: "Manage the market data tables jobs join",
	}
	cmd.AddCommand(newMarketdataLoadCmd())
	return cmd
}

type loadOptions struct {
	key       string
	family    string
	timestamp string
	format    string
	bulkRows  int
}

func newMarketdataLoadCmd() *cobra.Command {
	var o loadOptions
	cmd := &cobra.Command{
		Use:   "load FILE bigtable://PROJECT/INSTANCE/TABLE --key TEMPLATE --family FAMILY",
		Short: "Load a CSV or JSONL file into a Bigtable table for --join",
		Long: `Load writes each row of FILE (CSV with a header, or JSONL) to the table: the
row key is rendered by --key, and every column (CSV) or field (JSONL) becomes a
cell of --family named after it, holding the value as text, all with one
timestamp (--timestamp, default now). The table and the family are created when
they do not exist. A job reads the rows back with --join and --join-key, and
with --join-as-of reads the snapshot of a given time.

With BIGTABLE_EMULATOR_HOST set, load writes to that emulator; otherwise to
Cloud Bigtable, with application default credentials.

Rows that cannot be loaded (a missing or empty key field, a key already on an
earlier line, bad JSON, a wrong number of CSV cells) are reported with their
file and line, and the rest are loaded.

Exit codes:
  0  every row was written
  1  the load failed (rows written before the failure stay)
  2  usage error; nothing was written
  3  the load finished, but some rows were rejected`,
		Example: `  gridrun marketdata load testdata/quotes.csv bigtable://my-project/my-instance/quotes \
      --key '{underlying}' --family q --timestamp 2026-11-20T21:00:00Z`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError("marketdata load takes FILE and a bigtable:// URI, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLoad(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o, args[0], args[1])
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVar(&o.key, "key", "", "row key template, e.g. '{underlying}': the --join-key of the jobs that read it (required)")
	f.StringVar(&o.family, "family", "", "column family the cells go to; created if missing (required)")
	f.StringVar(&o.timestamp, "timestamp", "", "RFC 3339 time of the cells, the snapshot --join-as-of reads (default now)")
	var tables []string
	for _, fm := range codec.Formats() {
		if fm.Table() {
			tables = append(tables, string(fm))
		}
	}
	choiceVar(f, &o.format, "format", "", listed(tables)+" when the file's name does not tell", tables...)
	f.IntVar(&o.bulkRows, "bulk-rows", 1000, "rows per bulk write")
	// Checked in runLoad rather than marked required: cobra's own check
	// returns an error that cannot be told from a failed load (exit 1).
	return cmd
}

func runLoad(ctx context.Context, stdout, stderr io.Writer, o loadOptions, file, uri string) error {
	if o.key == "" || o.family == "" {
		return usageError("marketdata load needs --key and --family")
	}
	if _, err := bigtable.ParseURI(uri); err != nil {
		return usageError("%v", err)
	}
	key, err := codec.ParseTemplate(o.key)
	if err != nil {
		return usageError("--key: %v", err)
	}
	opts := &bigtable.LoadOptions{Key: key, Family: o.family, BulkRows: o.bulkRows}
	if o.timestamp != "" {
		if opts.Timestamp, err = time.Parse(time.RFC3339Nano, o.timestamp); err != nil {
			return usageError("--timestamp %q: want an RFC 3339 time such as 2026-11-20T21:00:00Z", o.timestamp)
		}
	}
	if o.format != "" {
		if opts.Format, err = codec.ParseFormat(o.format); err != nil {
			return usageError("--format: %v", err)
		}
	}
	if o.bulkRows < 1 {
		return usageError("--bulk-rows %d: must be positive", o.bulkRows)
	}
	rep, err := bigtable.Load(ctx, uri, file, opts)
	if rep != nil {
		for _, r := range rep.Rejects {
			fmt.Fprintln(stderr, "rejected:", r)
		}
		if more := rep.Rejected - int64(len(rep.Rejects)); more > 0 {
			fmt.Fprintf(stderr, "rejected: %d more rows not listed\n", more)
		}
		var created []string
		if rep.CreatedTable {
			created = append(created, "table")
		}
		if rep.CreatedFamily {
			created = append(created, "family")
		}
		fmt.Fprintf(stdout, "%s family %s at %s: %d rows written, %d rejected",
			rep.Table, rep.Family, rep.Timestamp.Format(time.RFC3339Nano), rep.Rows, rep.Rejected)
		if len(created) > 0 {
			fmt.Fprintf(stdout, " (created %s)", strings.Join(created, " and "))
		}
		fmt.Fprintln(stdout)
	}
	if err != nil {
		return err
	}
	if rep.Rejected > 0 {
		return &exitError{code: exitRejected}
	}
	return nil
}
