package main

import (
	"github.com/spf13/cobra"

	"github.com/gridrun/gridrun/grid"
)

// dataflowJob is the job as gridrun-beam gets it for Dataflow. A cache
// directory set by GRIDRUN_CACHE_DIR is this machine's setting, not the
// job's: it is left out (gridrun-beam, which inherits the variable,
// stages the binary there, and the workers in --worker-cache-dir).
// One given with --cache-dir or in a job file stays, for gridrun-beam to
// refuse: it names a directory the workers do not have.
func dataflowJob(cmd *cobra.Command, job grid.Job) grid.Job {
	if fl := cmd.Flags().Lookup("cache-dir"); fl != nil {
		if _, env := fl.Annotations[fromEnv]; env {
			job.CacheDir = ""
		}
	}
	return job
}
