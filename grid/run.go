package grid

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gridrun/gridrun/aggregate"
	"github.com/gridrun/gridrun/batcher"
	"github.com/gridrun/gridrun/binstage"
	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/internal/atomicfile"
	"github.com/gridrun/gridrun/internal/blob"
	"github.com/gridrun/gridrun/internal/inputs"
	"github.com/gridrun/gridrun/internal/procstat"
	"github.com/gridrun/gridrun/jobspec"
	"github.com/gridrun/gridrun/join"
	"github.com/gridrun/gridrun/outdir"
	"github.com/gridrun/gridrun/resultcache"
	"github.com/gridrun/gridrun/wrapper"
)

// Run runs the job on this machine and returns its manifest, also written
// to the output directory. A *ConfigError means the job could not start
// and no call ran (at most the binary's --gridrun-describe; with a manifest,
// a join table's first read found it misconfigured). Otherwise the manifest says how the job ended; the
// error is non-nil when it failed or was cancelled (committed outputs stay,
// and Resume continues the job). hooks may be nil.
func Run(ctx context.Context, job Job, hooks *Hooks) (*Manifest, error) {
	started := time.Now()
	j, err := WithDefaults(job)
	if err != nil {
		return nil, err
	}
	p, err := prepare(ctx, j, hooks.withDefaults())
	if err != nil {
		return nil, err
	}
	defer p.close()
	return p.run(ctx, started)
}

// plan is a job ready to run: everything checked, nothing run yet.
type plan struct {
	job     Job
	hooks   Hooks
	staged  *binstage.Staged
	image   *wrapper.Image
	bin     wrapper.Binary
	schema  *wrapper.Schema
	inputs  []*input
	table   *join.Table
	journal *outdir.Journal
	commits []outdir.Commit
	state   outdir.State
	// repaired are the committed shards this resume found damaged; their
	// rows run again.
	repaired []*outdir.ShardError

	// misconfigured stops the job when a batch finds it misconfigured
	// (ExecConfig.Misconfigured); configErr is the first such error.
	misconfigured func(error)
	configErr     atomic.Pointer[ConfigError]
	joinReported  bool // the join table's coverage was logged
	lock          *outdir.Lock
	// joinAsOf is the snapshot a join store with timestamps is read as of.
	joinAsOf time.Time
	// scen are the job's scenarios; nil without.
	scen *Scenarios

	// failedFast is the executor's *FailFastError, told through
	// misconfigured: calls ran, so the job failed rather than could not
	// start.
	failedFast atomic.Pointer[FailFastError]
	// common is the job's common data, checked; nil without. Its SHA256
	// is the digest a result cache keys on (see ExecConfig.Common).
	common *CommonData
	// cache is the result cache; nil without one.
	cache *resultcache.Cache
	// agg is the job's aggregate specs bound to the binary's messages;
	// nil without Job.Aggregates.
	agg *aggregate.Plan
}

func prepare(ctx context.Context, j Job, h Hooks) (_ *plan, err error) {
	lock, err := outdir.TakeLock(j.Output)
	if err != nil {
		return nil, err
	}
	p := &plan{job: j, hooks: h, lock: lock}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	defer func() {
		if err != nil {
			lock.Abandon()
		}
	}()
	if err := outdir.CheckNew(j.Output, j.Resume); err != nil {
		return nil, err
	}
	undo, err := saveStdin(ctx, j, h)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			undo()
		}
	}()
	key, want, err := p.stage(ctx)
	if err != nil {
		return nil, err
	}
	have, _, err := outdir.ReadState(j.Output)
	if err != nil && j.Resume {
		return nil, err
	}
	key = p.joinKey(key, have)
	if err := p.checkMessages(ctx, key); err != nil {
		return nil, err
	}
	if j.Join != nil {
		if err := p.openJoin(ctx, key); err != nil {
			return nil, err
		}
		p.joinReported = reportJoinCoverage(h.Logger, p.table)
	}
	if p.cache, err = OpenResultCache(ctx, j, h.Logger); err != nil {
		return nil, err
	}
	if p.journal, p.commits, err = outdir.Prepare(j.Output, j.Resume, resultExts()); err != nil {
		return nil, err
	}
	if want.Fingerprint, err = p.fingerprint(ctx, have.Fingerprint); err != nil {
		return nil, err
	}
	if p.state, err = outdir.LoadState(j.Output, want); err != nil {
		return nil, err
	}
	// Calls' private directories hold input rows; those a killed run left
	// are removed here, by the run that resumes it.
	if err := os.RemoveAll(filepath.Join(j.Output, callTempDir)); err != nil {
		return nil, err
	}
	// Only a resume the state accepts touches the committed shards.
	if err := p.repair(); err != nil {
		return nil, err
	}
	// The binary's types, so that gridrun inspect can read kept batch and
	// results files without the binary.
	desc, err := proto.Marshal(p.schema.Description())
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(j.Output, outdir.DescriptionFile), desc, 0o644); err != nil {
		return nil, err
	}
	return p, nil
}

