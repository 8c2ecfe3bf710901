package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gridrun/gridrun/cmd/internal/summary"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/jobspec"
	"github.com/gridrun/gridrun/join"
)

// runOptions are the run flags: most bind straight into the job (a
// jobspec.Job, whose defaults the flags show); the rest are parsed into it
// by toJob.
type runOptions struct {
	job        grid.Job
	join       jobspec.JoinSpec
	joinAsOf   string
	proto      jobspec.ProtoSchema
	retryCodes []string
	maxMemory  string
	maxDead    string
	ux         runUX
	beam       beamOptions
	live       liveOptions
}

func newRunCmd() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run --binary BINARY --input FILE... --output DIR [flags] [-- BINARY ARGS...]",
		Short: "Run a binary over every element of the inputs",
		Long: `Run the binary over every element of the inputs and write, under --output:

  results-*.jsonl       one {"id", "result"} object per element that has a result
                        (results-*.parquet with --output-format parquet: an id
                        column, then one column per field of the result)
  dead-letters-*.jsonl  one object per element that has none: the element as
                        given, a kind and a message
  manifest.json         counts, timings, the binary's sha256 and the options

Inputs are JSON lines, CSV with a header, length-delimited protobuf (.pb) or
Parquet, local files or objects in Cloud Storage (gs://BUCKET/OBJECT, read
where they are; with STORAGE_EMULATOR_HOST set, the emulator's), globs
allowed in both (gs://BUCKET/trades-*.jsonl). Each column or key names a
field of the binary's input message; see docs/formats.md. Every field of the
message needs a column of a CSV or Parquet input (a missing column would read
as zero) unless --input-optional names it or it has presence of its own
(proto3 optional, oneof, message, repeated); JSON lines omit zero values, so
fields no row of the first batch has are only reported.

Elements go to the binary --batch-size at a time (default 100), as a protobuf
batch file, at most --parallelism calls at once. A binary built with the C++
SDK says what messages it takes (see gridrun describe); for other binaries,
give --proto with --input-type and --result-type.

With --join, each element's market data is looked up by --join-key (field
names in braces, e.g. '{underlying}') once per batch and sent with it. The
table's columns must fill every field of the binary's side message, but those
--join-optional names (checked when a file table opens, and on a Bigtable
table's first read, before its call). The
table is a local CSV or JSONL file, or a Bigtable table
(bigtable://PROJECT/INSTANCE/TABLE, loaded with gridrun marketdata load; with
BIGTABLE_EMULATOR_HOST set, the emulator's), read once per batch for the keys
not already cached.

--binary is a local path, or a version published with gridrun stage push:
gs://BUCKET/PATH/NAME@VERSION (or file:///DIR/NAME@VERSION), fetched once per
machine into the cache and checked against its manifest's sha256 and against
--sha256. A binary whose sha256 does not match never runs: the job stops
before any subprocess starts (exit code 2).

Arguments after -- are passed to the binary.`,
		Example: `  gridrun run --binary bin/pricer --input testdata/trades.jsonl \
      --join testdata/quotes.csv --join-key '{underlying}' --output /tmp/out
  gridrun run --binary gs://my-bucket/bins/pricer@1.4.2 --sha256 HEX \
      --input trades.jsonl --output /tmp/out`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if n := cmd.ArgsLenAtDash(); n >= 0 {
				if n > 0 {
					return usageError("unexpected arguments %q; binary arguments go after --", args[:n])
				}
				o.job.Args = args
			} else if len(args) > 0 {
				return usageError("unexpected arguments %q; binary arguments go after --", args)
			}
			job, err := o.toJob()
			if err != nil {
				return err
			}
			if o.ux.printJob {
				return writeJobFile(cmd.OutOrStdout(), cmd.LocalFlags(), job.Args)
			}
			if err := o.beam.check(cmd, &o.ux); err != nil {
				return err
			}
			if o.beam.runner != runnerLocal {
				if o.live.addr != "" {
					return usageError("--listen serves the local engine's metrics; a Beam runner has its own")
				}
				return o.beam.run(cmd, job)
			}
			if o.beam.dryRun {
				return dryRun(cmd, job)
			}
			hooks := &grid.Hooks{Logger: slog.Default()}
			endLive, err := o.live.start(cmd, hooks, job.Output)
			if err != nil {
				return err
			}
			view, err := o.ux.start(cmd, hooks, job.Output)
			if err != nil {
				endLive(nil)
				return err
			}
			stopGC := boundHeapGrowth(cmd.Context())
			m, err := grid.Run(cmd.Context(), job, hooks)
			stopGC()
			logPath := view.log.Path()
			view.end()
			if m != nil && m.Status == "cancelled" && cmd.Context().Err() != nil {
				// The report of what ran, if asked for, then the line
				// that says how to go on: last, where it is seen.
				if err := o.ux.finish(cmd.OutOrStdout(), m, job.Output, nil); err != nil {
					slog.Error(err.Error())
				}
				endLive(m)
				view.interrupted(cmd.ErrOrStderr(), m, os.Args)
				return &exitError{code: exitFailed}
			}
			if m != nil {
				summary.Write(cmd.OutOrStdout(), m, job.Output)
				if logPath != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "  log %s\n", logPath)
				}
			}
			err = o.ux.finish(cmd.OutOrStdout(), m, job.Output, err)
			endLive(m)
			if errors.Is(err, grid.ErrHalted) {
				return &exitError{code: exitDeadLetters, err: err}
			}
			if err != nil {
				return err
			}
			if m.DeadLetters > 0 {
				return &exitError{code: exitDeadLetters}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	j := &o.job
	// The defaults the flags show are the spec's own.
	j.IDField, j.OutputFormat = jobspec.DefaultIDField, jobspec.DefaultOutputFormat
	j.BatchSize, j.MinBatchSize, j.MaxBatchSize = jobspec.DefaultBatchSize, jobspec.DefaultMinBatchSize, jobspec.DefaultMaxBatchSize
	j.TargetCallDuration, j.BatchBytes = jobspec.Duration(jobspec.DefaultTargetCallDuration), jobspec.DefaultBatchBytes
	j.Grace, j.Backoff = jobspec.Duration(jobspec.DefaultGrace), jobspec.Duration(jobspec.DefaultBackoff)
	j.CommitInterval = jobspec.Duration(jobspec.DefaultCommitInterval)
	j.StallTimeout = jobspec.Duration(jobspec.DefaultStallTimeout)
	o.join.Missing, o.join.CacheBytes = jobspec.MissingDeadLetter, jobspec.DefaultJoinCacheBytes
	f.StringVar(&j.Binary, "binary", "", "the binary to run: a path, or a published version gs://BUCKET/PATH/NAME@VERSION (required)")
	f.StringVar(&j.SHA256, "sha256", "", "expected sha256 of the binary; the job refuses any other bytes (and a version whose manifest says otherwise)")
	f.StringVar(&j.CacheDir, "cache-dir", "", "where staged binaries are kept (default $GRIDRUN_CACHE_DIR or the user cache dir)")
	f.StringVar(&j.Common, "common", "", "the job's common data (curves, calendars, model parameters): one message of the binary's common type, as .json or .pb/.binpb (binary encoding), a path or gs://BUCKET/OBJECT; checked before the first call and sent once to each process of the binary")
	f.StringArrayVar(&j.Env, "env", nil, "KEY=VALUE for the binary's environment (repeatable); it gets only PATH, HOME, USER, LANG, LC_* and TZ otherwise")
	f.StringArrayVar(&j.Inputs, "input", nil, "input file, glob, gs://BUCKET/OBJECT or gs:// glob: .jsonl, .csv or .pb (delimited protobuf), optionally .gz, or .parquet; - reads standard input (--input-format, default jsonl), saved in the output directory first (repeatable, required)")
	inputFormatVar(f, &j.InputFormat)
	f.StringVar(&j.IDField, "id-field", j.IDField, "field holding each element's id")
	f.BoolVar(&j.IgnoreUnknownFields, "ignore-unknown-fields", false, "accept input fields the binary's input message does not have")
	f.StringSliceVar(&j.InputOptional, "input-optional", nil, "fields of the input message a CSV or Parquet input may lack a column for (every other field needs one), e.g. paths,fixings")
	f.StringArrayVar(&o.proto.Files, "proto", nil, ".proto file defining the binary's messages, for binaries without --gridrun-describe (repeatable)")
	f.StringArrayVar(&o.proto.ImportPaths, "proto-path", nil, "import path for --proto files (repeatable; default: their directories)")
	f.StringVar(&o.proto.InputType, "input-type", "", "fully qualified input message type, with --proto")
	f.StringVar(&o.proto.ResultType, "result-type", "", "fully qualified result message type, with --proto")
	f.StringVar(&o.proto.SideType, "side-type", "", "fully qualified side-row message type, with --proto and --join")
	f.StringVar(&o.proto.CommonType, "common-type", "", "fully qualified message type of the common data, with --proto and --common")
	f.StringVar(&o.join.Source, "join", "", "market data table: a CSV or JSONL path or file:// URI, or bigtable://PROJECT/INSTANCE/TABLE")
	f.StringVar(&o.join.Key, "join-key", "", "key template of the join, e.g. '{underlying}' (required with --join)")
	choiceVar(f, &o.join.Missing, "join-missing", o.join.Missing, "element without a join row: dead-letter (kind missing_join) or pass (run it without)", jobspec.MissingDeadLetter, jobspec.MissingPass)
	f.Int64Var(&o.join.CacheBytes, "join-cache-bytes", o.join.CacheBytes, "memory for cached join rows")
	f.StringVar(&o.join.Family, "join-family", "", "Bigtable column family to read (default: all of the row's families)")
	f.StringSliceVar(&o.join.Optional, "join-optional", nil, "fields of the side message the join table may lack a column for (every other field needs one), e.g. dividend")
	f.StringVar(&o.joinAsOf, "join-as-of", "", "read the latest Bigtable cells at or before this RFC 3339 time, so that a rerun prices the same snapshot (default: the latest)")
	// How the table's rows hold the side message, for tables other
	// systems wrote (see docs/join.md).
	f.StringVar(&o.join.CellEncoding, "join-cell-encoding", join.EncodingText, "how a column holds its field: text, or binary (HBase Bytes.toBytes: big-endian doubles, floats, int64, int32, 1-byte bools)")
	f.StringVar(&o.join.MessageColumn, "join-message-column", "", "Bigtable FAMILY:QUALIFIER holding the whole side message, e.g. md:quote")
	f.StringVar(&o.join.MessageFormat, "join-message-format", "", "format of --join-message-column: proto (wire bytes) or json (protojson) (default proto)")
	f.StringArrayVar(&o.join.Columns, "join-column", nil, "FIELD=FAMILY:QUALIFIER (Bigtable) or FIELD=HEADER (file): the column that fills a field of the side message, e.g. spot=px:px_last (repeatable)")
	f.BoolVar(&o.join.Latest, "join-latest", false, "read each key's latest dated row at or before the as-of date: for a --join-key ending with {asof:LAYOUT}")
	f.StringVar(&j.Scenarios, "scenarios", "", "market scenarios, JSON lines, CSV or Parquet, local or gs://: one row per scenario, an id and the fields of the binary's scenario message; every element runs under every scenario (see docs/scenarios.md)")
	f.StringVar(&j.Output, "output", "", "output directory, local (gs://BUCKET/PREFIX with --runner); must be new or empty unless --resume (required)")
	f.BoolVar(&j.Resume, "resume", false, "continue the job that wrote --output, skipping what it committed")
	choiceVar(f, &j.OutputFormat, "output-format", j.OutputFormat, "format of the results: "+listed(grid.ResultFormats())+" (dead letters are always JSON lines)", grid.ResultFormats()...)
	f.StringArrayVar(&j.Aggregates, "aggregate", nil, "a total over the committed results, written to aggregates-N.jsonl (.parquet with --output-format parquet), e.g. 'sum(value, delta) by underlying', 'count() by type', 'quantile(0.99, value) over scenario by underlying'; functions sum, count, mean, min, max, quantile; fields of the result, of the input (input.F when both have F) or scenario (repeatable; see docs/scenarios.md)")
	f.StringVar(&j.ID, "job-id", "", "job id for batch files and the manifest (default: generated)")
	f.IntVar(&j.BatchSize, "batch-size", j.BatchSize, "elements of the first calls; later ones are sized to --target-call-duration")
	f.Var(&j.TargetCallDuration, "target-call-duration", "how long a call should last, from the element times measured as the job runs")
	f.IntVar(&j.MinBatchSize, "min-batch-size", j.MinBatchSize, "fewest elements of an adaptive batch")
	f.IntVar(&j.MaxBatchSize, "max-batch-size", j.MaxBatchSize, "most elements of an adaptive batch")
	f.BoolVar(&j.FixedBatchSize, "fixed-batch-size", false, "keep every batch at --batch-size")
	f.IntVar(&j.BatchBytes, "batch-bytes", j.BatchBytes, "payload bytes per subprocess call, at most")
	f.BoolVar(&j.PartitionByKey, "partition-by-key", false, "batch elements with the same join key together")
	f.IntVar(&j.Parallelism, "parallelism", 0, "subprocesses at once (default: number of CPUs)")
	f.BoolVar(&j.Persistent, "persistent", false, "one long-lived process of the binary per slot, serving batch after batch, instead of a process per call")
	f.BoolVar(&j.NoSplit, "no-split", false, "do not split straggling calls nor back them up at the end of the input")
	f.Var(&j.Timeout, "timeout", "time limit of one call (0: none)")
	f.Var(&j.TimeoutPerElement, "timeout-per-element", "time added to --timeout per element of the call")
	f.Var(stallTimeoutFlag{&j.StallTimeout}, "stall-timeout", "stop a call that streams no result for this long, or for "+strconv.Itoa(jobspec.StallMultiple)+" times the slowest element seen if longer, as a timeout (0: the watchdog is off)")
	f.Var(&j.Grace, "grace", "time a binary has to exit after SIGTERM before it is killed")
	f.IntVar(&j.Retries, "retries", 0, "retries of a call that failed with one of --retry-exit-codes")
	f.StringSliceVar(&o.retryCodes, "retry-exit-codes", nil, "exit codes that mean a transient failure, e.g. 75,111")
	f.Var(&j.Backoff, "backoff", "first retry delay; doubles with each retry, with jitter")
	f.StringVar(&o.maxMemory, "max-memory", "", "address-space limit of each subprocess, e.g. 2GiB")
	f.DurationVar(&j.Limits.CPU, "max-cpu-time", 0, "CPU-time limit of each subprocess")
	f.IntVar(&j.Limits.Processes, "max-processes", 0, "process-count limit of the binary's user (not applied to root)")
	f.IntVar(&j.Limits.OpenFiles, "max-open-files", 0, "open-file limit of each subprocess")
	f.Var(&j.CommitInterval, "commit-interval", "longest time finished elements wait to be committed; a killed job redoes at most this much")
	f.IntVar(&j.LogSample, "log-sample", 0, "keep the stdout/stderr logs of one good call in N (failed calls' logs are always kept)")
	f.StringVar(&j.LogDir, "log-dir", "", "also copy the logs of failed calls here: a directory or gs://BUCKET/PREFIX")
	f.StringVar(&o.maxDead, "max-dead-letters", "", "stop early after N dead letters, or P% of the elements (e.g. 100 or 5%); exit 3")
	f.BoolVar(&j.KeepBatchFiles, "keep-batch-files", false, "keep each call's batch and results files under OUTPUT/calls")
	f.StringVar(&j.ResultCache, "result-cache", "", "result cache, a directory or gs://BUCKET/PREFIX: elements computed before with the same binary, arguments and inputs are settled from it without a call (see docs/incremental.md)")
	choiceVar(f, &j.ResultCacheMode, "result-cache-mode", "", "read (serve hits, store nothing), write (store, serve nothing) or readwrite (default readwrite)", "read", "write", "readwrite")
	o.live.addFlags(f)
	o.ux.addFlags(cmd, &o.job.Args)
	o.beam.addFlags(cmd)
	cmd.MarkFlagRequired("binary")
	cmd.MarkFlagRequired("input")
	cmd.MarkFlagRequired("output")
	return cmd
}

