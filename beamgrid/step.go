package beamgrid

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"google.golang.org/protobuf/proto"

	"github.com/gridrun/gridrun/binstage"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/join"
	"github.com/gridrun/gridrun/outdir"
	"github.com/gridrun/gridrun/wrapper"
)

// Options configure the grid step. The zero value is usable.
type Options struct {
	// Shards is the number of keys elements are grouped under (a checksum
	// of the id modulo Shards) before they are cut into batches: the unit
	// a worker takes. About four batches a shard is a good size. Defaults
	// to 64.
	Shards int
}

func (o *Options) withDefaults() Options {
	var v Options
	if o != nil {
		v = *o
	}
	if v.Shards <= 0 {
		v.Shards = 64
	}
	return v
}

// Step is the grid step of a Beam pipeline: a job checked and resolved when
// the pipeline is built, ready to apply to a PCollection of elements.
type Step struct {
	spec   spec
	staged *binstage.Staged
	schema *wrapper.Schema
}

// spec is what workers need to rebuild the step. It travels inside the
// DoFns, which Beam encodes as JSON (the job is data only), with the
// binary's messages as a serialized Description: workers neither run the
// binary to learn them nor need .proto files.
type spec struct {
	Job   grid.Job
	JobID string
	// SHA256 pins the binary to the bytes verified when the pipeline was
	// built: a worker runs those bytes or fails.
	SHA256      string
	Description []byte
	// Common is the job's common data, read and checked when the
	// pipeline is built: workers never read Job.Common, a file that may
	// exist only where the pipeline was built.
	Common *grid.CommonData `json:",omitempty"`
	// Scenarios are the job's scenarios, read and checked when the
	// pipeline is built, as Common is; nil without.
	Scenarios *grid.Scenarios `json:",omitempty"`
	Shards    int
	// Output, when set, receives the logs of failed calls under logs/.
	Output string
}

// ErrUnsupported reports a job option the Beam runner does not implement.
var ErrUnsupported = errors.New("not supported on Beam")

// Prepare checks a job and resolves it for a pipeline: it fills in the
// defaults, stages the binary here (verifying it, and recording its sha256
// so that every worker runs the same bytes), learns the binary's messages
// and checks the join. Job.Inputs and Job.Output are not the step's
// business (Build reads and writes them); Job.Parallelism, when 0, is the
// number of CPUs of each worker. A *grid.ConfigError means the job cannot
// run.
//
// Job.Scenarios is refused: the step runs the elements it is given, one
// each, and the fan-out of rows over scenarios is Build's pipeline's.
func Prepare(ctx context.Context, job grid.Job, opts *Options) (*Step, error) {
	if job.Scenarios != "" {
		return nil, configErr("--scenarios %s: a Step runs each element it is given once; scenarios run in the pipeline Build makes", job.Scenarios)
	}
	return prepare(ctx, job, opts)
}

// prepare is Prepare, and loads the job's scenarios into the spec for
// Build's pipeline.
func prepare(ctx context.Context, job grid.Job, opts *Options) (*Step, error) {
	o := opts.withDefaults()
	perWorker := job.Parallelism == 0
	j, err := grid.WithRunDefaults(job)
	if err != nil {
		return nil, err
	}
	if perWorker {
		j.Parallelism = 0 // decided on each worker, by its CPUs
	}
	if err := unsupported(j); err != nil {
		return nil, err
	}
	staged, err := binstage.Stage(ctx, j.Binary, &binstage.Options{CacheDir: j.CacheDir, SHA256: j.SHA256})
	if err != nil {
		return nil, &grid.ConfigError{Err: err}
	}
	image, err := staged.Open()
	if err != nil {
		return nil, &grid.ConfigError{Err: err}
	}
	bin := wrapper.Binary{Path: staged.Source, Image: image, Args: j.Args, Env: grid.BinaryEnv(j.Env)}
	schema, err := grid.LoadSchema(ctx, j, bin)
	image.Close()
	if err != nil {
		return nil, &grid.ConfigError{Err: err}
	}
	if err := grid.CheckJoin(j, schema); err != nil {
		return nil, err
	}
	common, err := grid.LoadCommon(ctx, j, schema)
	if err != nil {
		return nil, err
	}
	var scen *grid.Scenarios
	if j.Scenarios != "" {
		if scen, err = grid.LoadScenarios(ctx, j.Scenarios, schema.Scenario); err != nil {
			return nil, err
		}
	}
	if len(j.Aggregates) > 0 {
		if _, err := grid.CompileAggregates(j, schema); err != nil {
			return nil, err
		}
	}
	if j.Join != nil {
		// The as-of time is fixed later (see fingerprint); a key that
		// renders its date is checked here with the time of now.
		asOf := j.Join.AsOf
		if asOf.IsZero() {
			asOf = time.Now().UTC()
		}
		key, err := j.Join.KeyTemplate(asOf)
		if err != nil {
			return nil, &grid.ConfigError{Err: err}
		}
		// Opened once here so that a wrong source stops the pipeline
		// before it is submitted; workers open their own.
		t, err := join.Open(ctx, j.Join.Source, j.Join.Spec(schema.Side, key, j.Join.AsOf), nil)
		if err != nil {
			return nil, &grid.ConfigError{Err: err}
		}
		t.Close()
	}
	desc, err := proto.Marshal(schema.Description())
	if err != nil {
		return nil, err
	}
	id := j.ID
	if id == "" {
		id = outdir.NewJobID()
	}
	return &Step{
		spec:   spec{Job: j, JobID: id, SHA256: staged.SHA256, Description: desc, Common: common, Scenarios: scen, Shards: o.Shards},
		staged: staged,
		schema: schema,
	}, nil
}