// stage checks what can be checked without the binary's message types,
// then stages the binary and learns them: the binary may run (to describe
// itself) only once nothing else can refuse the job. It returns the join's
// key template and the state the job's output must hold.
// joinKey fixes the join's as-of time (a resume keeps the first run's)
// and binds it into key: before the inputs are decoded, since a key may
// render its date.
func (p *plan) joinKey(key *codec.Template, have outdir.State) *codec.Template {
	p.joinAsOf = joinAsOf(p.job, have, time.Now())
	if key != nil && key.UsesAsOf() && !p.joinAsOf.IsZero() {
		key = key.WithAsOf(p.joinAsOf)
	}
	return key
}

// openJoin opens the join's table, read by key as of p.joinAsOf in the
// job's layout.
func (p *plan) openJoin(ctx context.Context, key *codec.Template) error {
	j := p.job.Join
	t, err := join.Open(ctx, j.Source, j.Spec(p.schema.Side, key, p.joinAsOf), &join.Options{CacheBytes: j.CacheBytes})
	if err != nil {
		return &ConfigError{Err: err}
	}
	p.table = t
	return nil
}

func (p *plan) stage(ctx context.Context) (key *codec.Template, want outdir.State, err error) {
	j := p.job
	// Everything that can be checked without the binary's message types
	// is, before LoadSchema may run the binary to ask for them.
	if p.inputs, err = expandInputs(ctx, j); err != nil {
		return nil, want, err
	}
	if err := checkLogDir(j.LogDir); err != nil {
		return nil, want, err
	}
	if j.Scenarios != "" && j.OutputFormat != jobspec.DefaultOutputFormat {
		return nil, want, configErr("--scenarios: results under scenarios are written as JSON lines only (--output-format %s does not carry the scenario column yet)", j.OutputFormat)
	}
	if j.Join != nil {
		if key, err = codec.ParseTemplate(j.Join.Key); err != nil {
			return nil, want, &ConfigError{Err: err}
		}
		if err := checkJoinFile(j.Join.Source); err != nil {
			return nil, want, err
		}
	}
	p.staged, err = binstage.Stage(ctx, j.Binary, &binstage.Options{CacheDir: j.CacheDir, SHA256: j.SHA256})
	if err != nil {
		return nil, want, &ConfigError{Err: err}
	}
	want = outdir.State{JobID: j.ID, Engine: outdir.EngineLocal, SHA256: p.staged.SHA256, OutputFormat: j.OutputFormat}
	for _, in := range p.inputs {
		want.Inputs = append(want.Inputs, in.path)
	}
	if err := checkResume(j, want); err != nil {
		return nil, want, err
	}
	// Every call runs the sealed copy of the bytes just verified, never
	// the cached file, which may change while the job runs.
	if p.image, err = p.staged.Open(); err != nil {
		return nil, want, &ConfigError{Err: err}
	}
	p.bin = wrapper.Binary{Path: p.staged.Source, Image: p.image, Args: j.Args, Env: BinaryEnv(j.Env)}
	if p.schema, err = LoadSchema(ctx, j, p.bin); err != nil {
		return nil, want, &ConfigError{Err: err}
	}
	return key, want, nil
}

// checkMessages checks the job against the binary's messages: the inputs'
// columns and ids, the optional fields named, the join's side type.
func (p *plan) checkMessages(ctx context.Context, key *codec.Template) error {
	j := p.job
	if j.Persistent && !p.schema.Serves {
		return configErr("the binary cannot run as a persistent worker (its description does not say it serves): drop --persistent, or rebuild it with the SDK")
	}
	if err := codec.CheckNames(p.schema.Input, j.InputOptional, "--input-optional"); err != nil {
		return &ConfigError{Err: err}
	}
	var err error
	if p.common, err = LoadCommon(ctx, j, p.schema); err != nil {
		return err
	}
	if p.common == nil && p.schema.Common != nil {
		p.hooks.Logger.Debug("the binary takes common data and none is given: it runs on its defaults", "common_type", p.schema.Common.FullName())
	}
	if err := CheckJoin(j, p.schema); err != nil {
		return err
	}
	if j.Scenarios != "" {
		s, err := LoadScenarios(ctx, j.Scenarios, p.schema.Scenario)
		if err != nil {
			return err
		}
		p.scen = s
		p.hooks.Logger.Info("scenarios", "file", s.Path, "count", len(s.List), "type", p.schema.Scenario.FullName())
	}
	if len(j.Aggregates) > 0 {
		var err error
		if p.agg, err = CompileAggregates(j, p.schema); err != nil {
			return err
		}
	}
	if j.Join != nil {
		if err := codec.CheckNames(p.schema.Side, j.Join.Optional, "--join-optional"); err != nil {
			return &ConfigError{Err: err}
		}
	}
	for _, in := range p.inputs {
		in.schema = p.schema
		in.opts = codec.DecoderOptions{IDField: j.IDField, Key: key, IgnoreUnknown: j.IgnoreUnknownFields}
		in.optional = j.InputOptional
		if err := in.check(ctx, j.BatchSize); err != nil {
			return err
		}
		in.report(p.hooks.Logger)
	}
	return nil
}

