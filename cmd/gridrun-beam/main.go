// Command gridrun-beam runs a gridrun job as an Apache Beam pipeline: on
// prism in this process, or on Google Cloud Dataflow. gridrun run
// --runner prism|dataflow starts it with the job it parsed from the same
// flags as a local run; it can be run directly with a job as JSON (the
// "options" of a manifest.json, or gridrun's grid.Job):
//
//	gridrun-beam -job job.json -runner prism
//	gridrun-beam -job - -runner dataflow -project P -region R \
//	    -staging_location gs://B/staging [Beam's Dataflow flags] < job.json
//
// Beam's own flags (-project, -region, -staging_location, -temp_location,
// -worker_machine_type, -max_num_workers, -service_account_email,
// -network, -subnetwork, -sdk_container_image, ...) are accepted as Beam
// spells them. -dry_run builds the pipeline and prints it, and for
// Dataflow the job it would submit, without running anything.
//
// The binary is also the pipeline's worker on Dataflow: the Dataflow
// runner uploads it (or -worker_binary) to the staging location, and
// Dataflow's Go container starts it with -worker.
//
// Exit codes are gridrun run's:
//
//	0  every element has a result
//	1  the job failed or was interrupted
//	2  usage or configuration error; nothing was submitted
//	3  the job finished, but some elements are dead letters
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/gridrun/gridrun/beamgrid"
	"github.com/gridrun/gridrun/cmd/internal/summary"
	"github.com/gridrun/gridrun/grid"
	// Registers bigtable:// as a join source.
	_ "github.com/gridrun/gridrun/join/bigtable"
)

const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitDeadLetters = 3
)

var (
	jobFlag      = flag.String("job", "", "the job as JSON (a grid.Job, as in a manifest's options); - reads standard input (required)")
	runnerFlag   = flag.String("runner", "prism", "prism (in this process) or dataflow")
	shards       = flag.Int("shards", 0, "no longer used: duplicate ids are found by merging sorted files of ids (recorded in the manifest)")
	outputShards = flag.Int("output_shards", 0, "no longer used: each range of an input writes its own results and dead-letter files")
	logFormat    = flag.String("log_format", "text", "log format on stderr: text or json")
	logLevel     = flag.String("log_level", "info", "log level: debug, info, warn or error")
)

func main() {
	flag.Parse()
	// In a Dataflow worker, this runs the worker harness and exits.
	beam.Init()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Stdin, os.Stdout, os.Stderr))
}

// usageError marks a mistake in how the command was called.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

func run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) int {
	code, err := runJob(ctx, stdin, stdout, stderr)
	if err == nil {
		return code
	}
	fmt.Fprintln(stderr, "gridrun-beam:", err)
	var ue *usageError
	var ce *grid.ConfigError
	if errors.As(err, &ue) || errors.As(err, &ce) {
		return exitUsage
	}
	return exitFailed
}