// joinLayoutSet reports whether a --join-* layout flag says other than
// its default.
func joinLayoutSet(l join.Layout) bool {
	return l.CellEncoding != join.EncodingText || l.MessageColumn != "" || l.MessageFormat != "" || len(l.Columns) > 0 || l.Latest
}

func (o *runOptions) toJob() (grid.Job, error) {
	j := o.job
	if o.join.Source != "" || o.join.Key != "" {
		if o.join.Source == "" || o.join.Key == "" {
			return j, usageError("--join and --join-key go together")
		}
		js := o.join
		j.Join = &js
		if o.joinAsOf != "" {
			t, err := time.Parse(time.RFC3339Nano, o.joinAsOf)
			if err != nil {
				return j, usageError("--join-as-of %q: want an RFC 3339 time such as 2026-11-20T21:00:00Z", o.joinAsOf)
			}
			j.Join.AsOf = t
		}
		if err := js.Layout.Check(); err != nil {
			return j, usageError("%v", err)
		}
	} else if o.join.Family != "" || o.joinAsOf != "" || len(o.join.Optional) > 0 || joinLayoutSet(o.join.Layout) {
		return j, usageError("--join-family, --join-as-of, --join-optional and the --join-* layout flags need --join")
	}
	if p := o.proto; len(p.Files) > 0 || p.InputType != "" || p.ResultType != "" || p.CommonType != "" {
		if len(p.Files) == 0 || p.InputType == "" || p.ResultType == "" {
			return j, usageError("--proto, --input-type and --result-type go together")
		}
		j.Proto = &p
	}
	for _, c := range o.retryCodes {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 || n > 255 {
			return j, usageError("--retry-exit-codes: %q is not an exit code", c)
		}
		j.RetryExitCodes = append(j.RetryExitCodes, n)
	}
	if o.maxMemory != "" {
		n, err := parseBytes(o.maxMemory)
		if err != nil {
			return j, usageError("--max-memory: %v", err)
		}
		j.Limits.Memory = n
	}
	if o.maxDead != "" {
		if pct, ok := strings.CutSuffix(o.maxDead, "%"); ok {
			v, err := strconv.ParseFloat(pct, 64)
			if err != nil || v <= 0 || v > 100 {
				return j, usageError("--max-dead-letters: %q is not a percentage", o.maxDead)
			}
			j.MaxDeadLetterPercent = v
		} else {
			n, err := strconv.ParseInt(o.maxDead, 10, 64)
			if err != nil || n <= 0 {
				return j, usageError("--max-dead-letters: %q is not a count or a percentage", o.maxDead)
			}
			j.MaxDeadLetters = n
		}
	}
	return j, nil
}