// CheckJoin checks the job's join against the binary's side message: a
// join for a binary that takes no side rows is refused, and so is a binary
// that takes them given no join, since each of its elements would run
// without its market data (a thousand element errors, for one missing
// flag). A *ConfigError either way.
func CheckJoin(j Job, s *wrapper.Schema) error {
	switch {
	case j.Join != nil && s.Side == nil:
		return configErr("the binary takes no side rows (its description names no side type), so it cannot be given a join")
	case j.Join == nil && s.Side != nil:
		return configErr("binary %s takes side rows of type %s (market data joined per batch), and no join is given: "+
			"give the table with --join (a CSV or JSONL file, or bigtable://PROJECT/INSTANCE/TABLE) and --join-key, e.g. --join quotes.csv --join-key '{%s}'",
			j.Binary, s.Side.FullName(), firstKeyField(s))
	}
	return nil
}

// firstKeyField guesses a key field for CheckJoin's example: the input
// message's first string field, the usual key of market data.
func firstKeyField(s *wrapper.Schema) string {
	fields := s.Input.Fields()
	for i := range fields.Len() {
		if f := fields.Get(i); f.Kind() == protoreflect.StringKind && f.Cardinality() != protoreflect.Repeated && string(f.Name()) != "id" {
			return string(f.Name())
		}
	}
	return "FIELD"
}

// repair retracts the commits whose shards are damaged, so that their rows
// run again, and says which files it found so.
func (p *plan) repair() error {
	var err error
	p.commits, p.repaired, err = outdir.Repair(p.job.Output, p.journal, p.commits, resultExts())
	if err != nil {
		return fmt.Errorf("check committed shards: %w", err)
	}
	for _, d := range p.repaired {
		p.hooks.Logger.Warn("committed shard damaged; its rows run again", "file", filepath.Join(p.job.Output, d.File), "problem", d.Problem)
	}
	return nil
}

// callTempDir, under the output directory, holds the private directories
// of calls in flight (batch and results files). Kept with the job's other
// files rather than in $TMPDIR, a killed run's leftovers are found and
// removed by its resume.
var callTempDir = filepath.Join(outdir.StateDir, "calls-tmp")

// checkLogDir refuses a local --log-dir that exists and is not a
// directory: the logs of failed calls, copied there late in a job, would
// all fail to be kept.
func checkLogDir(dir string) error {
	if dir == "" || !blob.IsLocal(dir) {
		return nil
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil // made when the first log is copied
	case err != nil:
		return configErr("--log-dir %s: %v", dir, inputs.UnwrapPath(err))
	case !st.IsDir():
		return configErr("--log-dir %s: is not a directory: name a directory (made if missing) or gs://BUCKET/PREFIX", dir)
	}
	return nil
}

// checkJoinFile checks that a file join table exists and is CSV or
// JSONL, before the binary is asked for its types; join.Open reads it
// later, against them.
func checkJoinFile(uri string) error {
	scheme, _, found := strings.Cut(uri, "://")
	if found && scheme != "file" {
		return nil // a store: join.Open checks that it can be read
	}
	path := strings.TrimPrefix(uri, "file://")
	if _, err := os.Stat(path); err != nil {
		return configErr("join table %s: %v", path, inputs.UnwrapPath(err))
	}
	f, _, err := codec.FormatOf(path)
	if err != nil {
		return &ConfigError{Err: err}
	}
	if !f.Table() {
		return configErr("%s: a join table is CSV or JSONL", path)
	}
	return nil
}