func runJob(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if err := setupLogging(stderr); err != nil {
		return 0, err
	}
	job, err := readJob(stdin)
	if err != nil {
		return 0, err
	}
	dryRun := flagBool("dry_run")
	var execute func(context.Context, *beam.Pipeline) (beam.PipelineResult, error)
	switch *runnerFlag {
	case "prism":
		execute = prism.Execute
	case "dataflow":
		if err := checkRemote(job); err != nil {
			return 0, err
		}
		if err := checkDataflow(ctx, job); err != nil {
			return 0, err
		}
		if err := setWorkerBinary(); err != nil {
			return 0, err
		}
		execute = dataflow.Execute
	default:
		return 0, usagef("-runner %q: want prism or dataflow", *runnerFlag)
	}
	p, s := beam.NewPipelineWithRoot()
	var workerCache string
	if *runnerFlag == "dataflow" {
		workerCache = *workerCacheDir
	}
	plan, err := beamgrid.Build(ctx, s, job, &beamgrid.BuildOptions{
		Shards: *shards, OutputShards: *outputShards, Runner: *runnerFlag, DryRun: dryRun, WorkerCacheDir: workerCache,
	})
	if err != nil {
		return 0, err
	}
	if dryRun {
		return exitOK, printDryRun(ctx, stdout, p, plan, job)
	}
	slog.Info("pipeline built", "runner", *runnerFlag, "job", plan.Step.JobID(), "inputs", len(plan.Inputs),
		"shards", plan.Shards, "output_shards", plan.OutputShards, "binary", plan.Step.Staged().Source, "sha256", plan.Step.Staged().SHA256)
	_, err = execute(ctx, p)
	// The DoFns ran in this process on prism; their join connections go.
	beamgrid.Close()
	async := *runnerFlag == "dataflow" && (flagBool("execute_async") || flagBool("async"))
	if !async {
		// The manifest's DoFn releases the output's lock; a failed
		// pipeline's is released here.
		if uerr := plan.Unlock(ctx); uerr != nil {
			slog.Warn("cannot release the output directory's lock", "lock", job.Output+"/_gridrun/lock", "err", uerr)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("the pipeline failed: %w", err)
	}
	if async {
		fmt.Fprintf(stdout, "job %s submitted; its manifest will be %s/manifest.json\n", plan.Step.JobID(), job.Output)
		return exitOK, nil
	}
	m, err := beamgrid.ReadManifest(ctx, job.Output)
	if err != nil {
		return 0, fmt.Errorf("the pipeline ended without a manifest: %w", err)
	}
	summary.Write(stdout, m, job.Output)
	fmt.Fprintf(stdout, "  runner %s: %d shards\n", m.Runner, m.Shards)
	switch m.Status {
	case "ok":
		return exitOK, nil
	case "dead_letters":
		return exitDeadLetters, nil
	}
	return 0, errors.New(m.Error)
}

// readJob reads the job given with -job.
func readJob(stdin io.Reader) (grid.Job, error) {
	var job grid.Job
	var r io.Reader
	switch *jobFlag {
	case "":
		return job, usagef("-job is required: a job as JSON, or - for standard input")
	case "-":
		r = stdin
	default:
		f, err := os.Open(*jobFlag)
		if err != nil {
			return job, &usageError{err}
		}
		defer f.Close()
		r = f
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&job); err != nil {
		return job, usagef("job %s: %v", *jobFlag, err)
	}
	return job, nil
}

// checkRemote refuses local files a Dataflow worker cannot read.
func checkRemote(j grid.Job) error {
	remote := func(uri string) bool {
		scheme, _, ok := strings.Cut(uri, "://")
		return ok && scheme != "file"
	}
	switch {
	case !remote(j.Binary):
		return usagef("binary %s: Dataflow workers cannot read a local file; publish it (gridrun stage push %s gs://BUCKET/bins/NAME@VERSION) and run that", j.Binary, j.Binary)
	case !remote(j.Output):
		return usagef("output %s: Dataflow workers write to Cloud Storage (gs://BUCKET/PATH), not a local directory", j.Output)
	case j.Join != nil && !remote(j.Join.Source):
		return usagef("join %s: Dataflow workers cannot read a local table; load it into Bigtable (gridrun marketdata load)", j.Join.Source)
	case j.LogDir != "" && !remote(j.LogDir):
		return usagef("log dir %s: Dataflow workers cannot write a local directory", j.LogDir)
	}
	for _, in := range j.Inputs {
		if !remote(in) {
			return usagef("input %s: Dataflow workers cannot read a local file; copy it to Cloud Storage", in)
		}
	}
	return nil
}

// setWorkerBinary makes this binary the Dataflow workers' unless
// -worker_binary names another. Without it, the Beam SDK would compile the
// pipeline's main package from source, which an installed gridrun-beam
// does not have. make build links it statically (CGO_ENABLED=0), so that
// it runs in the Go SDK container whatever glibc it was built against.
func setWorkerBinary() error {
	if flagString("worker_binary") != "" {
		return nil
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return usagef("Dataflow workers are linux/amd64: give -worker_binary, a build of gridrun-beam for them (GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build ./cmd/gridrun-beam)")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	return flag.Set("worker_binary", self)
}

// flagBool reads a boolean flag registered by a Beam package.
func flagBool(name string) bool {
	f := flag.Lookup(name)
	return f != nil && f.Value.String() == "true"
}

func flagString(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

func setupLogging(w io.Writer) error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("-log_level %q: want debug, info, warn or error", *logLevel)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch *logFormat {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return usagef("-log_format %q: want text or json", *logFormat)
	}
	slog.SetDefault(slog.New(quietBeam{h}))
	return nil
}

// quietBeam turns the Beam SDK's and prism's informational lines (a job
// server started, a worker stopped: a dozen a run) into debug lines, so
// that the job's own log reads as with the local engine. They come from
// Beam's packages, or through the standard log package (no PC), which
// only Beam's worker harness uses here.
type quietBeam struct{ slog.Handler }

func (q quietBeam) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo && fromBeam(r.PC) {
		r.Level = slog.LevelDebug
		if !q.Handler.Enabled(ctx, r.Level) {
			return nil
		}
	}
	return q.Handler.Handle(ctx, r)
}

func fromBeam(pc uintptr) bool {
	if pc == 0 {
		return true
	}
	fn := runtime.FuncForPC(pc)
	return fn != nil && strings.HasPrefix(fn.Name(), "github.com/apache/beam/")
}

func (q quietBeam) WithAttrs(as []slog.Attr) slog.Handler { return quietBeam{q.Handler.WithAttrs(as)} }
func (q quietBeam) WithGroup(name string) slog.Handler    { return quietBeam{q.Handler.WithGroup(name)} }
