package beamgrid

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/blob"
	"github.com/gridrun/gridrun/internal/inputs"
	"github.com/gridrun/gridrun/outdir"
)

// BuildOptions configure Build. The zero value is usable.
type BuildOptions struct {
	// Shards is recorded in the manifest: the number of checksum buckets
	// the rows' ids were grouped in to find duplicate ids, before they were
	// merged from sorted files. Zero estimates it from the inputs' size:
	// one bucket per 250,000 rows.
	Shards int
	// OutputShards is no longer used: each range of an input writes its
	// own results and dead-letter files.
	OutputShards int
	// SplitBytes is how far apart, at least, an input's chunks start (in
	// rows: a 128th of it, for Parquet). Defaults to 8 MiB.
	SplitBytes int64
	// Runner is recorded in the manifest.
	Runner string
	// DryRun builds the pipeline without touching the output.
	DryRun bool
	// WorkerCacheDir, when set, is the workers' Job.CacheDir: the job's
	// is this machine's, where the binary is staged to build the pipeline.
	WorkerCacheDir string
}

// Plan is a whole job built into a pipeline.
type Plan struct {
	Step   *Step
	Inputs []InputFile
	// Shards is as built, estimated or given; OutputShards is 0.
	Shards, OutputShards int
	// Rows is the estimate of the input rows, from their sizes and the
	// first megabyte of the first; 0 when it cannot tell.
	Rows int64
	// lock is the lock object's bytes, when the plan took it (see Unlock).
	lock []byte
}

// Build builds the whole job into the pipeline of s: cut each input into
// chunks at row starts, find the duplicate ids, then run each chunk's rows
// as a splittable DoFn's range: read, decode, batch, join and call the
// binary as the local engine does, each range writing its outcomes into
// files of its own (results-IIIII-PPPPPPPPPPPP.jsonl and
// dead-letters-IIIII-PPPPPPPPPPPP.jsonl, by input and first position),
// then manifest.json. Only references to the input, file names and counts
// flow through the pipeline, never rows or ids. The checks the local engine
// makes before it starts are made here: a *grid.ConfigError means the job
// cannot run. The output must be new or empty; with Job.Resume, it may
// hold an earlier run of the same job, whose files this run replaces:
// every element is computed again (a Beam run keeps no journal), and the
// output ends as if the earlier run had not been.
func Build(ctx context.Context, s beam.Scope, job grid.Job, opts *BuildOptions) (_ *Plan, err error) {
	var o BuildOptions
	if opts != nil {
		o = *opts
	}
	started := time.Now()
	if len(job.Inputs) == 0 {
		return nil, configErr("no input given")
	}
	if job.Output == "" {
		return nil, configErr("no output directory given")
	}
	job.Output = strings.TrimSuffix(job.Output, "/")
	inputs, err := expandInputs(ctx, job)
	if err != nil {
		return nil, err
	}
	p := &Plan{Inputs: inputs, Shards: o.Shards, Rows: estimateRows(ctx, inputs)}
	if p.Shards <= 0 {
		p.Shards = int(min(max((p.Rows+249_999)/250_000, 1), 1<<12))
	}
	st, err := prepare(ctx, job, &Options{Shards: p.Shards})
	if err != nil {
		return nil, err
	}
	p.Step = st
	if o.WorkerCacheDir != "" {
		st.spec.Job.CacheDir = o.WorkerCacheDir
	}
	if err := checkInputs(ctx, st, inputs); err != nil {
		return nil, err
	}
	if !o.DryRun {
		if p.lock, err = lockOutput(ctx, job.Output); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				releaseLock(ctx, job.Output, p.lock)
			}
		}()
	}
	state, err := checkOutput(ctx, st, inputs, 0)
	if err != nil {
		return nil, err
	}
	st.spec.JobID = state.JobID
	st.spec.Output = st.spec.Job.Output
	if !o.DryRun {
		if err := beginOutput(ctx, st.spec.Job.Output, state); err != nil {
			return nil, err
		}
	}

	s = s.Scope("gridrun.Job")
	files := beam.CreateList(s, inputs)
	// The chunks of one input are found by one worker; reshuffled, they
	// spread over the workers rather than staying fused to it.
	chunks := beam.Reshuffle(s, beam.ParDo(s, &splitFn{SplitBytes: cmp.Or(o.SplitBytes, 8<<20)}, files))
	// Every chunk's ids are written sorted, merged in one step that
	// writes the later duplicates' positions, and only then do the chunks
	// go on to the ranges: reshuffled again, as they leave the merge on
	// one worker.
	ids := beam.ParDo(s, &idsFn{Spec: st.spec, Output: st.spec.Job.Output}, chunks)
	checked := beam.ParDo(s, &mergeFn{Output: st.spec.Job.Output}, beam.GroupByKey(s, beam.AddFixedKey(s, ids)))
	tallies := beam.ParDo(s, &rangeFn{Spec: st.spec, Output: st.spec.Job.Output}, beam.Reshuffle(s, checked))
	m, err := outdir.EncodeManifest(p.manifest(started, o.Runner, state))
	if err != nil {
		return nil, err
	}
	beam.ParDo0(s, &manifestFn{Output: st.spec.Job.Output, Manifest: string(m), Lock: string(p.lock), Spec: st.spec},
		beam.GroupByKey(s, beam.AddFixedKey(s, tallies)))
	return p, nil
}

