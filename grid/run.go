package grid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gridrun/gridrun/batcher"
	"github.com/gridrun/gridrun/binstage"
	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/internal/blob"
	"github.com/gridrun/gridrun/internal/procstat"
	"github.com/gridrun/gridrun/internal/rangeset"
	"github.com/gridrun/gridrun/join"
	"github.com/gridrun/gridrun/wrapper"
)

// Run runs the job on this machine and returns its manifest, also written
// to the output directory. A *ConfigError means the job could not start
// and no subprocess ran. Otherwise the manifest says how the job ended; the
// error is non-nil when it failed or was cancelled (committed outputs stay,
// and Resume continues the job).
func Run(ctx context.Context, job Job) (*Manifest, error) {
	started := time.Now()
	j, err := job.withDefaults()
	if err != nil {
		return nil, err
	}
	p, err := prepare(ctx, j)
	if err != nil {
		return nil, err
	}
	defer p.close()
	return p.run(ctx, started)
}

// plan is a job ready to run: everything checked, nothing run yet.
type plan struct {
	job     Job
	staged  *binstage.Staged
	bin     wrapper.Binary
	schema  *wrapper.Schema
	inputs  []*input
	table   *join.Table
	journal *journal
	commits []commit
	state   jobState
}

// jobState is kept in the output directory so that a resume is checked
// against the job that wrote the output.
type jobState struct {
	JobID  string   `json:"job_id"`
	SHA256 string   `json:"binary_sha256"`
	Inputs []string `json:"inputs"`
	// Runs counts the runs started, this one included.
	Runs         int    `json:"runs"`
	OutputFormat string `json:"output_format"`
}

func prepare(ctx context.Context, j Job) (_ *plan, err error) {
	if err := checkOutput(j.Output, j.Resume); err != nil {
		return nil, err
	}
	p := &plan{job: j}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	undo, err := saveStdin(ctx, j)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			undo()
		}
	}()
	if p.inputs, err = expandInputs(ctx, j); err != nil {
		return nil, err
	}
	p.staged, err = binstage.Stage(ctx, j.Binary, &binstage.Options{CacheDir: j.CacheDir, SHA256: j.SHA256})
	if err != nil {
		return nil, &ConfigError{Err: err}
	}
	p.bin = wrapper.Binary{Path: p.staged.Path, Args: j.Args, Env: BinaryEnv(j.Env)}
	if p.schema, err = LoadSchema(ctx, j, p.bin); err != nil {
		return nil, &ConfigError{Err: err}
	}
	if j.Persistent && !p.schema.Serves {
		return nil, configErr("the binary cannot run as a persistent worker (its description does not say it serves): drop --persistent, or rebuild it with the SDK")
	}
	var key *codec.Template
	if j.Join != nil {
		if p.schema.Side == nil {
			return nil, configErr("the binary takes no side rows (its description names no side type), so it cannot be given a join")
		}
		if key, err = codec.ParseTemplate(j.Join.Key); err != nil {
			return nil, &ConfigError{Err: err}
		}
	}
	for _, in := range p.inputs {
		in.schema = p.schema
		in.opts = codec.DecoderOptions{IDField: j.IDField, Key: key, IgnoreUnknown: j.IgnoreUnknownFields}
		if err := in.check(ctx); err != nil {
			return nil, err
		}
	}
	if j.Join != nil {
		spec := join.Spec{Side: p.schema.Side, Key: key, Family: j.Join.Family, AsOf: j.Join.AsOf}
		cache := j.Join.CacheBytes
		if p.table, err = join.Open(ctx, j.Join.Source, spec, &join.Options{CacheBytes: cache}); err != nil {
			return nil, &ConfigError{Err: err}
		}
	}
	if p.journal, p.commits, err = prepareOutput(j.Output, j.Resume); err != nil {
		return nil, err
	}
	if err := p.loadState(); err != nil {
		return nil, err
	}
	// The binary's types, so that gridrun inspect can read kept batch and
	// results files without the binary.
	desc, err := proto.Marshal(p.schema.Description())
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(j.Output, stateDir, "description.pb"), desc); err != nil {
		return nil, err
	}
	return p, nil
}

// checkOutput refuses a non-empty output directory unless resuming, before
// anything else is done.
func checkOutput(dir string, resume bool) error {
	entries, err := os.ReadDir(dir)
	if err == nil && len(entries) > 0 && !resume {
		return configErr("output directory %s is not empty: use --resume to continue the job that wrote it, or choose a new directory", dir)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return &ConfigError{Err: err}
	}
	return nil
}

