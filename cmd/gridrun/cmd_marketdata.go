package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gridrun/gridrun/binstage"
	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/jobspec"
	"github.com/gridrun/gridrun/join"
	"github.com/gridrun/gridrun/join/bigtable"
	"github.com/gridrun/gridrun/wrapper"
)

func newMarketdataCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "marketdata",
		Short: "Manage the market data tables jobs join",
	}
	cmd.AddCommand(newMarketdataLoadCmd(), newMarketdataShowCmd())
	return cmd
}

type loadOptions struct {
	key       string
	family    string
	timestamp string
	format    string
	bulkRows  int
	layout    join.Layout
	side      sideOptions
}

// sideOptions name the side message type: from a binary that describes
// itself, or from .proto files.
type sideOptions struct {
	binary, cacheDir string
	protoFiles       []string
	protoPaths       []string
	sideType         string
}

func (o *sideOptions) addFlags(f *pflag.FlagSet, why string) {
	f.StringVar(&o.binary, "binary", "", "binary whose side message type "+why+" (asked with --gridrun-describe)")
	f.StringVar(&o.cacheDir, "cache-dir", "", "where staged binaries are kept")
	f.StringArrayVar(&o.protoFiles, "proto", nil, ".proto file defining the side message, with --side-type, instead of --binary (repeatable)")
	f.StringArrayVar(&o.protoPaths, "proto-path", nil, "import path for --proto files (repeatable)")
	f.StringVar(&o.sideType, "side-type", "", "fully qualified side message type, with --proto")
}

func (o *sideOptions) given() bool { return o.binary != "" || len(o.protoFiles) > 0 }

// load returns the side message type.
func (o *sideOptions) load(ctx context.Context) (protoreflect.MessageDescriptor, error) {
	if len(o.protoFiles) > 0 {
		if o.sideType == "" || o.binary != "" {
			return nil, usageError("--proto needs --side-type, and replaces --binary")
		}
		s, err := wrapper.SchemaFromProtoFiles(ctx, o.protoFiles, o.protoPaths, o.sideType, o.sideType, o.sideType)
		if err != nil {
			return nil, &grid.ConfigError{Err: err}
		}
		return s.Side, nil
	}
	staged, err := binstage.Stage(ctx, o.binary, &binstage.Options{CacheDir: o.cacheDir})
	if err != nil {
		return nil, &grid.ConfigError{Err: err}
	}
	image, err := staged.Open()
	if err != nil {
		return nil, &grid.ConfigError{Err: err}
	}
	defer image.Close()
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := wrapper.Describe(dctx, wrapper.Binary{Path: staged.Path, Image: image})
	if err != nil {
		return nil, &grid.ConfigError{Err: err}
	}
	if s.Side == nil {
		return nil, &grid.ConfigError{Err: fmt.Errorf("%s takes no side rows (its description names no side type)", o.binary)}
	}
	return s.Side, nil
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
	f.StringVar(&o.layout.CellEncoding, "cell-encoding", join.EncodingText, "text, or binary: numbers and bools as HBase Bytes.toBytes writes them, by the side message's field types (needs --binary or --proto)")
	f.StringVar(&o.layout.MessageColumn, "message-column", "", "write each row as one cell FAMILY:QUALIFIER holding the whole side message (needs --binary or --proto; --family may be left out)")
	f.StringVar(&o.layout.MessageFormat, "message-format", "", "format of --message-column: proto or json (default proto)")
	o.side.addFlags(f, "binary cells and --message-column are written as")
	// Checked in runLoad rather than marked required: cobra's own check
	// returns an error that cannot be told from a failed load (exit 1).
	return cmd
}

