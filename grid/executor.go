package grid

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/jobspec"
	"github.com/gridrun/gridrun/join"
	gridrunv1 "github.com/gridrun/gridrun/proto/gridrun/v1"
	"github.com/gridrun/gridrun/resultcache"
	"github.com/gridrun/gridrun/wrapper"
)

// ExecConfig configures an Executor.
type ExecConfig struct {
	JobID  string
	Binary wrapper.Binary
	Schema *wrapper.Schema
	// Persistent runs each slot's calls in one long-lived process of the
	// binary (wrapper.Worker) instead of a process per call. The binary
	// must serve (the SDK's do). Backup calls still get their own process.
	Persistent bool
	// RawResults makes outcomes carry decoded result messages instead of
	// JSON lines, for result formats that encode them (Parquet).
	RawResults bool
	// DirectResult, with RawResults, says which results' outcomes carry
	// their wire bytes (Outcome.Payload) rather than the decoded message;
	// it passes only results that decode. Nil: none.
	DirectResult func(payload []byte) bool
	// Join looks up the side rows; nil when the job joins nothing.
	Join *join.Table
	// JoinPass hands elements without a join row to the binary instead of
	// the dead letters.
	JoinPass bool
	// Misconfigured, when set, is told when a batch finds the job itself
	// wrong: a join table whose first read shows no column for a field of
	// the side message (*join.CoverageError). The batch makes no call and
	// its elements get no outcome: the engine stops the job. When nil, they
	// are dead letters of kind join_unavailable. It is also told when the
	// first calls find that the binary cannot run here (*FailFastError,
	// see FailFastCalls): that call's pending elements, and those of every
	// call after, get no outcome, whether it is set or not.
	Misconfigured func(error)
	// Common is the job's common data, nil without: its bytes go to each
	// process of the binary once (see wrapper.Options.Common), and its
	// SHA256 identifies it, e.g. in a result cache's keys.
	Common *CommonData
	// Parallelism caps the subprocesses running at once. Defaults to 1.
	Parallelism int
	// Call configures each subprocess call.
	Call wrapper.Options
	// Timeout bounds one call, plus TimeoutPerElement for each element.
	Timeout, TimeoutPerElement time.Duration
	// StallTimeout stops a call that streams no result for the longer of
	// StallTimeout and jobspec.StallMultiple times the slowest element
	// seen, as a timeout. Zero or negative: no watchdog.
	StallTimeout time.Duration
	// Retries, RetryExitCodes and Backoff: see Job.
	Retries        int
	RetryExitCodes []int
	Backoff        time.Duration
	// LogRoot is the directory Call.LogDir is reported relative to.
	LogRoot string
	// LogSample keeps the logs of one good call in LogSample; 0 keeps
	// none. A failed call's logs are always kept.
	LogSample int
	Logger    *slog.Logger
	// OnCallStart, when set, is told of every call as it begins: its slot,
	// batch, attempt, elements, reason, Seq and Start. OnCall, when set, is
	// told of every call when it ends, with the same Seq.
	OnCallStart func(CallRecord)
	OnCall      func(CallRecord)
	// UploadLog, when set, copies a failed call's log file somewhere
	// lasting (a --log-dir, a bucket) and returns where.
	UploadLog func(ctx context.Context, path string) (string, error)
	// ResultCache, when set, settles the elements it holds a result for
	// without a call, from one lookup per batch, and stores the results
	// of the elements that run. Nil: no cache.
	ResultCache *resultcache.Cache
	// CacheJob is the job's part of every element's cache key: the
	// binary's sha256, its arguments and environment, the common data's
	// sha256.
	CacheJob resultcache.Job
}

// Executor runs tasks through the binary. It is safe for concurrent use.
type Executor struct {
	cfg ExecConfig
	sem *semaphore.Weighted
	// cacheJob is cfg.CacheJob's digest, computed once.
	cacheJob resultcache.Key
	enc      *codec.ResultEncoder
	slots    slotPool

	calls, retries, isolations, splits, backups atomic.Int64
	seq                                         atomic.Int64 // calls begun, for CallRecord.Seq
	running                                     atomic.Int64 // calls in flight
	cpuMicros                                   atomic.Int64
	good                                        atomic.Int64 // good calls, for log sampling
	failFast                                    failFast     // watches the first calls; see FailFastCalls

	// workers are the persistent workers, by slot; workerFailed says a
	// worker failed a call, so that its logs are kept.
	workers      []*wrapper.Worker
	workerFailed []bool

	// elementTime holds the binary's time per element (its own measure,
	// or the call's time per element when it gives none); callTime the
	// calls' wall times.
	elementTime, callTime Histogram
}