// checkResume runs the resume check against the state a resumed job's
// first run wrote, without writing anything, so that a resume with
// another binary or other inputs is refused before the binary runs.
// outdir.LoadState runs it again and records the run.
func checkResume(j Job, want outdir.State) error {
	if !j.Resume {
		return nil
	}
	path := filepath.Join(j.Output, outdir.StateFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil // no state yet, or unreadable: outdir.Prepare and LoadState say so
	}
	have, err := outdir.DecodeState(b, path)
	if err != nil {
		return err
	}
	_, err = outdir.Resume(have, want)
	return err
}

// reportJoinCoverage logs the columns of the join table that fill no
// field and the optional fields no column fills, once they are known,
// and reports whether they were.
func reportJoinCoverage(log *slog.Logger, t *join.Table) bool {
	c := t.Coverage()
	if c == nil {
		return false
	}
	if len(c.Unused) > 0 {
		log.Warn("join table columns fill no field of the side message", "source", t.Source(), "columns", c.Unused)
	}
	if len(c.Unfilled) > 0 {
		log.Info("optional side fields without a column", "source", t.Source(), "fields", c.Unfilled)
	}
	return true
}

func (p *plan) close() {
	defer p.lock.Unlock()
	if p.table != nil {
		p.table.Close()
	}
	if p.cache != nil {
		p.cache.Close()
	}
	if p.journal != nil {
		p.journal.Close()
	}
	if p.image != nil {
		p.image.Close()
	}
}