func (p *plan) loadState() error {
	path := filepath.Join(p.job.Output, stateDir, "job.json")
	want := jobState{JobID: p.job.ID, SHA256: p.staged.SHA256, OutputFormat: p.job.OutputFormat}
	for _, in := range p.inputs {
		want.Inputs = append(want.Inputs, in.path)
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if want.JobID == "" {
			want.JobID = newJobID()
		}
		p.state = want
	case err != nil:
		return err
	default:
		var have jobState
		if err := json.Unmarshal(b, &have); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		switch {
		case have.SHA256 != want.SHA256:
			return configErr("cannot resume: the output was produced by binary sha256 %s, this job runs %s", have.SHA256, want.SHA256)
		case strings.Join(have.Inputs, "\n") != strings.Join(want.Inputs, "\n"):
			return configErr("cannot resume: the output was produced from inputs %v, this job reads %v", have.Inputs, want.Inputs)
		case have.OutputFormat != want.OutputFormat:
			return configErr("cannot resume: the output was written as %s, this job writes %s", have.OutputFormat, want.OutputFormat)
		case want.JobID != "" && want.JobID != have.JobID:
			return configErr("cannot resume: the output belongs to job %s, not %s", have.JobID, want.JobID)
		}
		p.state = have
	}
	p.state.Runs++
	b, _ = json.MarshalIndent(p.state, "", "  ")
	return writeFileAtomic(path, b)
}

func newJobID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}

