package beamgrid

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gridrun/gridrun/aggregate"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/join"
	"github.com/gridrun/gridrun/outdir"
	gridrunv1 "github.com/gridrun/gridrun/proto/gridrun/v1"
	"github.com/gridrun/gridrun/resultcache"
	"github.com/gridrun/gridrun/wrapper"
)

// The sink writes what the local engine writes: results and dead-letter
// files, and manifest.json. Exactly once, across bundle retries, comes
// from names: a range's files are named by its input and its first
// position, so every attempt at a range writes its outcomes under the
// same names, and each file is replaced whole (store.write is atomic). A
// retried or duplicated bundle rewrites its files; it cannot add to them.
// A range split while it runs ends where the split put its end, and the
// residual, starting at the split point, has names of its own.

// Manifest is the manifest of a job run on Beam: the local engine's, with
// Runner, Shards and OutputShards set. Fields the Beam run does not measure
// (the timeline, per-call times, adaptive batch sizes) are zero.
type Manifest = outdir.Manifest

// aggregatePlan binds the job's aggregate specs to the step's messages;
// nil without aggregates.
func aggregatePlan(sp spec) (*aggregate.Plan, error) {
	if len(sp.Job.Aggregates) == 0 {
		return nil, nil
	}
	d := new(gridrunv1.Description)
	if err := proto.Unmarshal(sp.Description, d); err != nil {
		return nil, fmt.Errorf("the step's description: %w", err)
	}
	schema, err := wrapper.SchemaFromDescription(d)
	if err != nil {
		return nil, fmt.Errorf("the step's description: %w", err)
	}
	return grid.CompileAggregates(sp.Job, schema)
}

// errEmpty abandons the write of a file that would be empty.
var errEmpty = fmt.Errorf("no outcomes")

// manifestFn sums the tallies and writes manifest.json, last: its presence
// says the job ended, as with the local engine.
type manifestFn struct {
	Output string
	// Manifest is the manifest as far as it is known when the pipeline
	// is built, as JSON.
	Manifest string
	// Lock is the output's lock object, released once the manifest is
	// written; "" when the pipeline took none.
	Lock string
	// Spec, for a job with aggregates, is the step's: the ranges'
	// partials are merged into the aggregates files.
	Spec spec
}