func configErr(format string, args ...any) error {
	return &grid.ConfigError{Err: fmt.Errorf(format, args...)}
}

// manifest is the manifest as far as it is known when the pipeline is
// built; the manifest DoFn adds the counts.
func (p *Plan) manifest(started time.Time, runner string, state outdir.State) *Manifest {
	sp, staged, schema := p.Step.spec, p.Step.staged, p.Step.schema
	m := &Manifest{Runner: runner, Shards: p.Shards, OutputShards: p.OutputShards}
	m.JobID = sp.JobID
	m.Started = started.UTC()
	m.Runs = state.Runs
	m.Binary = grid.BinaryInfo{
		URI: staged.Source, SHA256: staged.SHA256, Size: staged.Size,
		Name: schema.Name, Version: cmp.Or(staged.Version, schema.Version),
		InputType: string(schema.Input.FullName()), ResultType: string(schema.Result.FullName()),
	}
	if schema.Side != nil {
		m.Binary.SideType = string(schema.Side.FullName())
	}
	for _, in := range p.Inputs {
		m.Inputs = append(m.Inputs, grid.InputInfo{Path: in.Path, Format: in.Format})
	}
	if j := sp.Job.Join; j != nil {
		m.Join = &grid.JoinInfo{Source: j.Source, Key: j.Key, MissingPolicy: j.Missing, Family: j.Family, AsOf: j.AsOf}
	}
	m.Common = sp.Common.Info()
	if sc := sp.Scenarios; sc != nil {
		// BlockRows as the local engine records it: the ranges run their
		// rows under the scenarios in blocks of that many.
		m.Scenarios = &outdir.ScenariosInfo{File: sc.Path, Count: len(sc.List), SHA256: sc.SHA256,
			Type: string(schema.Scenario.FullName()), BlockRows: grid.ScenarioBlockRows}
	}
	m.Options = sp.Job
	if sp.Job.ResultCache != "" {
		m.ResultCache = &outdir.ResultCacheInfo{URI: sp.Job.ResultCache, Mode: sp.Job.ResultCacheMode}
	}
	return m
}

// expandInputs resolves the job's input patterns and formats, as the
// local engine does, for local paths and Beam file systems alike.
func expandInputs(ctx context.Context, j grid.Job) ([]InputFile, error) {
	var store *blob.Options
	if slices.ContainsFunc(j.Inputs, func(p string) bool { return !blob.IsLocal(p) }) {
		var err error
		if store, err = storeOptions(ctx, "gs://"); err != nil {
			return nil, &grid.ConfigError{Err: err}
		}
	}
	files, err := inputs.Expand(ctx, j.Inputs, j.InputFormat, &inputs.Options{
		StdinRefusal: "a pipeline's workers cannot read this process's standard input; save it to a file or to Cloud Storage",
		Store:        store,
	})
	if err != nil {
		return nil, &grid.ConfigError{Err: err}
	}
	out := make([]InputFile, len(files))
	for i, f := range files {
		out[i] = InputFile{Index: i, Path: f.Path, Format: string(f.Format), Gzip: f.Gzip, Size: f.Size}
		if out[i].Size == 0 {
			out[i].Size, _ = size(ctx, f.Path)
		}
	}
	return out, nil
}