func (p *plan) close() {
	if p.table != nil {
		p.table.Close()
	}
	if p.journal != nil {
		p.journal.close()
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
		return wrapper.SchemaFromProtoFiles(ctx, j.Proto.Files, j.Proto.ImportPaths, j.Proto.InputType, j.Proto.ResultType, j.Proto.SideType)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return wrapper.Describe(dctx, bin)
}

// run is the job proper: the feeder turns rows into batches, the workers
// pull tasks and make calls, the sink commits outcomes; a ticker commits on
// time and reports progress; the manifest is written last.
func (p *plan) run(ctx context.Context, started time.Time) (*Manifest, error) {
	j := p.job
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Halting stops the reading and the starting of calls, not the calls
	// in flight: their outcomes are worth keeping.
	haltCtx, halt := context.WithCancelCause(ctx)
	defer halt(nil)

	done, prior := p.committedRows()
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
	defer s.close()
	s.format, _ = resultFormat(j.OutputFormat) // checked by withDefaults
	s.resultType = p.schema.Result
	s.onDead = func(results, dead int64) {
		if err := j.overLimit(results, dead); err != nil {
			halt(err)
		}
	}

	fresh := make(chan *Task, j.Parallelism)
	f := &feeder{
		inputs:  p.inputs,
		done:    done,
		workers: max(1, j.Parallelism),
		dead:    s.emit,
		rows:    make([]atomic.Int64, len(p.inputs)),
	}
	sz := &sizer{
		initial: j.BatchSize, min: j.MinBatchSize, max: j.MaxBatchSize,
		target: time.Duration(j.TargetCallDuration).Seconds(), slots: j.Parallelism,
		fixed: j.FixedBatchSize, remaining: f.remaining,
	}
	var partitions int
	if j.PartitionByKey {
		partitions = 4 * j.Parallelism
	}
	f.batch = batcher.New(batcher.Options{MaxBytes: j.BatchBytes, Partitions: partitions, NextSize: sz.next},
		func(elems []*Element) {
			t := NewTask(fmt.Sprintf("b%06d", batches.Add(1)-1), elems)
			select {
			case fresh <- t:
			case <-haltCtx.Done():
			}
		},
		func(e *Element) int { return len(e.Payload) },
		func(e *Element) string { return e.Key })

	x, err := p.executor(func(r CallRecord) {
		sz.observe(r.Elements, r.End.Sub(r.Start), time.Duration(r.ElementSeconds*float64(time.Second)))
		s.call(r)
	})
	if err != nil {
		return nil, err
	}
	j.Logger.Info("job started", "job", p.state.JobID, "binary", p.staged.Source, "sha256", p.staged.SHA256,
		"inputs", len(p.inputs), "parallelism", j.Parallelism, "batch_size", j.BatchSize, "resumed_commits", len(p.commits))

	var (
		inputErr  error
		inputDone atomic.Bool
	)
	go func() {
		defer close(fresh)
		inputErr = f.run(haltCtx)
		inputDone.Store(inputErr == nil && ctx.Err() == nil)
	}()

	q := newQueue(fresh)
	sched := newScheduler(x, q, j.Parallelism, p.schema.HonorsSigterm && p.schema.StreamsResults && !j.NoSplit, time.Duration(j.Grace), sz.worthSplitting)
	schedCtx, stopSched := context.WithCancel(haltCtx)
	defer stopSched()
	go sched.run(schedCtx, 10*time.Millisecond)
	var wg sync.WaitGroup
	for range j.Parallelism + 1 { // one more than the cap: it joins the next batch while the others run
		wg.Go(func() {
			for {
				t, ok := q.next(haltCtx)
				if !ok {
					return
				}
				next := x.Call(ctx, t, s.emit, sched.started(t))
				sched.ended(t)
				q.finish(next)
				if err := s.failed(); err != nil {
					cancel(err)
				}
			}
		})
	}
	progress := func() {
		if j.OnProgress == nil {
			return
		}
		res, dead, before := s.counts()
		st := x.Stats()
		j.OnProgress(Progress{
			Elapsed: time.Since(started), RowsRead: sum(f.rowsRead()), InputDone: inputDone.Load(),
			Settled: res + dead, Results: res, DeadLetters: dead, Resumed: before,
			Running: x.Running(), Calls: st.Calls, Retries: st.Retries,
		})
	}
	stop := make(chan struct{})
	tickerDone := make(chan struct{})
	go func() {
		defer close(tickerDone)
		commitTick := time.NewTicker(min(time.Second, time.Duration(j.CommitInterval)/2))
		defer commitTick.Stop()
		progressTick := time.NewTicker(j.ProgressInterval)
		defer progressTick.Stop()
		for {
			select {
			case <-commitTick.C:
				s.commitIfOld()
			case <-progressTick.C:
				progress()
			case <-stop:
				return
			}
		}
	}()
	wg.Wait()
	x.Close()
	stopSched()
	close(stop)
	<-tickerDone
	for range fresh { // the feeder stops once halted or cancelled; let it
	}
	commitErr := s.commit()
	progress()

	m := p.manifest(started, s, x, f)
	m.AdaptiveBatchSizes = sz.summary()
	read := sum(f.rowsRead())
	lost := read - f.skipped.Load() - (m.Elements - s.before)
	switch {
	case commitErr != nil:
		m.Status, m.Error = "failed", commitErr.Error()
	case inputErr != nil && !errors.Is(inputErr, context.Canceled):
		m.Status, m.Error = "failed", inputErr.Error()
	case ctx.Err() != nil:
		m.Status, m.Error = "cancelled", context.Cause(ctx).Error()
	case haltCtx.Err() != nil:
		m.Status, m.Error = "halted", context.Cause(haltCtx).Error()
	case lost != 0:
		// Every row read must have an outcome; this is the engine's own
		// check that none went missing.
		m.Status, m.Error = "failed", fmt.Sprintf("internal error: %d of the %d rows read have no outcome", lost, read)
	case m.DeadLetters > 0:
		m.Status = "dead_letters"
	default:
		m.Status = "ok"
	}
	if err := writeManifest(j.Output, m); err != nil {
		return m, err
	}
	j.Logger.Info("job finished", "job", m.JobID, "status", m.Status, "elements", m.Elements, "results", m.Results,
		"dead_letters", m.DeadLetters, "calls", m.Calls, "wall_seconds", m.WallSeconds)
	switch {
	case m.Status == "halted":
		return m, context.Cause(haltCtx)
	case m.Error != "":
		return m, errors.New(m.Error)
	}
	return m, nil
}

// committedRows returns the rows earlier runs committed, by input, and the
// number of batch ids they issued.
func (p *plan) committedRows() (map[int]*rangeset.Set, int64) {
	var batches int64
	done := map[int]*rangeset.Set{}
	for _, c := range p.commits {
		batches = max(batches, c.Batches)
		for _, r := range c.Rows {
			s := done[int(r[0])]
			if s == nil {
				s = new(rangeset.Set)
				done[int(r[0])] = s
			}
			s.Add(r[1], r[2])
		}
	}
	return done, batches
}

// executor makes the job's Executor.
func (p *plan) executor(onCall func(CallRecord)) (*Executor, error) {
	j := p.job
	format, _ := resultFormat(j.OutputFormat)
	logDir := filepath.Join(j.Output, "logs")
	callDir := ""
	if j.KeepBatchFiles {
		callDir = filepath.Join(j.Output, "calls")
	}
	for _, d := range []string{logDir, callDir} {
		if d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return nil, err
			}
		}
	}
	upload := j.UploadLog
	switch {
	case upload != nil || j.LogDir == "":
	case isGCS(j.LogDir):
		upload = uploadLogTo(strings.TrimSuffix(j.LogDir, "/") + "/" + p.state.JobID)
	default:
		upload = copyLogInto(filepath.Join(j.LogDir, p.state.JobID))
	}
	cfg := j.ExecConfig()
	cfg.JobID, cfg.Binary, cfg.Schema, cfg.Join = p.state.JobID, p.bin, p.schema, p.table
	cfg.RawResults = format.Raw
	cfg.Call.Dir, cfg.Call.LogDir, cfg.Call.KeepDir = callDir, logDir, j.KeepBatchFiles
	cfg.LogRoot, cfg.OnCall, cfg.UploadLog = j.Output, onCall, upload
	return NewExecutor(cfg), nil
}