// BinaryEnv is the binary's whole environment: a few variables of the
// runner that programs need to behave (locale, time zone, where to find
// tools), plus the job's own.
func BinaryEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "HOME", k == "USER", k == "LANG", k == "TZ", strings.HasPrefix(k, "LC_"):
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// LoadSchema returns the binary's message types: from the job's .proto
// files when it names them, otherwise by asking the binary.
func LoadSchema(ctx context.Context, j Job, bin wrapper.Binary) (*wrapper.Schema, error) {
	if j.Proto != nil {
		s, err := wrapper.SchemaFromProtoFiles(ctx, j.Proto.Files, j.Proto.ImportPaths, j.Proto.InputType, j.Proto.ResultType, j.Proto.SideType)
		if err == nil && j.Proto.CommonType != "" {
			err = s.ResolveCommon(j.Proto.CommonType)
		}
		return s, err
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return wrapper.Describe(dctx, bin)
}

// run is the job proper: the feeder turns rows into batches, the callers
// pull tasks and make calls, the sink commits outcomes; a ticker commits on
// time and reports progress; the manifest is written last.
//
// Two groups share the work. The callers are an errgroup: the first that
// meets a failed sink (a disk full) cancels every call, since nothing after
// it can be committed. The helpers (feeder, scheduler, ticker) serve the
// callers and are stopped once the calls are done; an input that ends
// early is not such a failure: the rows read before it still run.
func (p *plan) run(ctx context.Context, started time.Time) (*Manifest, error) {
	j := p.job
	calls, callCtx := errgroup.WithContext(ctx)
	// Halting stops the reading and the starting of calls, not the calls
	// in flight: their outcomes are worth keeping.
	haltCtx, halt := context.WithCancelCause(callCtx)
	defer halt(nil)

	r, err := p.start(haltCtx, halt)
	if err != nil {
		return nil, err
	}
	defer r.sink.close()
	p.hooks.Logger.Info(LogJobStarted, "job", p.state.JobID, "binary", p.staged.Source, "sha256", p.staged.SHA256,
		"inputs", len(p.inputs), "parallelism", j.Parallelism, "batch_size", j.BatchSize, "resumed_commits", len(p.commits))
	obs := p.hooks.Observer
	if obs != nil {
		prior := r.sink.totals()
		obs.JobStarted(JobStart{JobID: p.state.JobID, Run: p.state.Runs, Slots: j.Parallelism, Running: r.exec.Running,
			Results: prior.Results, DeadLetters: prior.Kinds})
	}

	helperCtx, stopHelpers := context.WithCancel(haltCtx)
	defer stopHelpers()
	var helpers errgroup.Group
	var inputErr error
	helpers.Go(func() error {
		defer close(r.fresh)
		inputErr = r.feeder.run(haltCtx)
		r.inputDone.Store(inputErr == nil && haltCtx.Err() == nil)
		if obs != nil && r.inputDone.Load() && r.totalTold.CompareAndSwap(false, true) {
			obs.InputCounted(sum(r.feeder.rowsRead()) * r.feeder.fan())
		}
		return nil
	})
	helpers.Go(func() error {
		r.sched.run(helperCtx, 10*time.Millisecond)
		return nil
	})
	helpers.Go(func() error {
		p.tick(helperCtx, r, started)
		return nil
	})
	if p.hooks.OnProgress != nil || obs != nil {
		helpers.Go(func() error {
			p.count(helperCtx, r)
			if obs != nil && r.countDone.Load() && r.totalTold.CompareAndSwap(false, true) {
				obs.InputCounted(r.counted.Load() * r.feeder.fan())
			}
			return nil
		})
	}
	for range j.Parallelism + 1 { // one more than the cap: it joins the next batch while the others run
		calls.Go(func() error {
			for {
				t, ok := r.queue.next(haltCtx)
				if !ok {
					return nil
				}
				next := r.exec.Call(callCtx, t, r.sink.emit, r.sched.started(t))
				r.sched.ended(t)
				r.queue.finish(next)
				if err := r.sink.failed(); err != nil {
					return err
				}
			}
		})
	}
	calls.Wait() // a caller's error is the sink's, reported by its commit below
	r.exec.Close()
	stopHelpers()
	for range r.fresh { // the feeder stops once halted or cancelled; let it
	}
	helpers.Wait()
	commitErr := r.sink.commit()
	p.progress(r, started)

	m := p.manifest(started, r.sink, r.exec, r.feeder)
	m.AdaptiveBatchSizes = r.sizer.summary()
	read := sum(r.feeder.rowsRead()) * r.feeder.fan() // one element per row and scenario
	lost := read - r.feeder.skipped.Load() - (m.Elements - r.sink.before)
	configErr := p.configErr.Load()
	switch {
	case commitErr != nil:
		m.Status, m.Error = "failed", commitErr.Error()
	case configErr != nil:
		m.Status, m.Error = "failed", configErr.Error()
	case p.failedFast.Load() != nil:
		m.Status, m.Error = "failed", p.failedFast.Load().Error()
	case inputErr != nil && !errors.Is(inputErr, context.Canceled):
		m.Status, m.Error = "failed", inputErr.Error()
	case ctx.Err() != nil:
		m.Status, m.Error = "cancelled", context.Cause(ctx).Error()
	case errors.Is(context.Cause(haltCtx), ErrHalted):
		m.Status, m.Error = "halted", context.Cause(haltCtx).Error()
	case lost != 0:
		// Every row read must have an outcome; this is the engine's own
		// check that none went missing.
		m.Status, m.Error = "failed", fmt.Sprintf("internal error: %d of the %d elements read have no outcome", lost, read)
	case m.DeadLetters > 0:
		m.Status = "dead_letters"
	default:
		m.Status = "ok"
	}
	if p.agg != nil && (m.Status == "ok" || m.Status == "dead_letters") {
		// Only a finished job has its totals: those of a stopped one
		// would be partial, and its resume writes them.
		if m.Aggregates, err = writeAggregates(j, p.agg, append(p.commits, r.sink.committed()...), r.sink.format.Ext); err != nil {
			m.Status, m.Error = "failed", err.Error()
		}
	}
	if p.table != nil && !p.joinReported {
		reportJoinCoverage(p.hooks.Logger, p.table) // a store's columns, known since its first read
	}
	r.sink.endRun() // before the manifest, which a report of the job reads with the timeline
	if err := outdir.WriteManifest(j.Output, m); err != nil {
		if m.Error != "" {
			// The job's own failure (a results shard the disk had no room
			// for) comes first: the manifest failed because of it.
			return m, fmt.Errorf("%s (and %w)", m.Error, err)
		}
		return m, err
	}
	p.hooks.Logger.Info(LogJobFinished, "job", m.JobID, "status", m.Status, "elements", m.Elements, "results", m.Results,
		"dead_letters", m.DeadLetters, "calls", m.Calls, "wall_seconds", m.WallSeconds)
	switch {
	case m.Status == "halted":
		return m, context.Cause(haltCtx)
	case configErr != nil && commitErr == nil:
		return m, configErr
	case p.failedFast.Load() != nil && commitErr == nil:
		return m, p.failedFast.Load()
	case m.Error != "":
		return m, errors.New(m.Error)
	}
	return m, nil
}

// running is a job's moving parts, wired together by start.
type running struct {
	sink      *sink
	feeder    *feeder
	sizer     *sizer
	exec      *Executor
	queue     *queue
	sched     *scheduler
	fresh     chan *Task // new batches, from the feeder to the queue
	inputDone atomic.Bool
	// totalTold says the observer was told the inputs' rows: by the
	// count or by the end of the input, whichever came first.
	totalTold atomic.Bool
	// counted is the inputs' rows, counted up front, once countDone.
	counted   atomic.Int64
	countDone atomic.Bool
}

// start wires the job's parts: the sink after the commits of earlier runs,
// the feeder skipping their rows, the batcher sized by the sizer, the
// executor reporting calls to both. Batches stop once ctx ends; halt stops
// the job when its dead letters pass its limits.
func (p *plan) start(ctx context.Context, halt context.CancelCauseFunc) (*running, error) {
	j := p.job
	done, prior := outdir.Committed(p.commits)
	var batches atomic.Int64
	batches.Store(prior)
	names := make([]string, len(p.inputs))
	for i, in := range p.inputs {
		names[i] = in.path
	}
	s, err := newSink(j.Output, p.state.Runs, names, p.journal, p.commits, batches.Load, time.Duration(j.CommitInterval))
	if err != nil {
		return nil, err
	}
	s.format, _ = resultFormat(j.OutputFormat) // checked by WithDefaults
	s.resultType = p.schema.Result
	s.agg = p.agg
	s.onDead = func(results, dead int64) {
		if err := overLimit(j, results, dead); err != nil {
			halt(err)
		}
	}
	obs := p.hooks.Observer
	if obs != nil {
		s.onSettled = obs.Settled
	}
	r := &running{sink: s, fresh: make(chan *Task, j.Parallelism)}
	r.feeder = &feeder{
		inputs:  p.inputs,
		done:    done,
		workers: max(1, j.Parallelism),
		dead:    s.emit,
		rows:    make([]atomic.Int64, len(p.inputs)),
		hashed:  p.recordInputHash,
		scen:    p.scen,
	}
	r.sizer = &sizer{
		initial: j.BatchSize, min: j.MinBatchSize, max: j.MaxBatchSize,
		target: time.Duration(j.TargetCallDuration).Seconds(), slots: j.Parallelism,
		fixed: j.FixedBatchSize, remaining: r.feeder.remaining,
	}
	var partitions int
	if j.PartitionByKey {
		partitions = 4 * j.Parallelism
	}
	r.feeder.batch = batcher.New(batcher.Options{MaxBytes: j.BatchBytes, Partitions: partitions, NextSize: r.sizer.next},
		func(elems []*Element) {
			t := NewTask(fmt.Sprintf("b%06d", batches.Add(1)-1), elems)
			select {
			case r.fresh <- t:
			case <-ctx.Done():
			}
		},
		func(e *Element) int { return len(e.Payload) },
		func(e *Element) string { return e.Key })

	p.misconfigured = func(err error) {
		if fe := (*FailFastError)(nil); errors.As(err, &fe) {
			if p.failedFast.CompareAndSwap(nil, fe) {
				halt(fe)
			}
			return
		}
		if p.configErr.CompareAndSwap(nil, &ConfigError{Err: err}) {
			halt(p.configErr.Load())
		}
	}
	onStart := s.callStart
	if obs != nil {
		onStart = func(rec CallRecord) {
			s.callStart(rec)
			obs.CallStarted(rec.Slot, rec.Elements)
		}
	}
	r.exec, err = p.executor(onStart, func(rec CallRecord) {
		r.sizer.observe(rec.Elements, rec.End.Sub(rec.Start), time.Duration(rec.ElementSeconds*float64(time.Second)))
		s.call(rec)
		if obs != nil {
			rec.Run = s.run
			obs.CallEnded(rec)
		}
	})
	if err != nil {
		s.close()
		return nil, err
	}
	s.mu.Lock()
	s.times = func() HistogramSummary { e, _ := r.exec.Times(); return e }
	s.mu.Unlock()
	r.queue = newQueue(r.fresh)
	split := p.schema.HonorsSigterm && p.schema.StreamsResults && !j.NoSplit
	r.sched = newScheduler(r.exec, r.queue, j.Parallelism, split, time.Duration(j.Grace), r.sizer.worthSplitting)
	return r, nil
}

// tick commits outcomes that have waited long enough, and reports
// progress, until ctx ends.
func (p *plan) tick(ctx context.Context, r *running, started time.Time) {
	commitTick := time.NewTicker(min(time.Second, time.Duration(p.job.CommitInterval)/2))
	defer commitTick.Stop()
	progressTick := time.NewTicker(p.hooks.ProgressInterval)
	defer progressTick.Stop()
	for {
		select {
		case <-commitTick.C:
			r.sink.commitIfOld()
		case <-progressTick.C:
			p.progress(r, started)
		case <-ctx.Done():
			return
		}
	}
}

// progress reports the job's progress to the hooks.
func (p *plan) progress(r *running, started time.Time) {
	if p.hooks.OnProgress == nil {
		return
	}
	res, dead, before := r.sink.counts()
	st := r.exec.Stats()
	// With scenarios, progress counts elements: rows times scenarios.
	fan := r.feeder.fan()
	pr := Progress{
		JobID: p.state.JobID, Elapsed: time.Since(started), RowsRead: sum(r.feeder.rowsRead()) * fan, InputDone: r.inputDone.Load(),
		Settled: res + dead, Results: res, DeadLetters: dead, Resumed: before, DeadLettersByKind: r.sink.kinds(),
		Running: r.exec.Running(), Calls: st.Calls, Retries: st.Retries,
	}
	switch {
	case pr.InputDone:
		pr.Total = pr.RowsRead
	case r.countDone.Load():
		// A malformed CSV file may count fewer rows than it has.
		pr.Total = max(r.counted.Load()*fan, pr.RowsRead)
	default:
		if left, ok := r.feeder.remaining(); ok {
			pr.Total, pr.TotalEstimated = left+r.feeder.delivered.Load(), true
		}
	}
	p.hooks.OnProgress(pr)
}

// count counts the inputs' rows, for Progress.Total, until ctx ends. It
// runs beside the job rather than before it: the first calls need not
// wait for a count of millions of rows.
func (p *plan) count(ctx context.Context, r *running) {
	var total int64
	for _, in := range p.inputs {
		n, err := inputs.Count(ctx, inputs.File{Path: in.path, Format: in.format, Gzip: in.gzipped}, nil)
		if err != nil {
			if ctx.Err() == nil {
				// The rows read will say what is wrong with the input.
				p.hooks.Logger.Debug("cannot count an input's rows; progress estimates its total", "input", in.path, "err", err)
			}
			return
		}
		total += n
	}
	r.counted.Store(total)
	r.countDone.Store(true)
}

// executor makes the job's Executor.
func (p *plan) executor(onCallStart, onCall func(CallRecord)) (*Executor, error) {
	j := p.job
	format, _ := resultFormat(j.OutputFormat)
	logDir := filepath.Join(j.Output, outdir.LogsDir)
	callDir := filepath.Join(j.Output, callTempDir)
	if j.KeepBatchFiles {
		callDir = filepath.Join(j.Output, outdir.CallsDir)
	}
	for _, d := range []string{logDir, callDir} {
		if d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return nil, err
			}
		}
	}
	upload := p.hooks.UploadLog
	switch {
	case upload != nil || j.LogDir == "":
	case !blob.IsLocal(j.LogDir):
		upload = uploadLogTo(strings.TrimSuffix(j.LogDir, "/") + "/" + p.state.JobID)
	default:
		upload = copyLogInto(filepath.Join(j.LogDir, p.state.JobID))
	}
	cfg := ExecConfigOf(j, p.hooks.Logger)
	cfg.JobID, cfg.Binary, cfg.Schema, cfg.Join = p.state.JobID, p.bin, p.schema, p.table
	cfg.Common = p.common
	cfg.RawResults = format.Raw
	if format.Raw && format.Direct != nil {
		cfg.DirectResult = format.Direct(p.schema.Result)
	}
	cfg.Call.Dir, cfg.Call.LogDir, cfg.Call.KeepDir = callDir, logDir, j.KeepBatchFiles
	cfg.LogRoot, cfg.OnCallStart, cfg.OnCall, cfg.UploadLog = j.Output, onCallStart, onCall, upload
	p.hooks.Logger.Debug("processes that leave a call's group are killed through", "containment", wrapper.DetectContainment())
	cfg.Misconfigured = p.misconfigured
	if p.cache != nil {
		cfg.ResultCache, cfg.CacheJob = p.cache, CacheJobOf(j, p.staged.SHA256)
	}
	return NewExecutor(cfg), nil
}