// parseBytes reads sizes such as 512MiB, 2GiB, 1.5G or 1048576.
func parseBytes(s string) (int64, error) {
	units := map[string]float64{
		"": 1, "b": 1,
		"k": 1e3, "kb": 1e3, "kib": 1 << 10,
		"m": 1e6, "mb": 1e6, "mib": 1 << 20,
		"g": 1e9, "gb": 1e9, "gib": 1 << 30,
		"t": 1e12, "tb": 1e12, "tib": 1 << 40,
	}
	t := strings.ToLower(strings.TrimSpace(s))
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	mult, ok := units[unit]
	v, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || v <= 0 {
		return 0, errors.New(strconv.Quote(s) + " is not a size such as 512MiB or 2GiB")
	}
	return int64(v * mult), nil
}

// stallTimeoutFlag is --stall-timeout: a duration, where 0 switches the
// watchdog off (jobspec.StallOff) rather than taking the default.
type stallTimeoutFlag struct{ d *jobspec.Duration }

func (s stallTimeoutFlag) String() string {
	if s.d == nil || *s.d < 0 {
		return "0s"
	}
	return s.d.String()
}

func (s stallTimeoutFlag) Set(v string) error {
	if err := s.d.Set(v); err != nil {
		return err
	}
	if *s.d <= 0 {
		*s.d = jobspec.StallOff
	}
	return nil
}

func (s stallTimeoutFlag) Type() string { return "duration" }