// NewExecutor returns an Executor.
func NewExecutor(cfg ExecConfig) *Executor {
	cfg.Parallelism = max(cfg.Parallelism, 1)
	cfg.Backoff = cmp.Or(cfg.Backoff, time.Second)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	x := &Executor{
		sem:          semaphore.NewWeighted(int64(cfg.Parallelism)),
		enc:          codec.NewResultEncoder(cfg.Schema.Result),
		slots:        newSlotPool(cfg.Parallelism),
		workers:      make([]*wrapper.Worker, cfg.Parallelism),
		workerFailed: make([]bool, cfg.Parallelism),
	}
	// Element times are learned as results stream, so that a straggler
	// is recognised while its call still runs.
	if cfg.Common != nil {
		cfg.Call.Common = cfg.Common.Bytes
	}
	cfg.Call.OnResult = func(r *gridrunv1.Result) {
		if ns := r.GetDurationNanos(); ns > 0 {
			x.elementTime.Add(float64(ns) / 1e9)
		}
	}
	x.cfg = cfg
	if cfg.ResultCache != nil {
		// The common data is part of every key: a result computed on
		// another curve is another result.
		if cfg.Common != nil {
			cfg.CacheJob.CommonSHA256 = cfg.Common.SHA256
		}
		x.cacheJob = cfg.CacheJob.Digest()
	}
	return x
}

// Stats returns the counts so far.
func (x *Executor) Stats() ExecStats {
	return ExecStats{
		Calls:      x.calls.Load(),
		Retries:    x.retries.Load(),
		Isolations: x.isolations.Load(),
		Splits:     x.splits.Load(),
		Backups:    x.backups.Load(),
		CPU:        float64(x.cpuMicros.Load()) / 1e6,
	}
}

// RunTask runs a task and its follow-ups to the end, one call at a time,
// sleeping through retry backoffs: the whole of a batch's work for a caller
// without a scheduler of its own, such as a Beam DoFn. Once the
// Executor's first calls have found that the binary cannot run here, it
// returns the *FailFastError, and makes no call (see FailFastCalls).
func (x *Executor) RunTask(ctx context.Context, t *Task, emit func(Outcome)) error {
	return x.RunTaskWatched(ctx, t, emit, nil)
}

