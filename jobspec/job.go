package jobspec

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/join"
	"github.com/gridrun/gridrun/resultcache"
	"github.com/gridrun/gridrun/wrapper"
)

// MaxScenarios caps the rows of a scenarios file (Job.Scenarios), which is
// held in memory whole: scenarios are a market's shocks or its history, a
// few thousand at most, and every element runs under each.
const MaxScenarios = 100_000

// Defaults of the Job's fields: a zero field takes these.
const (
	DefaultIDField            = "id"
	DefaultOutputFormat       = "jsonl"
	DefaultBatchSize          = 100
	DefaultMinBatchSize       = 1
	DefaultMaxBatchSize       = 10_000
	DefaultTargetCallDuration = 2 * time.Second
	DefaultBatchBytes         = 64 << 20
	DefaultGrace              = 5 * time.Second
	DefaultStallTimeout       = 10 * time.Minute
	DefaultBackoff            = time.Second
	DefaultCommitInterval     = 10 * time.Second
	DefaultJoinCacheBytes     = join.DefaultCacheBytes
	DefaultResultCacheMode    = string(resultcache.ModeReadWrite)
)

// StallOff, as a Job's StallTimeout, switches the stall watchdog off.
const StallOff = Duration(-1)

// StallMultiple times the slowest element seen is how long a call may go
// without a result when that is longer than the job's StallTimeout.
const StallMultiple = 10

// DefaultParallelism is the default cap of subprocesses at once: the CPUs
// of the machine that runs them.
func DefaultParallelism() int { return runtime.NumCPU() }

