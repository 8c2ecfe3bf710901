package grid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/gridrun/gridrun/wrapper"
)

// Job describes one run of a binary over inputs. Run fills in the defaults
// the fields name; the Job is recorded in the manifest as run.
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
	// Proto gives the message types of a binary that cannot describe
	// itself (not built with the SDK). Nil asks the binary.
	Proto *ProtoSchema `json:"proto,omitempty"`

	// Inputs are the files to read: local paths or globs, or objects in
	// Cloud Storage (gs://BUCKET/OBJECT), or "-" for Stdin. Required.
	Inputs []string `json:"inputs"`
	// InputFormat is jsonl, csv, pb or parquet. Defaults to guessing from
	// each input's name, and to jsonl for "-".
	InputFormat string `json:"input_format,omitempty"`
	// Stdin is the input "-": saved whole (gunzipped if gzipped) in the
	// output directory before the job starts, so that a resumed job can
	// read it again. Nil reads os.Stdin.
	Stdin io.Reader `json:"-"`
	// IDField names the field holding each element's id. Defaults to "id".
	IDField string `json:"id_field,omitempty"`
	// IgnoreUnknownFields accepts input fields the input message lacks.
	IgnoreUnknownFields bool `json:"ignore_unknown_fields,omitempty"`

	// Join attaches market data to the elements. Nil joins nothing.
	Join *JoinSpec `json:"join,omitempty"`

	// Output is the directory for results, dead letters and the manifest.
	// Required; it must be empty or absent unless Resume is set.
	Output string `json:"output"`
	// Resume continues a job that stopped, from its journal in Output.
	Resume bool `json:"resume,omitempty"`
	// OutputFormat is the results' format: "jsonl" (the default), or a
	// format registered with RegisterResultFormat ("parquet").
	OutputFormat string `json:"output_format,omitempty"`

	// BatchSize is the number of elements of the first calls. Defaults to
	// 100. Later batches are sized to last about TargetCallDuration
	// (default 2s), within MinBatchSize (default 1) and MaxBatchSize
	// (default 10,000), and shrink near the end of the input so that the
	// slots finish together; FixedBatchSize keeps every batch at BatchSize.
	BatchSize          int      `json:"batch_size,omitempty"`
	MinBatchSize       int      `json:"min_batch_size,omitempty"`
	MaxBatchSize       int      `json:"max_batch_size,omitempty"`
	TargetCallDuration Duration `json:"target_call_duration,omitempty"`
	FixedBatchSize     bool     `json:"fixed_batch_size,omitempty"`
	// BatchBytes bounds the payload bytes per call. Defaults to 64 MiB.
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
	// of the input (see the scheduler); they are on by default for
	// binaries that stop between elements on SIGTERM (the SDK's).
	NoSplit bool `json:"no_split,omitempty"`
	// Parallelism caps the subprocesses running at once. Defaults to the
	// number of CPUs.
	Parallelism int `json:"parallelism,omitempty"`

	// Timeout bounds one call; TimeoutPerElement adds to it per element.
	// Zero means no bound.
	Timeout           Duration `json:"timeout,omitempty"`
	TimeoutPerElement Duration `json:"timeout_per_element,omitempty"`
	// Grace is how long a binary has to exit after SIGTERM before it and
	// its children are killed. Defaults to 5s.
	Grace Duration `json:"grace,omitempty"`
	// Retries is how many times a call that failed with one of
	// RetryExitCodes is retried, with exponential backoff from Backoff
	// (default 1s) and jitter.
	Retries        int      `json:"retries,omitempty"`
	RetryExitCodes []int    `json:"retry_exit_codes,omitempty"`
	Backoff        Duration `json:"backoff,omitempty"`
	// Limits constrain each subprocess.
	Limits wrapper.Limits `json:"limits,omitzero"`

	// CommitInterval is the longest time outcomes wait before they are
	// committed (made visible and journaled). A killed job recomputes at
	// most this much work. Defaults to 10s.
	CommitInterval Duration `json:"commit_interval,omitempty"`

	// LogSample keeps the stdout and stderr logs of one good call in
	// LogSample under Output/logs; 0 keeps none. The logs of failed calls
	// are always kept. Empty logs are never kept.
	LogSample int `json:"log_sample,omitempty"`
	// LogDir, when set, also receives the logs of failed calls, under a
	// folder named after the job: a local directory or gs://BUCKET/PREFIX.
	LogDir string `json:"log_dir,omitempty"`
	// UploadLog copies a failed call's log into LogDir and returns where
	// it went. Defaults to copying into a local LogDir.
	UploadLog func(ctx context.Context, path string) (string, error) `json:"-"`

	// MaxDeadLetters stops the job early once more elements than this are
	// dead letters; 0 never stops. MaxDeadLetterPercent stops it once more
	// than this percentage of the elements settled (at least 100) are.
	// In-flight calls finish; the job ends with ErrHalted, and a resume
	// goes on from there.
	MaxDeadLetters       int64   `json:"max_dead_letters,omitempty"`
	MaxDeadLetterPercent float64 `json:"max_dead_letter_percent,omitempty"`

	// KeepBatchFiles keeps each call's batch and results files under
	// Output/calls for inspection.
	KeepBatchFiles bool `json:"keep_batch_files,omitempty"`

	// Logger receives the job's structured log. Defaults to slog.Default().
	Logger *slog.Logger `json:"-"`
	// OnProgress, when set, is called every ProgressInterval (default 1s)
	// while the job runs, and once when it ends.
	OnProgress       func(Progress) `json:"-"`
	ProgressInterval time.Duration  `json:"-"`
}