// RunTaskWatched is RunTask, telling started (when set) of each call as
// it begins, with the task it runs: the batch's, or a follow-up holding
// part of it. A caller that must stop a call between elements (a Beam
// runner's split of a range) holds it from there; a stopped call's
// released elements (wrapper.Running.Release) get no outcome.
func (x *Executor) RunTaskWatched(ctx context.Context, t *Task, emit func(Outcome), started func(*Task, wrapper.Running)) error {
	todo := []*Task{t}
	for len(todo) > 0 {
		if err := x.failFast.Failed(); err != nil {
			return err
		}
		t := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if d := time.Until(t.NotBefore); d > 0 {
			tm := time.NewTimer(d)
			select {
			case <-ctx.Done():
				tm.Stop()
				return ctx.Err()
			case <-tm.C:
			}
		}
		var watch func(wrapper.Running)
		if started != nil {
			watch = func(c wrapper.Running) { started(t, c) }
		}
		todo = append(todo, x.Call(ctx, t, emit, watch)...)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return x.failFast.Failed()
}

// Call runs one task as one subprocess call, emits the outcomes it settles
// and returns the tasks that must follow: the suspect of a failure alone and
// the rest without it, a retry, or the remainder of a stopped call. started,
// when set, is told of the running call (the scheduler uses it to split and
// watch calls). When ctx is cancelled, the elements not settled are left
// without outcomes.
func (x *Executor) Call(ctx context.Context, t *Task, emit func(Outcome), started func(wrapper.Running)) []*Task {
	if x.cfg.Join != nil && !t.joined {
		x.join(ctx, t, emit)
	}
	if x.cfg.ResultCache != nil && !t.cached {
		x.fromCache(ctx, t, emit)
	}
	if len(t.Elements) == 0 || ctx.Err() != nil {
		return nil
	}
	if err := x.sem.Acquire(ctx, 1); err != nil {
		return nil
	}
	if x.failFast.Failed() != nil { // checked once a slot is ours: it may have tripped while we waited
		x.sem.Release(1)
		return nil
	}
	slot := x.slots.take()
	rec := CallRecord{Seq: x.seq.Add(1), Slot: slot, Batch: t.Batch, Attempt: t.Attempt, Elements: len(t.Elements), Reason: t.reason}
	x.running.Add(1) // before OnCallStart: a call told of is counted running
	if x.cfg.OnCallStart != nil {
		begun := rec
		begun.Start = time.Now()
		x.cfg.OnCallStart(begun)
	}
	out, err := x.run(ctx, t, slot, started)
	fast := x.failFast.observe(ctx, out, err) // before the slot is free: no call starts once it trips
	x.running.Add(-1)
	x.slots.put(slot)
	x.sem.Release(1)

	x.calls.Add(1)
	if out == nil { // the binary did not start: every element is pending
		out = &wrapper.Outcome{Start: time.Now(), End: time.Now()}
		for i := range t.Elements {
			out.Pending = append(out.Pending, i)
		}
	}
	x.cpuMicros.Add((out.UserCPU + out.SysCPU).Microseconds())
	rec.Start, rec.End, rec.Results, rec.Stopped = out.Start, out.End, len(out.Results), out.Stopped
	rec.ElementSeconds = x.measure(out)

	// The sink copies each line before emit returns, so one buffer serves
	// every result of the call.
	var (
		buf    []byte
		stored []resultcache.Entry
	)
	for k, r := range out.Results {
		if e := t.Elements[out.Indexes[k]]; e.claim() {
			var o Outcome
			o, buf = x.settle(e, r, t, buf[:0])
			if x.cfg.ResultCache != nil && o.Dead == nil {
				stored = append(stored, resultcache.Entry{Key: e.cacheKey, Payload: r.GetPayload()})
			}
			emit(o)
		}
	}
	x.store(ctx, t, stored)
	if t.backup != nil {
		// A backup settles its element if it wins; if it fails, the
		// original call still owns the element.
		if x.cfg.OnCall != nil {
			x.cfg.OnCall(rec)
		}
		removeLogs(out)
		return nil
	}
	pending := make([]*Element, 0, len(out.Pending))
	for _, p := range out.Pending {
		if e := t.Elements[p]; !e.settled.Load() {
			pending = append(pending, e)
		}
	}
	logRef := ""
	if err != nil && ctx.Err() == nil {
		logRef = x.keepLogs(ctx, out)
	}
	if x.stopFast(fast, err, rec) {
		return nil
	}
	next, failure := x.follow(ctx, t, pending, out, err, logRef, emit)
	rec.Failure = failure
	if failure == "" && !x.sampled() {
		removeLogs(out)
	}
	if x.cfg.OnCall != nil {
		x.cfg.OnCall(rec)
	}
	return next
}

// measure records the call's time and its elements' times, and returns
// the time the binary reported for its elements.
func (x *Executor) measure(out *wrapper.Outcome) float64 {
	wall := out.End.Sub(out.Start).Seconds()
	x.callTime.Add(wall)
	if len(out.Results) == 0 {
		return 0
	}
	perElement := wall / float64(len(out.Results))
	var busy float64
	for _, r := range out.Results {
		if ns := r.GetDurationNanos(); ns > 0 {
			busy += float64(ns) / 1e9 // in elementTime already, see NewExecutor
		} else {
			x.elementTime.Add(perElement)
		}
	}
	return busy
}

// Running returns the number of calls in flight.
func (x *Executor) Running() int { return int(x.running.Load()) }

// Times returns the histograms of element and call durations.
func (x *Executor) Times() (element, call HistogramSummary) {
	return x.elementTime.Summary(), x.callTime.Summary()
}

func (x *Executor) run(ctx context.Context, t *Task, slot int, started func(wrapper.Running)) (*wrapper.Outcome, error) {
	callCtx := ctx
	if x.cfg.Timeout > 0 || x.cfg.TimeoutPerElement > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, x.cfg.Timeout+time.Duration(len(t.Elements))*x.cfg.TimeoutPerElement)
		defer cancel()
	}
	if x.cfg.StallTimeout > 0 {
		var cancel context.CancelCauseFunc
		callCtx, cancel = context.WithCancelCause(callCtx)
		defer cancel(nil)
		inner := started
		started = func(c wrapper.Running) {
			go x.watchStall(c, cancel)
			if inner != nil {
				inner(c)
			}
		}
	}
	var (
		c   wrapper.Running
		err error
	)
	if x.cfg.Persistent && t.backup == nil {
		c, err = x.workerCall(callCtx, slot, x.batch(t))
	} else {
		c, err = wrapper.Start(callCtx, x.cfg.Binary, x.batch(t), &x.cfg.Call)
	}
	if err != nil {
		return nil, err
	}
	if started != nil {
		started(c)
	}
	out, err := c.Wait()
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		err = errTimeout
	}
	if cause := context.Cause(callCtx); errors.As(cause, new(*stallError)) && ctx.Err() == nil {
		err = cause
	}
	if out != nil && out.Shared && err != nil {
		x.workerFailed[slot] = true
	}
	return out, err
}

