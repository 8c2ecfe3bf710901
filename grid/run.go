package grid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridrun/gridrun/batcher"
	"github.com/gridrun/gridrun/binstage"
	"github.com/gridrun/gridrun/codec"
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
	if p.inputs, err = expandInputs(j); err != nil {
		return nil, err
	}
	p.staged, err = binstage.Stage(ctx, j.Binary, &binstage.Options{CacheDir: j.CacheDir, SHA256: j.SHA256})
	if err != nil {
		return nil, &ConfigError{Err: err}
	}
	p.bin = wrapper.Binary{Path: p.staged.Path, Args: j.Args, Env: binaryEnv(j.Env)}
	if p.schema, err = loadSchema(ctx, j, p.bin); err != nil {
		return nil, &ConfigError{Err: err}
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
		if err := in.check(); err != nil {
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
	want := jobState{JobID: p.job.ID, SHA256: p.staged.SHA256}
	for _, in := range p.inputs {
		want.Inputs = append(want.Inputs, in.path)
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if want.JobID == "" {
			want.JobID = newJobID()
		}
		b, _ := json.MarshalIndent(want, "", "  ")
		if err := writeFileAtomic(path, b); err != nil {
			return err
		}
		p.state = want
		return nil
	case err != nil:
		return err
	}
	var have jobState
	if err := json.Unmarshal(b, &have); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case have.SHA256 != want.SHA256:
		return configErr("cannot resume: the output was produced by binary sha256 %s, this job runs %s", have.SHA256, want.SHA256)
	case strings.Join(have.Inputs, "\n") != strings.Join(want.Inputs, "\n"):
		return configErr("cannot resume: the output was produced from inputs %v, this job reads %v", have.Inputs, want.Inputs)
	case want.JobID != "" && want.JobID != have.JobID:
		return configErr("cannot resume: the output belongs to job %s, not %s", have.JobID, want.JobID)
	}
	p.state = have
	return nil
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

// binaryEnv is the binary's whole environment: a few variables of the
// runner that programs need to behave (locale, time zone, where to find
// tools), plus the job's own.
func binaryEnv(extra []string) []string {
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

func loadSchema(ctx context.Context, j Job, bin wrapper.Binary) (*wrapper.Schema, error) {
	if j.Proto != nil {
		return wrapper.SchemaFromProtoFiles(ctx, j.Proto.Files, j.Proto.ImportPaths, j.Proto.InputType, j.Proto.ResultType, j.Proto.SideType)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return wrapper.Describe(dctx, bin)
}

func (p *plan) run(ctx context.Context, started time.Time) (*Manifest, error) {
	j := p.job
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var prior int64
	done := map[int]*rangeset.Set{}
	for _, c := range p.commits {
		prior = max(prior, c.Batches)
		for _, r := range c.Rows {
			s := done[int(r[0])]
			if s == nil {
				s = new(rangeset.Set)
				done[int(r[0])] = s
			}
			s.Add(r[1], r[2])
		}
	}
	var batches atomic.Int64
	batches.Store(prior)

	names := make([]string, len(p.inputs))
	for i, in := range p.inputs {
		names[i] = in.path
	}
	s, err := newSink(j.Output, names, p.journal, p.commits, batches.Load)
	if err != nil {
		return nil, err
	}
	defer s.close()

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
	x := NewExecutor(ExecConfig{
		JobID:             p.state.JobID,
		Binary:            p.bin,
		Schema:            p.schema,
		Join:              p.table,
		JoinPass:          j.Join != nil && j.Join.Missing == MissingPass,
		Parallelism:       j.Parallelism,
		Call:              wrapper.Options{Dir: callDir, Grace: time.Duration(j.Grace), LogDir: logDir, KeepDir: j.KeepBatchFiles, Limits: limitsOf(j.Limits)},
		Timeout:           time.Duration(j.Timeout),
		TimeoutPerElement: time.Duration(j.TimeoutPerElement),
		Retries:           j.Retries,
		RetryExitCodes:    j.RetryExitCodes,
		Backoff:           time.Duration(j.Backoff),
		LogRoot:           j.Output,
		Logger:            j.Logger,
		OnCall:            s.call,
	})

	j.Logger.Info("job started", "job", p.state.JobID, "binary", p.staged.Source, "sha256", p.staged.SHA256,
		"inputs", len(p.inputs), "parallelism", j.Parallelism, "batch_size", j.BatchSize, "resumed_commits", len(p.commits))

	fresh := make(chan *Task, j.Parallelism)
	emitBatch := func(elems []*Element) {
		t := NewTask(fmt.Sprintf("b%06d", batches.Add(1)-1), elems)
		select {
		case fresh <- t:
		case <-ctx.Done():
		}
	}
	var partitions int
	if j.PartitionByKey {
		partitions = 4 * j.Parallelism
	}
	f := &feeder{
		inputs:  p.inputs,
		done:    done,
		workers: max(1, j.Parallelism),
		batch: batcher.New(batcher.Options{Size: j.BatchSize, MaxBytes: j.BatchBytes, Partitions: partitions},
			emitBatch, func(e *Element) int { return len(e.Payload) }, func(e *Element) string { return e.Key }),
		dead: s.emit,
		rows: make([]atomic.Int64, len(p.inputs)),
	}
	var inputErr error
	go func() {
		defer close(fresh)
		inputErr = f.run(ctx)
	}()

	q := newQueue(fresh)
	var wg sync.WaitGroup
	for range j.Parallelism + 1 { // one more than the cap: it joins the next batch while the others run
		wg.Go(func() {
			for {
				t, ok := q.next(ctx)
				if !ok {
					return
				}
				q.finish(x.Call(ctx, t, s.emit, nil))
				if err := s.failed(); err != nil {
					cancel(err)
				}
			}
		})
	}
	stopTicker := make(chan struct{})
	go func() {
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-tk.C:
				s.commitIfOld()
			case <-stopTicker:
				return
			}
		}
	}()
	wg.Wait()
	close(stopTicker)
	for range fresh { // the feeder stops once ctx is done; let it
	}
	commitErr := s.commit()

	m := p.manifest(started, s, x, f)
	switch {
	case commitErr != nil:
		m.Status, m.Error = "failed", commitErr.Error()
	case inputErr != nil && !errors.Is(inputErr, context.Canceled):
		m.Status, m.Error = "failed", inputErr.Error()
	case ctx.Err() != nil:
		m.Status, m.Error = "cancelled", context.Cause(ctx).Error()
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
	if m.Error != "" {
		return m, errors.New(m.Error)
	}
	return m, nil
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
		Elements:          t.Results + t.DeadLetters,
		Results:           t.Results,
		DeadLetters:       t.DeadLetters,
		DeadLettersByKind: t.Kinds,
		Batches:           s.batches(),
		ExecStats:         x.Stats(),
		Binary: BinaryInfo{
			URI: p.staged.Source, Path: p.staged.Path, SHA256: p.staged.SHA256, Size: p.staged.Size,
			Name: p.schema.Name, Version: cmpOr(p.staged.Version, p.schema.Version),
			InputType: string(p.schema.Input.FullName()), ResultType: string(p.schema.Result.FullName()),
		},
		Options:         p.job,
		ResultFiles:     []string{},
		DeadLetterFiles: []string{},
	}
	if p.schema.Side != nil {
		m.Binary.SideType = string(p.schema.Side.FullName())
	}
	settled := int64(0)
	for i, n := range f.rowsRead() {
		m.Inputs = append(m.Inputs, InputInfo{Path: p.inputs[i].path, Format: string(p.inputs[i].format), Rows: n})
		settled += n
	}
	if m.WallSeconds > 0 {
		m.ThroughputPerSecond = float64(settled) / m.WallSeconds
	}
	if p.table != nil {
		st := p.table.Stats()
		m.Join = &JoinInfo{Source: p.table.Source(), Key: p.job.Join.Key, MissingPolicy: p.job.Join.Missing, Family: p.job.Join.Family, AsOf: p.job.Join.AsOf,
			Stats: st, Unavailable: t.Kinds[KindJoinUnavailable] > 0}
	}
	for _, c := range append(p.commits, s.committed()...) {
		if c.Results > 0 {
			m.ResultFiles = append(m.ResultFiles, resultsName(c.Seq))
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
