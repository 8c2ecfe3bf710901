package main

import (
	"context"
	"flag"
	"path/filepath"

	"github.com/gridrun/gridrun/binstage"
	"github.com/gridrun/gridrun/grid"
)

// defaultWorkerCacheDir is where Dataflow workers keep the staged binary.
// A worker's $HOME is the container's and not gridrun's to choose, so the
// job the workers get always names the directory.
const defaultWorkerCacheDir = "/tmp/gridrun/bin"

var (
	workerCacheDir = flag.String("worker_cache_dir", defaultWorkerCacheDir,
		"Dataflow: the workers' directory for the staged binary, an absolute path")
	dynamicOK = flag.Bool("dynamic_binary_ok", false,
		"Dataflow: submit a dynamically linked binary, for a -sdk_container_image that has its shared libraries")
)

// checkDataflow refuses, before anything is built or submitted, a job
// whose binary could not run on Dataflow's workers or whose cache
// directory is this machine's. The binary is staged here (as the pipeline
// build will stage it again, from the cache) to read its ELF headers.
func checkDataflow(ctx context.Context, job grid.Job) error {
	if job.CacheDir != "" {
		return usagef("cache dir %s: a directory of this machine, which Dataflow workers do not have, so --cache-dir is refused with --runner dataflow: "+
			"the workers keep the binary in --worker-cache-dir (default %s); this machine stages it in $GRIDRUN_CACHE_DIR, or the user cache directory",
			job.CacheDir, defaultWorkerCacheDir)
	}
	if !filepath.IsAbs(*workerCacheDir) {
		return usagef("--worker-cache-dir %q: want an absolute path on the workers (e.g. %s), not one relative to their working or home directory", *workerCacheDir, defaultWorkerCacheDir)
	}
	staged, err := binstage.Stage(ctx, job.Binary, &binstage.Options{SHA256: job.SHA256})
	if err != nil {
		return &grid.ConfigError{Err: err}
	}
	interp, err := binstage.Interpreter(staged.Path)
	if err != nil {
		return &grid.ConfigError{Err: err}
	}
	if interp != "" && !*dynamicOK {
		return usagef("binary %s is dynamically linked (its ELF interpreter is %s): on Dataflow's workers, whose Go SDK image has no libstdc++ or libprotobuf, every call would fail with exit 127. "+
			"Link it statically (make pricer-static does so for the example pricer: bin/pricer-static), publish that and run it; "+
			"or, with a --sdk-container-image that has its libraries, pass --beam-flag dynamic_binary_ok=true",
			staged.Source, interp)
	}
	return nil
}