// workerCall gives the batch to the slot's persistent worker, starting one
// when the slot has none or its last one ended. Only the goroutine holding
// the slot uses its worker.
func (x *Executor) workerCall(ctx context.Context, slot int, b *gridrunv1.Batch) (wrapper.Running, error) {
	for fresh := false; ; fresh = true {
		if w := x.workers[slot]; w == nil || !w.Alive() {
			if w != nil {
				w.Close(x.workerFailed[slot])
			}
			w, err := wrapper.StartWorker(x.cfg.Binary, &x.cfg.Call)
			if err != nil {
				return nil, err
			}
			x.workers[slot], x.workerFailed[slot] = w, false
		}
		c, err := x.workers[slot].Start(ctx, b)
		// A worker may end between its last call and this one, after
		// Alive said otherwise: the batch goes to a new one. A new one
		// gone at once is the binary's fault, and the call's.
		if !errors.Is(err, wrapper.ErrWorkerGone) || fresh {
			return c, err
		}
	}
}

// Close ends the persistent workers, keeping the logs of those that failed
// a call. Without Persistent it does nothing.
func (x *Executor) Close() {
	for i, w := range x.workers {
		if w != nil {
			w.Close(x.workerFailed[i])
			x.workers[i] = nil
		}
	}
}

var errTimeout = errors.New("call timed out")

// stallError is the stall watchdog's cause for stopping a call: a
// timeout, with the limit it applied.
type stallError struct{ limit time.Duration }

func (e *stallError) Error() string {
	return fmt.Sprintf("call timed out: the stall watchdog stopped it after %s without a result (the longer of --stall-timeout and %d times the slowest element seen)",
		e.limit.Round(time.Millisecond), jobspec.StallMultiple)
}

func (e *stallError) Unwrap() error { return errTimeout }

// stallLimit is how long a call may go without a result: StallTimeout, or
// StallMultiple times the slowest element seen so far if longer.
func (x *Executor) stallLimit() time.Duration {
	slowest := time.Duration(x.elementTime.Max() * float64(time.Second))
	return max(x.cfg.StallTimeout, jobspec.StallMultiple*slowest)
}

// watchStall stops call c, through cancel, once it has streamed no result
// for stallLimit: SIGTERM, the grace period, SIGKILL, as for a timeout. It
// ends with the call.
func (x *Executor) watchStall(c wrapper.Running, cancel context.CancelCauseFunc) {
	t := time.NewTimer(x.stallLimit())
	defer t.Stop()
	for {
		select {
		case <-c.Exited():
			return
		case <-t.C:
		}
		limit := x.stallLimit()
		_, last := c.Current()
		idle := time.Since(last)
		if idle < limit {
			t.Reset(limit - idle)
			continue
		}
		x.cfg.Logger.Warn("stall watchdog: stopping a call", "no_result_for", idle.Round(time.Millisecond), "limit", limit)
		cancel(&stallError{limit: limit})
		return
	}
}