func (f *manifestFn) ProcessElement(ctx context.Context, _ int, tallies func(*Tally) bool) error {
	m, err := outdir.DecodeManifest([]byte(f.Manifest), "the manifest as built")
	if err != nil {
		return err
	}
	m.DeadLettersByKind = map[string]int64{}
	m.ResultFiles, m.DeadLetterFiles = []string{}, []string{}
	// The largest counts of each process, added up below.
	exec := map[string]grid.ExecStats{}
	joins := map[string]join.Stats{}
	caches := map[string]resultcache.Stats{}
	entries := 0
	agg, err := aggregatePlan(f.Spec)
	if err != nil {
		return err
	}
	var total *aggregate.Set
	if agg != nil {
		total = agg.NewSet()
	}
	var t Tally
	for tallies(&t) {
		if total != nil && len(t.Aggregates) > 0 {
			part, err := agg.Decode(t.Aggregates)
			if err != nil {
				return err
			}
			total.Merge(part)
		}
		if t.Process != "" {
			exec[t.Process] = maxExec(exec[t.Process], t.Exec)
			joins[t.Process] = maxJoin(joins[t.Process], t.Join)
			caches[t.Process] = maxCache(caches[t.Process], t.Cache)
			entries = max(entries, t.CacheEntries)
		}
		if t.Input >= 0 && t.Input < len(m.Inputs) {
			m.Inputs[t.Input].Rows += t.Rows
		}
		m.Results += t.Results
		m.DeadLetters += t.DeadLetters
		for k, n := range t.Kinds {
			m.DeadLettersByKind[k] += n
		}
		m.Batches += t.Batches
		m.RunnerSplits += t.RunnerSplits
		m.RunnerCallSplits += t.CallSplits
		if t.ResultFile != "" {
			m.ResultFiles = append(m.ResultFiles, t.ResultFile)
		}
		if t.DeadLetterFile != "" {
			m.DeadLetterFiles = append(m.DeadLetterFiles, t.DeadLetterFile)
		}
		t = Tally{}
	}
	for _, x := range exec {
		m.Calls += x.Calls
		m.Retries += x.Retries
		m.Isolations += x.Isolations
		m.Splits += x.Splits
		m.Backups += x.Backups
		m.CPU += x.CPU
	}
	if m.ResultCache != nil {
		var sum resultcache.Stats
		for _, c := range caches {
			sum.Hits += c.Hits
			sum.Misses += c.Misses
			sum.Batches += c.Batches
			sum.Reads += c.Reads
			sum.Corrupt += c.Corrupt
			sum.Stored += c.Stored
			sum.Packs += c.Packs
			sum.StoreFailures += c.StoreFailures
		}
		m.ResultCache = grid.ResultCacheInfoOf(m.Options, entries, sum)
	}
	if m.Join != nil {
		for _, j := range joins {
			m.Join.Reads += j.Reads
			m.Join.Rows += j.Rows
			m.Join.CacheHits += j.CacheHits
			m.Join.CacheMisses += j.CacheMisses
			m.Join.Missing += j.Missing
			m.Join.BadRows += j.BadRows
			m.Join.Retries += j.Retries
			m.Join.Failures += j.Failures
		}
		m.Join.Unavailable = m.DeadLettersByKind[grid.KindJoinUnavailable] > 0
	}
	slices.Sort(m.ResultFiles)
	slices.Sort(m.DeadLetterFiles)
	m.Elements = m.Results + m.DeadLetters
	m.Finished = time.Now().UTC()
	m.WallSeconds = m.Finished.Sub(m.Started).Seconds()
	if m.WallSeconds > 0 {
		m.ThroughputPerSecond = float64(m.Elements) / m.WallSeconds
	}
	var read int64
	for _, in := range m.Inputs {
		read += in.Rows
	}
	if m.Scenarios != nil {
		read *= int64(m.Scenarios.Count) // one element per row and scenario
	}
	switch {
	case read != m.Elements:
		// Every row read must have an outcome: the local engine's own
		// check that none went missing, kept here.
		m.Status, m.Error = "failed", fmt.Sprintf("internal error: %d rows read, %d outcomes written", read, m.Elements)
	case m.DeadLetters > 0:
		m.Status = "dead_letters"
	default:
		m.Status = "ok"
	}
	st, err := openStore(ctx, f.Output)
	if err != nil {
		return err
	}
	// Every range has read its duplicates: the check's files go before
	// the manifest says the job ended.
	if err := removeDupFiles(ctx, st); err != nil {
		return err
	}
	if total != nil && m.Status != "failed" {
		// Written before the manifest, which names them: with the
		// local engine's names and layout.
		for i, o := range total.Outputs() {
			name := outdir.AggregatesName(i+1) + ".jsonl"
			if err := st.write(ctx, name, func(w *bufWriter) error { return aggregate.WriteJSONL(w, o) }); err != nil {
				return err
			}
			m.Aggregates = append(m.Aggregates, outdir.AggregateInfo{Spec: o.Spec.Text, File: name, Groups: len(o.Rows), Keys: o.Keys, Values: o.Values})
		}
	}
	b, err := outdir.EncodeManifest(m)
	if err != nil {
		return err
	}
	err = st.write(ctx, outdir.ManifestFile, func(w *bufWriter) error {
		_, err := w.Write(b)
		return err
	})
	if err != nil {
		return err
	}
	return releaseLock(ctx, f.Output, []byte(f.Lock))
}

// ReadManifest reads the manifest of a job run on Beam from its output: a
// local directory or a URI of a Beam file system (gs://).
func ReadManifest(ctx context.Context, output string) (*Manifest, error) {
	st, err := openStore(ctx, output)
	if err != nil {
		return nil, err
	}
	b, err := st.read(ctx, outdir.ManifestFile)
	if err != nil {
		return nil, err
	}
	return outdir.DecodeManifest(b, st.path(outdir.ManifestFile))
}

func maxExec(a, b grid.ExecStats) grid.ExecStats {
	return grid.ExecStats{
		Calls: max(a.Calls, b.Calls), Retries: max(a.Retries, b.Retries), Isolations: max(a.Isolations, b.Isolations),
		Splits: max(a.Splits, b.Splits), Backups: max(a.Backups, b.Backups), CPU: max(a.CPU, b.CPU),
	}
}

func maxCache(a, b resultcache.Stats) resultcache.Stats {
	return resultcache.Stats{
		Hits: max(a.Hits, b.Hits), Misses: max(a.Misses, b.Misses), Batches: max(a.Batches, b.Batches), Reads: max(a.Reads, b.Reads),
		Corrupt: max(a.Corrupt, b.Corrupt), Stored: max(a.Stored, b.Stored), Packs: max(a.Packs, b.Packs), StoreFailures: max(a.StoreFailures, b.StoreFailures),
	}
}

func maxJoin(a, b join.Stats) join.Stats {
	return join.Stats{
		Reads: max(a.Reads, b.Reads), Rows: max(a.Rows, b.Rows), CacheHits: max(a.CacheHits, b.CacheHits),
		CacheMisses: max(a.CacheMisses, b.CacheMisses), Missing: max(a.Missing, b.Missing), BadRows: max(a.BadRows, b.BadRows),
		Retries: max(a.Retries, b.Retries), Failures: max(a.Failures, b.Failures),
	}
}