func runLoad(ctx context.Context, stdout, stderr io.Writer, o loadOptions, file, uri string) error {
	if o.key == "" || o.family == "" && o.layout.MessageColumn == "" {
		return usageError("marketdata load needs --key and --family (or --message-column)")
	}
	if err := o.layout.Check(); err != nil {
		return usageError("%v", strings.ReplaceAll(err.Error(), "--join-", "--"))
	}
	if _, err := bigtable.ParseURI(uri); err != nil {
		return usageError("%v", err)
	}
	key, err := codec.ParseTemplate(o.key)
	if err != nil {
		return usageError("--key: %v", err)
	}
	opts := &bigtable.LoadOptions{Key: key, Family: o.family, BulkRows: o.bulkRows, Layout: o.layout}
	if o.layout.CellEncoding == join.EncodingBinary || o.layout.MessageColumn != "" {
		if !o.side.given() {
			return usageError("--cell-encoding binary and --message-column need the side message type: --binary, or --proto with --side-type")
		}
		if opts.Side, err = o.side.load(ctx); err != nil {
			return err
		}
	}
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

type showOptions struct {
	join jobspec.JoinSpec
	asOf string
	side sideOptions
}

func newMarketdataShowCmd() *cobra.Command {
	var o showOptions
	cmd := &cobra.Command{
		Use:   "show bigtable://PROJECT/INSTANCE/TABLE KEY (--binary BINARY | --proto FILE --side-type TYPE) [--join-* flags]",
		Short: "Print a row of a Bigtable table as a join reads it",
		Long: `Show reads the row a join would read for KEY (the key the job's --join-key
renders), with the job's --join-* flags, and prints the cells the join takes
(the latest of each column at or before --join-as-of) and the side message
they become, or why they do not become one: the tool to reach for when a job's
join finds nothing, or finds something else than expected.

With --join-latest, KEY ends with the as-of date and the row shown is the
key's latest dated row at or before it; --join-key gives the template, which
must end with {asof:LAYOUT}.

Exit codes:
  0  the row was found and becomes the side message
  1  there is no such row, or it does not become the side message
  2  usage error`,
		Example: `  gridrun marketdata show bigtable://my-project/my-instance/quotes AAPL --binary bin/pricer
  gridrun marketdata show bigtable://p/i/feed 'EQ#AAPL#20261201' --binary bin/pricer \
      --join-key 'EQ#{underlying}#{asof:20060102}' --join-latest --join-as-of 2026-12-01T21:00:00Z \
      --join-cell-encoding binary --join-column spot=px:px_last`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError("marketdata show takes a bigtable:// URI and a row key, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runShow(cmd.Context(), cmd.OutOrStdout(), o, args[0], args[1])
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	o.side.addFlags(f, "the row is decoded into")
	f.StringVar(&o.join.Key, "join-key", "", "the job's key template; needed with --join-latest")
	f.StringVar(&o.join.Family, "join-family", "", "Bigtable column family to read (default: all of the row's families)")
	f.StringVar(&o.asOf, "join-as-of", "", "read the latest cells at or before this RFC 3339 time (default: now)")
	f.StringSliceVar(&o.join.Optional, "join-optional", nil, "fields of the side message a row may lack a mapped column for")
	f.StringVar(&o.join.CellEncoding, "join-cell-encoding", join.EncodingText, "how a column holds its field: text or binary")
	f.StringVar(&o.join.MessageColumn, "join-message-column", "", "FAMILY:QUALIFIER holding the whole side message")
	f.StringVar(&o.join.MessageFormat, "join-message-format", "", "format of --join-message-column: proto or json (default proto)")
	f.StringArrayVar(&o.join.Columns, "join-column", nil, "FIELD=FAMILY:QUALIFIER: the column that fills a field (repeatable)")
	f.BoolVar(&o.join.Latest, "join-latest", false, "show KEY's latest dated row at or before the as-of date")
	return cmd
}

func runShow(ctx context.Context, stdout io.Writer, o showOptions, uri, key string) error {
	if _, err := bigtable.ParseURI(uri); err != nil {
		return usageError("%v", err)
	}
	if !o.side.given() {
		return usageError("marketdata show needs the side message type: --binary, or --proto with --side-type")
	}
	if err := o.join.Layout.Check(); err != nil {
		return usageError("%v", err)
	}
	asOf := time.Now().UTC()
	if o.asOf != "" {
		var err error
		if asOf, err = time.Parse(time.RFC3339Nano, o.asOf); err != nil {
			return usageError("--join-as-of %q: want an RFC 3339 time such as 2026-11-20T21:00:00Z", o.asOf)
		}
	}
	var tmpl *codec.Template
	if o.join.Key != "" {
		var err error
		if tmpl, err = o.join.KeyTemplate(asOf); err != nil {
			return usageError("--join-key: %v", err)
		}
	} else if o.join.Latest {
		return usageError("--join-latest needs --join-key, the template whose keys end with {asof:LAYOUT}")
	}
	side, err := o.side.load(ctx)
	if err != nil {
		return err
	}
	v, err := bigtable.Show(ctx, uri, key, o.join.Spec(side, tmpl, asOf), nil)
	if err != nil {
		return &grid.ConfigError{Err: err}
	}
	if v == nil {
		return fmt.Errorf("no row for key %q in %s (read as of %s)", key, uri, asOf.Format(time.RFC3339Nano))
	}
	fmt.Fprintf(stdout, "row %q", v.Key)
	if v.Key != key {
		fmt.Fprintf(stdout, " (the latest at or before key %q)", key)
	}
	fmt.Fprintln(stdout)
	for _, c := range v.Cells {
		fmt.Fprintf(stdout, "  %-24s @ %s  %s\n", c.Column, c.Timestamp.Time().UTC().Format(time.RFC3339Nano), cellText(c.Value))
	}
	if v.Err != nil {
		return fmt.Errorf("%s: %w", uri, v.Err)
	}
	b, err := protojson.MarshalOptions{EmitUnpopulated: true, UseProtoNames: true}.Marshal(v.Message)
	if err != nil {
		return err
	}
	// Indented here: protojson's own spacing varies on purpose.
	var ind bytes.Buffer
	if err := json.Indent(&ind, b, "", "  "); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "as %s:\n%s\n", side.FullName(), ind.Bytes())
	return nil
}

// cellText shows a cell's value: quoted when it is text, else its bytes
// in hex (a binary number, a serialized message).
func cellText(b []byte) string {
	if utf8.Valid(b) && !strings.ContainsFunc(string(b), func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(string(b))
	}
	return fmt.Sprintf("% x (%d bytes)", b, len(b))
}