// batch builds the protocol's Batch: each distinct side row once, shared
// by the elements that reference it.
func (x *Executor) batch(t *Task) *gridrunv1.Batch {
	b := &gridrunv1.Batch{
		JobId:       x.cfg.JobID,
		BatchId:     t.Batch,
		Attempt:     uint32(t.Attempt),
		MaxAttempts: uint32(t.Attempt + x.cfg.Retries - t.retried),
		Elements:    make([]*gridrunv1.Element, len(t.Elements)),
	}
	if !t.alone {
		b.MaxAttempts++ // a failure is followed by the suspect's call alone
	}
	var index map[string]uint32
	if t.rows != nil {
		index = map[string]uint32{}
	}
	// Each scenario of the batch travels once, as each side row does;
	// elements are mostly in runs of one scenario, so the last one is
	// tried before the map.
	var (
		scenIndex map[*Scenario]uint32
		last      *Scenario
		lastIndex uint32
	)
	for i, e := range t.Elements {
		pe := &gridrunv1.Element{Id: e.ID, Payload: e.Payload}
		if sc := e.Scenario; sc != nil {
			if sc != last {
				n, seen := scenIndex[sc]
				if !seen {
					if scenIndex == nil {
						scenIndex = map[*Scenario]uint32{}
					}
					n = uint32(len(b.Scenarios))
					scenIndex[sc] = n
					b.Scenarios = append(b.Scenarios, &gridrunv1.Scenario{Id: sc.ID, Payload: sc.Payload})
				}
				last, lastIndex = sc, n
			}
			pe.Scenario, pe.Seed = lastIndex, Seed(e.ID, sc.ID)
		} else {
			pe.Seed = Seed(e.ID, "")
		}
		if row, ok := t.rows[e.Key]; ok {
			n, seen := index[e.Key]
			if !seen {
				n = uint32(len(b.SideRows))
				index[e.Key] = n
				b.SideRows = append(b.SideRows, &gridrunv1.SideRow{Key: row.Key, Payload: row.Payload})
			}
			pe.SideRows = []uint32{n}
		}
		b.Elements[i] = pe
	}
	return b
}

// join looks up the task's distinct keys in one read and settles the
// elements it cannot run: no row (unless passed through), a row that does
// not convert, or no source.
func (x *Executor) join(ctx context.Context, t *Task, emit func(Outcome)) {
	keys := make([]string, 0, len(t.Elements))
	seen := map[string]bool{}
	for _, e := range t.Elements {
		if !seen[e.Key] {
			seen[e.Key] = true
			keys = append(keys, e.Key)
		}
	}
	rows, err := x.cfg.Join.Lookup(ctx, keys)
	if err != nil {
		if ctx.Err() != nil {
			t.Elements = nil
			return
		}
		if ce := (*join.CoverageError)(nil); errors.As(err, &ce) && x.cfg.Misconfigured != nil {
			x.cfg.Misconfigured(err)
			t.Elements = nil
			return
		}
		x.cfg.Logger.Error("join failed", "batch", t.Batch, "elements", len(t.Elements), "err", err)
		for _, e := range t.Elements {
			emitDead(emit, e, &DeadLetter{Kind: KindJoinUnavailable, Message: err.Error(), Batch: t.Batch})
		}
		t.Elements = nil
		return
	}
	kept := t.Elements[:0:0]
	for _, e := range t.Elements {
		row, ok := rows[e.Key]
		switch {
		case ok && row.Err != nil:
			emitDead(emit, e, &DeadLetter{
				Kind:    KindBadJoinRow,
				Message: fmt.Sprintf("%s: %v", x.cfg.Join.Source(), row.Err),
				Batch:   t.Batch,
			})
		case ok || x.cfg.JoinPass:
			kept = append(kept, e)
		default:
			emitDead(emit, e, &DeadLetter{
				Kind:    KindMissingJoin,
				Message: fmt.Sprintf("no row for key %q in %s", e.Key, x.cfg.Join.Source()),
				Batch:   t.Batch,
			})
		}
	}
	t.Elements, t.rows, t.joined = kept, rows, true
}