// checkInputs opens each input with its decoder, so that a bad CSV header
// or a field the job names but the messages lack stops the job before it
// is submitted.
func checkInputs(ctx context.Context, st *Step, inputs []InputFile) error {
	var key *codec.Template
	if j := st.spec.Job.Join; j != nil {
		key, _ = j.KeyTemplate(j.AsOf) // checked by Prepare
	}
	for _, in := range inputs {
		rc, r, err := openInput(ctx, in)
		if err != nil {
			return &grid.ConfigError{Err: err}
		}
		_, err = codec.NewDecoder(st.schema.Input, r, codec.Format(in.Format), decoderOptions(st.spec.Job, key))
		rc.Close()
		if err != nil {
			return &grid.ConfigError{Err: err}
		}
	}
	return nil
}

// estimateRows estimates the inputs' rows from their sizes and the bytes
// per row of the first megabyte of the first input.
func estimateRows(ctx context.Context, files []InputFile) int64 {
	var total int64
	for _, in := range files {
		n, _ := size(ctx, in.Path)
		total += n
	}
	if len(files) == 0 || total == 0 {
		return 0
	}
	rc, r, err := openInput(ctx, files[0])
	if err != nil {
		return 0
	}
	defer rc.Close()
	var rows int64
	for r.Offset() < 1<<20 {
		if _, err := r.Read(); err != nil {
			break
		}
		rows++
	}
	if n := r.Offset(); rows > 0 && n > 0 {
		return total * rows / n
	}
	return 0
}

// checkOutput refuses an output that is not empty, unless the job resumes
// an earlier run of itself there: same binary, inputs and output shards,
// so that this run's files replace that run's one for one.
func checkOutput(ctx context.Context, st *Step, inputs []InputFile, outputShards int) (outdir.State, error) {
	j := st.spec.Job
	want := outdir.State{JobID: j.ID, Engine: outdir.EngineBeam, SHA256: st.spec.SHA256, OutputFormat: j.OutputFormat, OutputShards: outputShards}
	for _, in := range inputs {
		want.Inputs = append(want.Inputs, in.Path)
	}
	out, err := openStore(ctx, j.Output)
	if err != nil {
		return want, &grid.ConfigError{Err: err}
	}
	names, err := out.list(ctx)
	if err != nil {
		return want, &grid.ConfigError{Err: err}
	}
	names = slices.DeleteFunc(names, func(n string) bool { return n == outdir.LockFile })
	var have outdir.State
	if len(names) > 0 && j.Resume {
		if b, err := out.read(ctx, outdir.StateFile); err == nil {
			have, _ = outdir.DecodeState(b, out.path(outdir.StateFile)) // a state unread is said below
		}
	}
	if want.Fingerprint, err = fingerprint(ctx, st, inputs, have.Fingerprint); err != nil {
		return want, err
	}
	if len(names) == 0 {
		want = outdir.Start(want)
		want.JobID = st.spec.JobID
		return want, nil
	}
	if !j.Resume {
		return want, configErr("output directory %s is not empty: use --resume to run the job that wrote it again, or choose a new directory", j.Output)
	}
	b, err := out.read(ctx, outdir.StateFile)
	if err != nil {
		return want, configErr("output directory %s holds no gridrun job (%s): there is nothing to resume", j.Output, outdir.StateFile)
	}
	if have, err = outdir.DecodeState(b, out.path(outdir.StateFile)); err != nil {
		return want, &grid.ConfigError{Err: err}
	}
	return outdir.Resume(have, want)
}

// beginOutput records the run in the output and clears what an earlier
// run left that this one will not replace.
func beginOutput(ctx context.Context, output string, state outdir.State) error {
	out, err := openStore(ctx, output)
	if err != nil {
		return err
	}
	names, err := out.list(ctx)
	if err != nil {
		return err
	}
	for _, n := range names {
		// An earlier run's manifest would say the job had ended; its
		// temporary files are writes a killed worker abandoned. Its
		// outcome files go too: this run computes every element again,
		// and its ranges need not be that run's.
		if n == outdir.ManifestFile || strings.Contains(n, ".tmp-") ||
			strings.HasPrefix(n, "results-") || strings.HasPrefix(n, "dead-letters-") ||
			strings.HasPrefix(n, idsDir) || strings.HasPrefix(n, dupsDir) {
			if err := out.remove(ctx, n); err != nil {
				return err
			}
		}
	}
	return out.write(ctx, outdir.StateFile, func(w *bufWriter) error {
		_, err := w.Write(state.Encode())
		return err
	})
}