// ExecConfig is the part of an Executor's configuration the job decides:
// parallelism, timeouts, retries, limits, grace, the join policy, logging.
// The engine adds the rest: the binary, its schema, the join table, where
// the calls' files go and the hooks. The job has its defaults filled in.
func (j Job) ExecConfig() ExecConfig {
	return ExecConfig{
		JoinPass:          j.Join != nil && j.Join.Missing == MissingPass,
		Persistent:        j.Persistent,
		Parallelism:       j.Parallelism,
		Call:              wrapper.Options{Grace: time.Duration(j.Grace), Limits: limitsOf(j.Limits)},
		Timeout:           time.Duration(j.Timeout),
		TimeoutPerElement: time.Duration(j.TimeoutPerElement),
		Retries:           j.Retries,
		RetryExitCodes:    j.RetryExitCodes,
		Backoff:           time.Duration(j.Backoff),
		Logger:            j.Logger,
		LogSample:         j.LogSample,
	}
}

// overLimit returns ErrHalted, with the reason, once the dead letters pass
// the job's limits.
func (j Job) overLimit(results, dead int64) error {
	settled := results + dead
	switch {
	case j.MaxDeadLetters > 0 && dead > j.MaxDeadLetters:
		return fmt.Errorf("%w: %d dead letters exceed --max-dead-letters %d", ErrHalted, dead, j.MaxDeadLetters)
	case j.MaxDeadLetterPercent > 0 && settled >= 100 && float64(dead) > j.MaxDeadLetterPercent/100*float64(settled):
		return fmt.Errorf("%w: %d dead letters of %d elements exceed --max-dead-letters %g%%", ErrHalted, dead, settled, j.MaxDeadLetterPercent)
	}
	return nil
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
		Elements:          t.Results + t.DeadLetters,
		Results:           t.Results,
		DeadLetters:       t.DeadLetters,
		DeadLettersByKind: t.Kinds,
		Batches:           s.batches(),
		ExecStats:         x.Stats(),
		Timeline:          filepath.Join(stateDir, "timeline.jsonl"),
		Binary: BinaryInfo{
			URI: p.staged.Source, Path: p.staged.Path, SHA256: p.staged.SHA256, Size: p.staged.Size,
			Name: p.schema.Name, Version: cmpOr(p.staged.Version, p.schema.Version),
			InputType: string(p.schema.Input.FullName()), ResultType: string(p.schema.Result.FullName()),
		},
		Options:         p.job,
		ResultFiles:     []string{},
		DeadLetterFiles: []string{},
	}
	m.ElementTimes, m.CallTimes = x.Times()
	if p.schema.Side != nil {
		m.Binary.SideType = string(p.schema.Side.FullName())
	}
	for i, n := range f.rowsRead() {
		m.Inputs = append(m.Inputs, InputInfo{Path: p.inputs[i].path, Format: string(p.inputs[i].format), Rows: n})
	}
	if m.WallSeconds > 0 {
		m.ThroughputPerSecond = float64(m.Elements-s.before) / m.WallSeconds
	}
	m.PeakRSSBytes, _ = procstat.PeakRSS() // a figure to report, not worth failing a job for
	if p.table != nil {
		st := p.table.Stats()
		m.Join = &JoinInfo{Source: p.table.Source(), Key: p.job.Join.Key, MissingPolicy: p.job.Join.Missing, Family: p.job.Join.Family, AsOf: p.job.Join.AsOf,
			Stats: st, Unavailable: t.Kinds[KindJoinUnavailable] > 0}
	}
	for _, c := range append(p.commits, s.committed()...) {
		if c.Results > 0 {
			m.ResultFiles = append(m.ResultFiles, resultsName(c.Seq)+s.format.Ext)
		}
		if c.DeadLetters > 0 {
			m.DeadLetterFiles = append(m.DeadLetterFiles, deadLettersName(c.Seq))
		}
	}
	return m
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
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
		return dst, writeFileAtomic(dst, b)
	}
}