// Job describes one run of a binary over inputs.
type Job struct {
	// ID names the job in batch files, logs and the manifest. Defaults to a
	// new random id; a resumed job keeps its first id.
	ID string `json:"id,omitempty"`

	// Binary is the binary to run: a local path or file:// URI, or a
	// published version (gs://BUCKET/PATH/NAME@VERSION, see binstage). It
	// is staged (fetched or copied into the cache, and hashed) and only
	// the staged copy is executed. Required.
	Binary string `json:"binary"`
	// SHA256 pins the binary's expected hash; a mismatch stops the job
	// before any subprocess starts.
	SHA256 string `json:"sha256,omitempty"`
	// CacheDir is where staged binaries are kept. Defaults to binstage's.
	CacheDir string `json:"cache_dir,omitempty"`
	// Args are passed to the binary after the protocol's flags.
	Args []string `json:"args,omitempty"`
	// Env adds KEY=VALUE pairs to the binary's environment, which is
	// otherwise only PATH, HOME, LANG, LC_*, TZ and USER of the runner.
	Env []string `json:"env,omitempty"`
	// Common is the job's common data (curves, calendars, model
	// parameters shared by every element): a file holding one message of
	// the binary's common type (its description's common_type), as JSON
	// (.json, protobuf's JSON mapping) or in the protobuf binary encoding
	// (.pb, .binpb); a local path or gs://BUCKET/OBJECT. It is checked
	// against the type before the first call, then sent to each process of
	// the binary once, with its first batch (Batch.common). Empty sends
	// none.
	Common string `json:"common,omitempty"`
	// Proto gives the message types of a binary that cannot describe
	// itself (not built with the SDK). Nil asks the binary.
	Proto *ProtoSchema `json:"proto,omitempty"`

	// Inputs are the files to read: local paths or globs, or objects in
	// Cloud Storage (gs://BUCKET/OBJECT), or "-" for standard input (the
	// engine's hooks may give another reader). Required.
	Inputs []string `json:"inputs"`
	// InputFormat is a registered input format (jsonl, csv, pb, parquet).
	// Defaults to guessing from each input's name, and to jsonl for "-".
	InputFormat string `json:"input_format,omitempty"`
	// IDField names the field holding each element's id. Defaults to
	// DefaultIDField.
	IDField string `json:"id_field,omitempty"`
	// IgnoreUnknownFields accepts input fields the input message lacks.
	IgnoreUnknownFields bool `json:"ignore_unknown_fields,omitempty"`
	// InputOptional names fields of the input message that a CSV or
	// Parquet input may have no column for; every other field needs one,
	// besides those with presence of their own (proto3 optional, oneof
	// members, messages, repeated and map fields).
	InputOptional []string `json:"input_optional,omitempty"`

	// Join attaches market data to the elements. Nil joins nothing.
	Join *JoinSpec `json:"join,omitempty"`
	// Scenarios is a file of market scenarios (JSON lines, CSV or
	// Parquet; local or gs://), one row per scenario: an id and the fields
	// of the binary's scenario message. Every element runs under every
	// scenario; a result is identified by (element id, scenario id). The
	// file is read whole before the first call, up to MaxScenarios rows.
	// Empty: no scenarios.
	Scenarios string `json:"scenarios,omitempty"`

	// Output is the directory for results, dead letters and the manifest.
	// Required; it must be empty or absent unless Resume is set.
	Output string `json:"output"`
	// Resume continues a job that stopped, from its journal in Output.
	Resume bool `json:"resume,omitempty"`
	// OutputFormat is the results' format, a registered result format.
	// Defaults to DefaultOutputFormat (JSON lines).
	OutputFormat string `json:"output_format,omitempty"`
	// Aggregates are totals computed over the committed results, each a
	// spec package aggregate parses, e.g. "sum(value) by underlying" or
	// "quantile(0.99, value) over scenario by underlying"; each writes an
	// aggregates file in Output. Empty computes none.
	Aggregates []string `json:"aggregates,omitempty"`

	// BatchSize is the number of elements of the first calls. Defaults to
	// DefaultBatchSize. Later batches are sized to last about
	// TargetCallDuration (default DefaultTargetCallDuration), within
	// MinBatchSize (default DefaultMinBatchSize) and MaxBatchSize (default
	// DefaultMaxBatchSize, or BatchSize if larger), and shrink near the end
	// of the input so that the slots finish together; FixedBatchSize keeps
	// every batch at BatchSize.
	BatchSize          int      `json:"batch_size,omitempty"`
	MinBatchSize       int      `json:"min_batch_size,omitempty"`
	MaxBatchSize       int      `json:"max_batch_size,omitempty"`
	TargetCallDuration Duration `json:"target_call_duration,omitempty"`
	FixedBatchSize     bool     `json:"fixed_batch_size,omitempty"`
	// BatchBytes bounds the payload bytes per call. Defaults to
	// DefaultBatchBytes.
	BatchBytes int `json:"batch_bytes,omitempty"`
	// PartitionByKey batches elements that share a join key together.
	PartitionByKey bool `json:"partition_by_key,omitempty"`
	// Persistent runs each slot's calls in one long-lived process of the
	// binary, serving batch after batch over pipes, instead of a process
	// per call: for elements so cheap that a process start per batch still
	// counts. The binary must serve (the SDK's do). A worker that fails a
	// call is replaced.
	Persistent bool `json:"persistent,omitempty"`
	// NoSplit turns off splitting running calls and backup calls at the end
	// of the input; they are on by default for binaries that stop between
	// elements on SIGTERM (the SDK's).
	NoSplit bool `json:"no_split,omitempty"`
	// Parallelism caps the subprocesses running at once. Defaults to
	// DefaultParallelism(), the number of CPUs.
	Parallelism int `json:"parallelism,omitempty"`

	// Timeout bounds one call; TimeoutPerElement adds to it per element.
	// Zero means no bound.
	Timeout           Duration `json:"timeout,omitempty"`
	TimeoutPerElement Duration `json:"timeout_per_element,omitempty"`
	// StallTimeout arms the stall watchdog: a call that streams no result
	// for the longer of StallTimeout and StallMultiple times the slowest
	// element seen so far in the job is stopped like a timed-out call.
	// Defaults to DefaultStallTimeout; negative (StallOff) switches the
	// watchdog off.
	StallTimeout Duration `json:"stall_timeout,omitempty"`
	// Grace is how long a binary has to exit after SIGTERM before it and
	// its children are killed. Defaults to DefaultGrace.
	Grace Duration `json:"grace,omitempty"`
	// Retries is how many times a call that failed with one of
	// RetryExitCodes is retried, with exponential backoff from Backoff
	// (default DefaultBackoff) and jitter.
	Retries        int      `json:"retries,omitempty"`
	RetryExitCodes []int    `json:"retry_exit_codes,omitempty"`
	Backoff        Duration `json:"backoff,omitempty"`
	// Limits constrain each subprocess.
	Limits wrapper.Limits `json:"limits,omitzero"`

	// CommitInterval is the longest time outcomes wait before they are
	// committed (made visible and journaled). A killed job recomputes at
	// most this much work. Defaults to DefaultCommitInterval.
	CommitInterval Duration `json:"commit_interval,omitempty"`

	// LogSample keeps the stdout and stderr logs of one good call in
	// LogSample under Output/logs; 0 keeps none. The logs of failed calls
	// are always kept. Empty logs are never kept.
	LogSample int `json:"log_sample,omitempty"`
	// LogDir, when set, also receives the logs of failed calls, under a
	// folder named after the job: a local directory or gs://BUCKET/PREFIX.
	LogDir string `json:"log_dir,omitempty"`

	// MaxDeadLetters stops the job early once more elements than this are
	// dead letters; 0 never stops. MaxDeadLetterPercent stops it once more
	// than this percentage of the elements settled (at least 100) are.
	// In-flight calls finish; the job ends halted, and a resume goes on
	// from there.
	MaxDeadLetters       int64   `json:"max_dead_letters,omitempty"`
	MaxDeadLetterPercent float64 `json:"max_dead_letter_percent,omitempty"`

	// KeepBatchFiles keeps each call's batch and results files under
	// Output/calls for inspection.
	KeepBatchFiles bool `json:"keep_batch_files,omitempty"`

	// ResultCache, when set, is a result cache (a directory or
	// gs://BUCKET/PREFIX, see package resultcache): elements whose inputs
	// (the binary's sha256, arguments and environment, payload, side rows,
	// scenario, common data) it holds a result for are settled from it
	// without a call, and the results computed are stored in it.
	ResultCache string `json:"result_cache,omitempty"`
	// ResultCacheMode is read, write or readwrite. Defaults to
	// DefaultResultCacheMode when ResultCache is set.
	ResultCacheMode string `json:"result_cache_mode,omitempty"`
}

