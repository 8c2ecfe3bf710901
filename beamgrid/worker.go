package beamgrid

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/gridrun/gridrun/binstage"
	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/join"
	gridrunv1 "github.com/gridrun/gridrun/proto/gridrun/v1"
	"github.com/gridrun/gridrun/resultcache"
	"github.com/gridrun/gridrun/wrapper"
)

// A worker process runs the DoFns of many bundles, each with its own DoFn
// instance, and Beam gives them no shared lifecycle: Setup runs per
// instance and Teardown not at all (on prism and Dataflow). What must be
// once per process (the staged binary, the join's connections and cache,
// the semaphore that caps subprocesses) therefore lives here, keyed by the
// step's spec, made by the first Setup and kept for the process's life.

var (
	mu      sync.Mutex
	workers = map[string]*workerEntry{}
	caches  = map[string]*binstage.Cache{}
)

type workerEntry struct {
	mu     sync.Mutex // held while the worker is made
	w      *worker
	spec   spec
	schema *wrapper.Schema
	key    *codec.Template
}

// entryFor returns the process's entry of a step, from the spec its DoFns
// carry, with the binary's schema decoded. Entries are keyed by the spec's
// encoding: each DoFn instance holds its own copy of the same spec.
func entryFor(sp spec) (*workerEntry, error) {
	raw, err := json.Marshal(sp)
	if err != nil {
		return nil, fmt.Errorf("the step's spec: %w", err)
	}
	h := sha256.Sum256(raw)
	k := string(h[:])
	mu.Lock()
	defer mu.Unlock()
	if e, ok := workers[k]; ok {
		return e, nil
	}
	e := &workerEntry{spec: sp}
	d := new(gridrunv1.Description)
	if err := proto.Unmarshal(e.spec.Description, d); err != nil {
		return nil, fmt.Errorf("the step's description: %w", err)
	}
	if e.schema, err = wrapper.SchemaFromDescription(d); err != nil {
		return nil, fmt.Errorf("the step's description: %w", err)
	}
	if j := e.spec.Job.Join; j != nil {
		// The spec carries the as-of time the job reads (see fingerprint):
		// a key that renders its date renders that one on every worker.
		if e.key, err = j.KeyTemplate(j.AsOf); err != nil {
			return nil, err
		}
	}
	workers[k] = e
	return e, nil
}

// workerFor returns the process's worker of a step, staging the binary and
// opening the join the first time. A failure is not kept: the runner
// retries the bundle, and the next Setup tries again (a fetch that failed
// may not fail twice).
func workerFor(ctx context.Context, sp spec) (*worker, error) {
	e, err := entryFor(sp)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.w == nil {
		if e.w, err = newWorker(ctx, e); err != nil {
			return nil, err
		}
	}
	return e.w, nil
}

// worker is a step's state in one process.
type worker struct {
	spec   spec
	staged *binstage.Staged
	image  *wrapper.Image // the sealed bytes every call runs
	table  *join.Table
	cache  *resultcache.Cache // nil without one
	x      *grid.Executor
	slots  int
	// batches holds a token for each range's batch started and not yet
	// emitted, slots+1 in all: a process runs as many ranges at once
	// as its runner gives it, and its memory follows the batches it
	// holds, not the ranges.
	batches chan struct{}
	logDir  string // this process's directory for the calls' logs
	// sizer sizes the batches of every range the process runs, from
	// the calls of them all.
	sizer *grid.BatchSizer
	// scenarios finds the job's scenarios by id (Element.Scenario), one
	// pointer each: the executor sends each scenario of a batch once.
	scenarios map[string]*grid.Scenario
}

// processID names this process in tallies: a pid alone may repeat across
// the containers of a job.
var processID = func() string {
	b := make([]byte, 8)
	rand.Read(b)
	return fmt.Sprintf("%d-%x", os.Getpid(), b)
}()

// tally returns the process's counts so far, for the manifest.
func (w *worker) tally() Tally {
	t := Tally{Input: -1, Process: processID, Exec: w.x.Stats()}
	if w.table != nil {
		t.Join = w.table.Stats()
	}
	if w.cache != nil {
		t.Cache, t.CacheEntries = w.cache.Stats(), w.cache.Entries()
	}
	return t
}

