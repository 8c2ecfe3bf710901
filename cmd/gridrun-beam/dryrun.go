package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core"

	"github.com/gridrun/gridrun/beamgrid"
	"github.com/gridrun/gridrun/grid"
)

// printDryRun prints what a run would do: the job as resolved (the binary
// staged and verified, the shard counts), the pipeline's transforms, and
// for Dataflow the job as it would be submitted, from the Beam SDK's
// Dataflow runner in its dry-run mode (see dataflowDryRun). Nothing
// leaves this machine.
func printDryRun(ctx context.Context, w io.Writer, p *beam.Pipeline, plan *beamgrid.Plan, job grid.Job) error {
	// First what the Dataflow runner would refuse, before anything is
	// printed.
	var df string
	if *runnerFlag == "dataflow" {
		if err := requireDataflowFlags(); err != nil {
			return err
		}
		var err error
		if df, err = dataflowDryRun(ctx, p); err != nil {
			return err
		}
	}
	st := plan.Step
	fmt.Fprintf(w, "dry run: nothing submitted, nothing written\n")
	fmt.Fprintf(w, "job %s on %s\n", st.JobID(), *runnerFlag)
	fmt.Fprintf(w, "  binary %s sha256 %s (%s %s)\n", st.Staged().Source, st.Staged().SHA256, st.Schema().Name, st.Schema().Version)
	var rows string
	if plan.Rows > 0 {
		rows = fmt.Sprintf(", about %d rows", plan.Rows)
	}
	fmt.Fprintf(w, "  %d input files%s; %d shards\n", len(plan.Inputs), rows, plan.Shards)
	par := "the CPUs of each worker"
	if job.Parallelism > 0 {
		par = strconv.Itoa(job.Parallelism) + " per worker process"
	}
	batch := job.BatchSize
	if batch == 0 {
		batch = 100
	}
	fmt.Fprintf(w, "  batches of %d elements at most; subprocesses at once: %s\n", batch, par)
	fmt.Fprintf(w, "  output %s\n", job.Output)
	if wb := flagString("worker_binary"); wb != "" {
		fmt.Fprintf(w, "  worker binary %s\n", wb)
	}
	if *runnerFlag == "dataflow" {
		fmt.Fprintf(w, "  workers stage the binary in %s\n", *workerCacheDir)
	}

	image := core.DefaultDockerImage
	if *runnerFlag == "dataflow" {
		image = containerImage()
	}
	model, err := beamgrid.Model(ctx, p, image)
	if err != nil {
		return err
	}
	if err := beamgrid.Describe(w, model); err != nil {
		return err
	}
	if df != "" {
		fmt.Fprintf(w, "dataflow job:\n%s\n", df)
	}
	return nil
}

// containerImage is the workers' container: -sdk_container_image, or the
// Dataflow Go SDK image of this Beam release, as the Dataflow runner
// chooses it.
func containerImage() string {
	if img := flagString("sdk_container_image"); img != "" {
		return img
	}
	return "gcr.io/cloud-dataflow/v1beta3/beam_go_sdk:" + core.SdkVersion
}