// ProtoSchema names the message types of a binary from .proto files.
type ProtoSchema struct {
	Files       []string `json:"files"`
	ImportPaths []string `json:"import_paths,omitempty"`
	InputType   string   `json:"input_type"`
	ResultType  string   `json:"result_type"`
	SideType    string   `json:"side_type,omitempty"`
	// CommonType is the message of the job's common data (Job.Common),
	// for a binary that takes some.
	CommonType string `json:"common_type,omitempty"`
}

// JoinSpec says where an element's market data comes from.
type JoinSpec struct {
	// Source is a table: a CSV or JSONL path or file:// URI, or any scheme
	// registered with package join (bigtable://...).
	Source string `json:"source"`
	// Key renders an element's key from its fields, e.g. "{underlying}".
	// The same template finds the rows of a file table.
	Key string `json:"key"`
	// Missing says what happens to an element whose key has no row:
	// MissingDeadLetter (the default, kind missing_join) or MissingPass
	// (the binary gets the element without a row).
	Missing string `json:"missing,omitempty"`
	// CacheBytes bounds the cached rows. Defaults to DefaultJoinCacheBytes.
	CacheBytes int64 `json:"cache_bytes,omitempty"`
	// Family narrows a Bigtable read to one column family.
	Family string `json:"family,omitempty"`
	// AsOf reads the latest cells at or before this time, so that a rerun
	// prices against the same snapshot. Zero reads the latest.
	AsOf time.Time `json:"as_of,omitzero"`
	// Optional names fields of the side message the table may have no
	// column for; every other field needs one, besides those with
	// presence of their own (as for Job.InputOptional).
	Optional []string `json:"optional,omitempty"`
	// Layout says how the table's rows hold the side message, for tables
	// other systems wrote: binary cells, one column holding the whole
	// message, columns named by a feed, the latest dated row. Its fields
	// sit beside the others in JSON (cell_encoding, message_column,
	// message_format, columns, latest); see join.Layout for defaults.
	join.Layout
}

// KeyTemplate parses the join's key template, its {asof:...} parts bound
// to asOf (the time the join reads as of) when asOf is not zero.
func (s *JoinSpec) KeyTemplate(asOf time.Time) (*codec.Template, error) {
	key, err := codec.ParseTemplate(s.Key)
	if err != nil {
		return nil, err
	}
	if key.UsesAsOf() && !asOf.IsZero() {
		key = key.WithAsOf(asOf)
	}
	return key, nil
}

// Spec is what join.Open needs of the join, for rows of type side found
// by key and read as of asOf: the engines' one way to say it.
func (s *JoinSpec) Spec(side protoreflect.MessageDescriptor, key *codec.Template, asOf time.Time) join.Spec {
	return join.Spec{Side: side, Key: key, Family: s.Family, AsOf: asOf, Optional: s.Optional, Layout: s.Layout}
}

// What an element without a join row becomes.
const (
	MissingDeadLetter = "dead-letter"
	MissingPass       = "pass"
)

// Duration is a time.Duration written as "30s" in job files and manifests.
// It is also a command-line flag value (Set, Type).
type Duration time.Duration