func newWorker(ctx context.Context, e *workerEntry) (*worker, error) {
	sp := e.spec
	j := sp.Job
	// One cache per directory in the process, so that concurrent stagings
	// share one fetch (the cache's flock covers other processes).
	mu.Lock()
	c := caches[j.CacheDir]
	if c == nil {
		c = &binstage.Cache{Dir: j.CacheDir}
		caches[j.CacheDir] = c
	}
	mu.Unlock()
	staged, err := c.Stage(ctx, j.Binary, &binstage.Options{SHA256: sp.SHA256})
	if err != nil {
		return nil, err
	}
	image, err := staged.Open()
	if err != nil {
		return nil, err
	}
	w := &worker{spec: sp, staged: staged, image: image, slots: cmp.Or(j.Parallelism, runtime.NumCPU())}
	w.batches = make(chan struct{}, w.slots+1)
	if sc := sp.Scenarios; sc != nil {
		w.scenarios = make(map[string]*grid.Scenario, len(sc.List))
		for i := range sc.List {
			w.scenarios[sc.List[i].ID] = &sc.List[i]
		}
	}
	if j.Join != nil {
		spec := j.Join.Spec(e.schema.Side, e.key, j.Join.AsOf)
		if w.table, err = join.Open(ctx, j.Join.Source, spec, &join.Options{CacheBytes: j.Join.CacheBytes}); err != nil {
			image.Close()
			return nil, err
		}
	}
	if w.logDir, err = os.MkdirTemp("", "gridrun-beam-logs-*"); err != nil {
		if w.table != nil {
			w.table.Close()
		}
		image.Close()
		return nil, err
	}
	if w.cache, err = grid.OpenResultCache(ctx, j, slog.Default().With("job", sp.JobID)); err != nil {
		os.RemoveAll(w.logDir)
		if w.table != nil {
			w.table.Close()
		}
		image.Close()
		return nil, err
	}
	cfg := grid.ExecConfigOf(j, slog.Default().With("job", sp.JobID))
	cfg.JobID = sp.JobID
	cfg.Binary = wrapper.Binary{Path: staged.Source, Image: image, Args: j.Args, Env: grid.BinaryEnv(j.Env)}
	cfg.Schema = e.schema
	cfg.Join = w.table
	cfg.Common = sp.Common
	cfg.Parallelism = w.slots
	cfg.Call.LogDir = w.logDir
	cfg.UploadLog = w.uploadLog()
	if w.cache != nil {
		cfg.ResultCache, cfg.CacheJob = w.cache, grid.CacheJobOf(j, staged.SHA256)
	}
	w.sizer = grid.NewBatchSizer(j, w.slots)
	cfg.OnCall = w.sizer.Observe
	w.x = grid.NewExecutor(cfg)
	return w, nil
}

// uploadLog keeps a failed call's log where the job says, as the local
// engine does: Job.LogDir/JOB_ID, or the output's logs/ directory. The
// dead letter names it relative to the output, or by its full URI.
func (w *worker) uploadLog() func(context.Context, string) (string, error) {
	dir, rel := "", false
	switch {
	case w.spec.Job.LogDir != "":
		dir = joinPath(w.spec.Job.LogDir, w.spec.JobID)
	case w.spec.Output != "":
		dir, rel = joinPath(w.spec.Output, "logs"), true
	default:
		return nil
	}
	return func(ctx context.Context, local string) (string, error) {
		b, err := os.ReadFile(local)
		if err != nil {
			return "", err
		}
		name := filepath.Base(local)
		st, err := openStore(ctx, dir)
		if err != nil {
			return "", err
		}
		if err := st.write(ctx, name, func(w *bufWriter) error { _, err := w.Write(b); return err }); err != nil {
			return "", err
		}
		if rel {
			return path.Join("logs", name), nil
		}
		return st.path(name), nil
	}
}

// removeLogs deletes what a batch's calls left in the process's log
// directory: every log has been removed or uploaded by then, and nothing of
// a bundle may outlive it.
func (w *worker) removeLogs(batch string) {
	for _, pattern := range []string{batch + "-a*", batch + ".*"} {
		files, _ := filepath.Glob(filepath.Join(w.logDir, pattern))
		for _, f := range files {
			os.Remove(f)
		}
	}
}

// Close releases what the pipelines run in this process hold: join and
// Cloud Storage connections, the calls' log directories. Staged binaries stay in
// their cache. Workers of distributed runners never need it (Beam gives no
// moment to call it); a program that runs pipelines in process, on prism,
// calls it once they have finished.
func Close() {
	mu.Lock()
	entries := workers
	workers = map[string]*workerEntry{}
	mu.Unlock()
	for _, e := range entries {
		e.mu.Lock()
		if e.w != nil {
			if e.w.table != nil {
				e.w.table.Close()
			}
			if e.w.cache != nil {
				e.w.cache.Close()
			}
			e.w.image.Close()
			os.RemoveAll(e.w.logDir)
			e.w = nil
		}
		e.mu.Unlock()
	}
	closeGCS()
}