// ProtoSchema names the message types of a binary from .proto files.
type ProtoSchema struct {
	Files       []string `json:"files"`
	ImportPaths []string `json:"import_paths,omitempty"`
	InputType   string   `json:"input_type"`
	ResultType  string   `json:"result_type"`
	SideType    string   `json:"side_type,omitempty"`
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
	// "dead-letter" (the default, kind missing_join) or "pass" (the binary
	// gets the element without a row).
	Missing string `json:"missing,omitempty"`
	// CacheBytes bounds the cached rows. Defaults to 256 MiB.
	CacheBytes int64 `json:"cache_bytes,omitempty"`
	// Family narrows a Bigtable read to one column family.
	Family string `json:"family,omitempty"`
	// AsOf reads the latest cells at or before this time, so that a rerun
	// prices against the same snapshot. Zero reads the latest.
	AsOf time.Time `json:"as_of,omitzero"`
}

// Duration is a time.Duration written as "30s" in job files and manifests.
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ErrHalted is the error of a job stopped by its dead-letter limits.
var ErrHalted = errors.New("halted: too many dead letters")

// ConfigError is a problem with the job itself, found before any
// subprocess starts: the CLI exits with status 2.
type ConfigError struct {
	Err error
}

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func configErr(format string, args ...any) error {
	return &ConfigError{Err: fmt.Errorf(format, args...)}
}

// withDefaults returns a copy of the job with its defaults filled in, or a
// ConfigError.
func (j Job) withDefaults() (Job, error) {
	if j.Binary == "" {
		return j, configErr("no binary given")
	}
	if len(j.Inputs) == 0 {
		return j, configErr("no input given")
	}
	if j.Output == "" {
		return j, configErr("no output directory given")
	}
	j.Output = strings.TrimPrefix(j.Output, "file://")
	if scheme, _, ok := strings.Cut(j.Output, "://"); ok {
		return j, configErr("output %s: this engine writes to a local directory; write to %s:// from a Beam runner (--runner prism|dataflow), or copy the directory there after the job", j.Output, scheme)
	}
	return j.WithRunDefaults()
}

// WithDefaults returns a copy of the job with its defaults filled in, or a
// *ConfigError: what Run checks before it starts.
func (j Job) WithDefaults() (Job, error) { return j.withDefaults() }

// WithRunDefaults is WithDefaults without the inputs and the output: the
// check of a job whose elements come from elsewhere and whose outcomes go
// elsewhere, such as the grid step of a Beam pipeline.
func (j Job) WithRunDefaults() (Job, error) {
	if j.Binary == "" {
		return j, configErr("no binary given")
	}
	if j.IDField == "" {
		j.IDField = "id"
	}
	if j.OutputFormat == "" {
		j.OutputFormat = "jsonl"
	}
	if _, err := resultFormat(j.OutputFormat); err != nil {
		return j, &ConfigError{Err: err}
	}
	if j.BatchSize == 0 {
		j.BatchSize = 100
	}
	if j.MinBatchSize == 0 {
		j.MinBatchSize = 1
	}
	if j.MaxBatchSize == 0 {
		j.MaxBatchSize = max(10_000, j.BatchSize)
	}
	if j.TargetCallDuration == 0 {
		j.TargetCallDuration = Duration(2 * time.Second)
	}
	if j.BatchBytes == 0 {
		j.BatchBytes = 64 << 20
	}
	if j.Parallelism == 0 {
		j.Parallelism = runtime.NumCPU()
	}
	if j.Grace == 0 {
		j.Grace = Duration(5 * time.Second)
	}
	if j.CommitInterval <= 0 {
		j.CommitInterval = Duration(10 * time.Second)
	}
	if j.Backoff == 0 {
		j.Backoff = Duration(time.Second)
	}
	switch {
	case j.BatchSize < 0:
		return j, configErr("batch size %d: must be positive", j.BatchSize)
	case j.MinBatchSize < 0 || j.MaxBatchSize < j.MinBatchSize:
		return j, configErr("batch sizes: want 1 <= min (%d) <= max (%d)", j.MinBatchSize, j.MaxBatchSize)
	case j.TargetCallDuration < 0:
		return j, configErr("target call duration must be positive")
	case j.Parallelism < 0:
		return j, configErr("parallelism %d: must be positive", j.Parallelism)
	case j.Retries < 0:
		return j, configErr("retries %d: must not be negative", j.Retries)
	case j.Timeout < 0 || j.TimeoutPerElement < 0:
		return j, configErr("timeouts must not be negative")
	case j.MaxDeadLetters < 0 || j.MaxDeadLetterPercent < 0 || j.MaxDeadLetterPercent > 100:
		return j, configErr("dead-letter limits must be a count or a percentage between 0 and 100")
	case j.LogSample < 0:
		return j, configErr("log sample %d: must not be negative", j.LogSample)
	}
	if j.Join != nil {
		if j.Join.Source == "" || j.Join.Key == "" {
			return j, configErr("a join needs both a source and a key template")
		}
		switch j.Join.Missing {
		case "":
			j.Join.Missing = MissingDeadLetter
		case MissingDeadLetter, MissingPass:
		default:
			return j, configErr("join missing %q: want %q or %q", j.Join.Missing, MissingDeadLetter, MissingPass)
		}
	}
	if j.Logger == nil {
		j.Logger = slog.Default()
	}
	if j.ProgressInterval <= 0 {
		j.ProgressInterval = time.Second
	}
	return j, nil
}

// What an element without a join row becomes.
const (
	MissingDeadLetter = "dead-letter"
	MissingPass       = "pass"
)

func (j Job) String() string {
	b, _ := json.Marshal(j)
	return string(b)
}