// String is the duration as time.Duration writes it, except zero, which is
// "0": what command-line help takes for a flag without a default.
func (d Duration) String() string {
	if d == 0 {
		return "0"
	}
	return time.Duration(d).String()
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error { return d.Set(string(b)) }

// Set parses a duration such as "30s", as a flag value.
func (d *Duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Type names the flag value's type in help text.
func (d *Duration) Type() string { return "duration" }

// Error is a problem with the job itself, found before any subprocess
// starts: the CLI exits with status 2.
type Error struct {
	Err error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error.
func Errorf(format string, args ...any) error {
	return &Error{Err: fmt.Errorf(format, args...)}
}

// WithDefaults returns a copy of the job with its defaults filled in, or an
// *Error. It checks what the job says on its own; what needs the world
// (the binary, the inputs, the registered formats) the engine checks. The
// job's Join is copied, never written through.
func (j Job) WithDefaults() (Job, error) {
	if j.Binary == "" {
		return j, Errorf("no binary given")
	}
	j.IDField = cmpOr(j.IDField, DefaultIDField)
	j.OutputFormat = cmpOr(j.OutputFormat, DefaultOutputFormat)
	j.BatchSize = cmpOr(j.BatchSize, DefaultBatchSize)
	j.MinBatchSize = cmpOr(j.MinBatchSize, DefaultMinBatchSize)
	j.MaxBatchSize = cmpOr(j.MaxBatchSize, max(DefaultMaxBatchSize, j.BatchSize))
	j.TargetCallDuration = cmpOr(j.TargetCallDuration, Duration(DefaultTargetCallDuration))
	j.BatchBytes = cmpOr(j.BatchBytes, DefaultBatchBytes)
	j.Parallelism = cmpOr(j.Parallelism, DefaultParallelism())
	j.Grace = cmpOr(j.Grace, Duration(DefaultGrace))
	j.StallTimeout = cmpOr(j.StallTimeout, Duration(DefaultStallTimeout))
	j.Backoff = cmpOr(j.Backoff, Duration(DefaultBackoff))
	if j.CommitInterval <= 0 {
		j.CommitInterval = Duration(DefaultCommitInterval)
	}
	switch {
	case j.BatchSize < 0:
		return j, Errorf("batch size %d: must be positive", j.BatchSize)
	case j.MinBatchSize < 0 || j.MaxBatchSize < j.MinBatchSize:
		return j, Errorf("batch sizes: want 1 <= min (%d) <= max (%d)", j.MinBatchSize, j.MaxBatchSize)
	case j.TargetCallDuration < 0:
		return j, Errorf("target call duration must be positive")
	case j.Parallelism < 0:
		return j, Errorf("parallelism %d: must be positive", j.Parallelism)
	case j.Retries < 0:
		return j, Errorf("retries %d: must not be negative", j.Retries)
	case j.Timeout < 0 || j.TimeoutPerElement < 0:
		return j, Errorf("timeouts must not be negative")
	case j.MaxDeadLetters < 0 || j.MaxDeadLetterPercent < 0 || j.MaxDeadLetterPercent > 100:
		return j, Errorf("dead-letter limits must be a count or a percentage between 0 and 100")
	case j.LogSample < 0:
		return j, Errorf("log sample %d: must not be negative", j.LogSample)
	}
	if j.ResultCache != "" {
		m, err := resultcache.ParseMode(j.ResultCacheMode)
		if err != nil {
			return j, &Error{Err: err}
		}
		j.ResultCacheMode = string(m)
	} else if j.ResultCacheMode != "" {
		return j, Errorf("a result cache mode (%s) needs a result cache", j.ResultCacheMode)
	}
	if j.Join != nil {
		js := *j.Join
		if js.Source == "" || js.Key == "" {
			return j, Errorf("a join needs both a source and a key template")
		}
		switch js.Missing {
		case "":
			js.Missing = MissingDeadLetter
		case MissingDeadLetter, MissingPass:
		default:
			return j, Errorf("join missing %q: want %q or %q", js.Missing, MissingDeadLetter, MissingPass)
		}
		js.CacheBytes = cmpOr(js.CacheBytes, DefaultJoinCacheBytes)
		if err := js.Layout.Check(); err != nil {
			return j, &Error{Err: err}
		}
		js.Layout = js.Layout.WithDefaults()
		js.Columns = slices.Clone(js.Columns) // copied, never written through
		j.Join = &js
	}
	return j, nil
}

// OverLimit returns the reason the job's dead-letter limits stop it once
// results and dead elements have settled, or "".
func (j Job) OverLimit(results, dead int64) string {
	settled := results + dead
	switch {
	case j.MaxDeadLetters > 0 && dead > j.MaxDeadLetters:
		return fmt.Sprintf("%d dead letters exceed --max-dead-letters %d", dead, j.MaxDeadLetters)
	case j.MaxDeadLetterPercent > 0 && settled >= 100 && float64(dead) > j.MaxDeadLetterPercent/100*float64(settled):
		return fmt.Sprintf("%d dead letters of %d elements exceed --max-dead-letters %g%%", dead, settled, j.MaxDeadLetterPercent)
	}
	return ""
}

func (j Job) String() string {
	b, _ := json.Marshal(j)
	return string(b)
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
