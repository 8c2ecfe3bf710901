package grid

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/gridrun/gridrun/jobspec"
)

// The job is data (package jobspec): the same value is the library's
// configuration, a job file, the options a manifest records and what the
// Beam runner receives. These names keep grid's API whole.
type (
	Job         = jobspec.Job
	JoinSpec    = jobspec.JoinSpec
	ProtoSchema = jobspec.ProtoSchema
	Duration    = jobspec.Duration
	// ConfigError is a problem with the job itself, found before any
	// subprocess starts: the CLI exits with status 2.
	ConfigError = jobspec.Error
)

// What an element without a join row becomes.
const (
	MissingDeadLetter = jobspec.MissingDeadLetter
	MissingPass       = jobspec.MissingPass
)

// DefaultProgressInterval is how often Hooks.OnProgress is called unless
// Hooks.ProgressInterval says otherwise.
const DefaultProgressInterval = time.Second

// The messages of the job's first and last log records, for a log handler
// that shows them its own way (a terminal's short lines).
const (
	LogJobStarted  = "job started"
	LogJobFinished = "job finished"
)

// Hooks connect a running job to the process that runs it: the parts of a
// job that are not data and so are neither recorded nor sent to a Beam
// worker. The zero value is usable; nil Hooks are the zero value.
type Hooks struct {
	// Logger receives the job's structured log. Defaults to slog.Default().
	Logger *slog.Logger
	// OnProgress, when set, is called every ProgressInterval (default
	// DefaultProgressInterval) while the job runs, and once when it ends.
	// With it set, the inputs' rows are counted beside the job, so that
	// Progress.Total is known long before the inputs are read.
	OnProgress       func(Progress)
	ProgressInterval time.Duration
	// UploadLog copies a failed call's log into Job.LogDir and returns
	// where it went. Defaults to copying into a local LogDir, or uploading
	// under a gs:// one.
	UploadLog func(ctx context.Context, path string) (string, error)
	// Stdin is the input "-": saved whole (gunzipped if gzipped) in the
	// output directory before the job starts, so that a resumed job can
	// read it again. Defaults to os.Stdin.
	Stdin io.Reader
	// Observer, when set, is told of every call and outcome as it
	// happens (see Observer).
	Observer Observer
}

func (h *Hooks) withDefaults() Hooks {
	var v Hooks
	if h != nil {
		v = *h
	}
	if v.Logger == nil {
		v.Logger = slog.Default()
	}
	if v.ProgressInterval <= 0 {
		v.ProgressInterval = DefaultProgressInterval
	}
	return v
}

// ErrHalted is the error of a job stopped by its dead-letter limits.
var ErrHalted = errors.New("halted: too many dead letters")

func configErr(format string, args ...any) error { return jobspec.Errorf(format, args...) }

// WithDefaults returns a copy of the job with its defaults filled in, or a
// *ConfigError: what Run checks before it starts.
func WithDefaults(j Job) (Job, error) {
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
	return WithRunDefaults(j)
}

// WithRunDefaults is WithDefaults without the inputs and the output: the
// check of a job whose elements come from elsewhere and whose outcomes go
// elsewhere, such as the grid step of a Beam pipeline.
func WithRunDefaults(j Job) (Job, error) {
	j, err := j.WithDefaults()
	if err != nil {
		return j, err
	}
	if _, err := resultFormat(j.OutputFormat); err != nil {
		return j, &ConfigError{Err: err}
	}
	return j, nil
}

// overLimit returns ErrHalted, with the reason, once the dead letters pass
// the job's limits.
func overLimit(j Job, results, dead int64) error {
	if why := j.OverLimit(results, dead); why != "" {
		return fmt.Errorf("%w: %s", ErrHalted, why)
	}
	return nil
}