// ExecConfigOf is the part of an Executor's configuration the job decides:
// parallelism, timeouts, retries, limits, grace, the join policy; and the
// logger. The engine adds the rest: the binary, its schema, the join table,
// where the calls' files go and the hooks. The job has its defaults filled
// in.
func ExecConfigOf(j Job, logger *slog.Logger) ExecConfig {
	return ExecConfig{
		JoinPass:          j.Join != nil && j.Join.Missing == MissingPass,
		Persistent:        j.Persistent,
		Parallelism:       j.Parallelism,
		Call:              wrapper.Options{Grace: time.Duration(j.Grace), Limits: limitsOf(j.Limits)},
		Timeout:           time.Duration(j.Timeout),
		TimeoutPerElement: time.Duration(j.TimeoutPerElement),
		StallTimeout:      time.Duration(j.StallTimeout),
		Retries:           j.Retries,
		RetryExitCodes:    j.RetryExitCodes,
		Backoff:           time.Duration(j.Backoff),
		Logger:            logger,
		LogSample:         j.LogSample,
	}
}

func sum(ns []int64) int64 {
	var t int64
	for _, n := range ns {
		t += n
	}
	return t
}

func (p *plan) manifest(started time.Time, s *sink, x *Executor, f *feeder) *Manifest {
	t := s.totals()
	finished := time.Now()
	m := &Manifest{
		JobID:             p.state.JobID,
		Started:           started.UTC(),
		Finished:          finished.UTC(),
		WallSeconds:       finished.Sub(started).Seconds(),
		Runs:              s.run,
		Resumed:           s.before,
		RepairedShards:    len(p.repaired),
		Elements:          t.Results + t.DeadLetters,
		Results:           t.Results,
		DeadLetters:       t.DeadLetters,
		DeadLettersByKind: t.Kinds,
		Batches:           s.batches(),
		ExecStats:         x.Stats(),
		Timeline:          outdir.TimelineFile,
		Binary: BinaryInfo{
			URI: p.staged.Source, Path: p.staged.Path, SHA256: p.staged.SHA256, Size: p.staged.Size,
			Name: p.schema.Name, Version: cmp.Or(p.staged.Version, p.schema.Version),
			InputType: string(p.schema.Input.FullName()), ResultType: string(p.schema.Result.FullName()),
		},
		Options:         p.job,
		ResultFiles:     []string{},
		DeadLetterFiles: []string{},
	}
	m.ElementTimes, m.CallTimes = x.Times()
	m.Common = p.common.Info()
	m.ResultCache = ResultCacheInfo(p.job, p.cache)
	if p.schema.Side != nil {
		m.Binary.SideType = string(p.schema.Side.FullName())
	}
	if p.scen != nil {
		m.Scenarios = &outdir.ScenariosInfo{File: p.scen.Path, Count: len(p.scen.List), SHA256: p.scen.SHA256,
			Type: string(p.schema.Scenario.FullName()), BlockRows: ScenarioBlockRows}
	}
	for i, n := range f.rowsRead() {
		in := p.inputs[i]
		m.Inputs = append(m.Inputs, InputInfo{Path: in.path, Format: string(in.format), Rows: n,
			UnfilledFields: in.cover.Unfilled, UnusedColumns: in.cover.Unused})
	}
	if m.WallSeconds > 0 {
		m.ThroughputPerSecond = float64(m.Elements-s.before) / m.WallSeconds
	}
	m.PeakRSSBytes, _ = procstat.PeakRSS() // a figure to report, not worth failing a job for
	m.Containment = string(wrapper.DetectContainment())
	if p.table != nil {
		st := p.table.Stats()
		m.Join = &JoinInfo{Source: p.table.Source(), Key: p.job.Join.Key, MissingPolicy: p.job.Join.Missing, Family: p.job.Join.Family, AsOf: p.joinAsOf,
			Stats: st, Unavailable: t.Kinds[KindJoinUnavailable] > 0}
		if c := p.table.Coverage(); c != nil {
			m.Join.Columns, m.Join.UnusedColumns, m.Join.UnfilledFields = c.Columns, c.Unused, c.Unfilled
		}
	}
	for _, c := range append(p.commits, s.committed()...) {
		if c.Results > 0 {
			m.ResultFiles = append(m.ResultFiles, outdir.ResultsName(c.Seq)+s.format.Ext)
		}
		if c.DeadLetters > 0 {
			m.DeadLetterFiles = append(m.DeadLetterFiles, outdir.DeadLettersName(c.Seq))
		}
	}
	return m
}

func limitsOf(l wrapper.Limits) *wrapper.Limits {
	if l == (wrapper.Limits{}) {
		return nil
	}
	return &l
}

// uploadLogTo returns an UploadLog that writes logs under a gs:// prefix.
func uploadLogTo(prefix string) func(context.Context, string) (string, error) {
	return func(ctx context.Context, path string) (string, error) {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		b, err := blob.OpenBucket(ctx, prefix, nil)
		if err != nil {
			return "", err
		}
		defer b.Close()
		name := filepath.Base(path)
		// A log is written once: a name already taken is an error.
		return b.URI(name), b.Write(ctx, name, func(w io.Writer) error {
			_, err := io.Copy(w, f)
			return err
		}, &blob.WriteOptions{IfNotExist: true})
	}
}

// copyLogInto returns an UploadLog that copies logs into a local directory.
func copyLogInto(dir string) func(context.Context, string) (string, error) {
	return func(_ context.Context, path string) (string, error) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		dst := filepath.Join(dir, filepath.Base(path))
		return dst, atomicfile.WriteFile(dst, b, 0o644)
	}
}