// unsupported refuses the options of the local engine that a Beam run
// cannot honour, rather than ignoring them.
func unsupported(j grid.Job) error {
	var opt string
	switch {
	case j.KeepBatchFiles:
		opt = "--keep-batch-files (workers' disks are not yours to inspect)"
	case j.Persistent:
		opt = "--persistent (Beam gives a worker no moment to stop its processes)"
	case j.OutputFormat != "" && j.OutputFormat != "jsonl":
		opt = "--output-format " + j.OutputFormat
	}
	if opt == "" {
		return nil
	}
	return &grid.ConfigError{Err: fmt.Errorf("%s: %w", opt, ErrUnsupported)}
}

// JobID is the job's id: Job.ID, or the one Prepare generated.
func (st *Step) JobID() string { return st.spec.JobID }

// Staged is the binary as staged and verified when the step was prepared.
func (st *Step) Staged() *binstage.Staged { return st.staged }

// Schema is the binary's messages.
func (st *Step) Schema() *wrapper.Schema { return st.schema }

// Apply runs the binary over elements, a PCollection of Element, and
// returns the results (a PCollection of Result) and the dead letters (of
// DeadLetter): every element ends in exactly one of them. Elements are
// keyed by a checksum of their id modulo Options.Shards, grouped, cut into
// batches of Job.BatchSize (within Job.BatchBytes), and each batch runs
// through grid.Executor.RunTask, as in the local engine: join lookup once
// per batch, crash isolation, retries, timeouts. Of two elements with one
// id, the later (by InputIndex, Index) is a bad_input dead letter.
func (st *Step) Apply(s beam.Scope, elements beam.PCollection) (results, deadLetters beam.PCollection) {
	results, deadLetters, _ = st.apply(s, elements)
	return results, deadLetters
}

// apply is Apply, with the tallies of the batches and calls.
func (st *Step) apply(s beam.Scope, elements beam.PCollection) (results, deadLetters, tallies beam.PCollection) {
	s = s.Scope("gridrun")
	j := st.spec.Job
	keyed := beam.ParDo(s, &shardFn{Shards: st.spec.Shards}, elements)
	groups := beam.GroupByKey(s, keyed)
	batches, dups := beam.ParDo2(s, &batchFn{Size: j.BatchSize, Bytes: j.BatchBytes, IDField: j.IDField}, groups)
	results, dead, tallies := beam.ParDo3(s, &runFn{Spec: st.spec}, batches)
	return results, beam.Flatten(s, dups, dead), tallies
}

// Apply is st.Apply: the grid step of a pipeline, for Go teams who build
// their own.
func Apply(s beam.Scope, elements beam.PCollection, st *Step) (results, deadLetters beam.PCollection) {
	return st.Apply(s, elements)
}

// DecodeJSON turns JSON objects (a PCollection of string, such as the
// lines textio.Read gives) into Elements of the binary's input message, as
// the local engine decodes JSONL: the id from Job.IDField, the join key
// from the job's key template. Rows that do not decode are bad_input dead
// letters naming the field. input names the rows in dead letters.
func (st *Step) DecodeJSON(s beam.Scope, input string, lines beam.PCollection) (elements, deadLetters beam.PCollection) {
	s = s.Scope("gridrun.DecodeJSON")
	return beam.ParDo2(s, &decodeJSONFn{Spec: st.spec, Input: input}, lines)
}