// fromCache computes the keys of the task's elements, looks them up in
// one batched lookup, settles the hits as the results they were, and
// leaves the misses to run. Without a join row an element's key has no
// side row, as its call would have none.
func (x *Executor) fromCache(ctx context.Context, t *Task, emit func(Outcome)) {
	t.cached = true
	keys := make([]resultcache.Key, len(t.Elements))
	side := make([][]byte, 1)
	var h resultcache.Hasher
	for i, e := range t.Elements {
		ke := resultcache.Element{Payload: e.Payload}
		if row, ok := t.rows[e.Key]; ok {
			side[0] = row.Payload
			ke.SideRows = side
		}
		if e.Scenario != nil {
			ke.HasScenario, ke.ScenarioID, ke.ScenarioPayload = true, e.Scenario.ID, e.Scenario.Payload
		}
		e.cacheKey = h.Key(x.cacheJob, ke)
		keys[i] = e.cacheKey
	}
	hits, err := x.cfg.ResultCache.Lookup(ctx, keys)
	if err != nil { // ctx ended: the elements are left without outcomes
		t.Elements = nil
		return
	}
	var buf []byte
	kept := t.Elements[:0:0]
	for i, e := range t.Elements {
		if hits[i] == nil {
			kept = append(kept, e)
			continue
		}
		if e.claim() {
			// The same path as a computed result: the same bytes out.
			var o Outcome
			o, buf = x.settleResult(e, hits[i], t, buf[:0])
			emit(o)
		}
	}
	t.Elements = kept
}

// store writes the results of a call into the result cache, as one pack.
// A cache that cannot be written costs the next run its hits, not this
// run its results: it is a warning.
func (x *Executor) store(ctx context.Context, t *Task, entries []resultcache.Entry) {
	if len(entries) == 0 {
		return
	}
	if err := x.cfg.ResultCache.Store(ctx, entries); err != nil && ctx.Err() == nil {
		x.cfg.Logger.Warn("result cache: cannot store a call's results; the next run computes them again", "batch", t.Batch, "elements", len(entries), "err", err)
	}
}

// settle turns one result into an outcome, its line (if any) encoded into
// buf, which it returns for reuse.
func (x *Executor) settle(e *Element, r *gridrunv1.Result, t *Task, buf []byte) (Outcome, []byte) {
	if ee := r.GetError(); ee != nil {
		return deadOutcome(e, &DeadLetter{Kind: KindElementError, Message: ee.GetMessage(), ErrorType: ee.GetType(), Batch: t.Batch, Attempts: t.Attempt}), buf
	}
	return x.settleResult(e, r.GetPayload(), t, buf)
}

// settleResult turns a result's payload into an outcome, as settle does.
// Payload is set on every result: a format that takes wire bytes writes
// them, and the sink's aggregates read their fields from them.
func (x *Executor) settleResult(e *Element, payload []byte, t *Task, buf []byte) (Outcome, []byte) {
	o := Outcome{Source: e.Source, ID: e.ID, Input: e.Payload, Payload: payload}
	if e.Scenario != nil {
		o.Scenario = e.Scenario.ID
	}
	var err error
	switch {
	case x.cfg.RawResults && x.cfg.DirectResult != nil && x.cfg.DirectResult(payload):
	case x.cfg.RawResults:
		m := dynamicpb.NewMessage(x.cfg.Schema.Result)
		if err = proto.Unmarshal(payload, m); err == nil {
			o.Result = m
		} else {
			err = fmt.Errorf("result for %q is not a %s: %w", e.ID, x.cfg.Schema.Result.FullName(), err)
		}
	default:
		buf, err = x.enc.AppendScenarioLine(buf, e.ID, o.Scenario, payload)
		o.Line = buf
	}
	if err != nil {
		return deadOutcome(e, &DeadLetter{Kind: KindBadOutput, Message: err.Error(), Batch: t.Batch, Attempts: t.Attempt}), buf
	}
	return o, buf
}

// slotPool numbers the running calls 0..n-1 for the timeline.
type slotPool struct {
	mu   sync.Mutex
	free []int
}

func newSlotPool(n int) slotPool {
	free := make([]int, n)
	for i := range free {
		free[i] = n - 1 - i
	}
	return slotPool{free: free}
}

func (p *slotPool) take() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	return s
}

func (p *slotPool) put(s int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free = append(p.free, s)
	slices.SortFunc(p.free, func(a, b int) int { return b - a }) // lowest slot first
}
