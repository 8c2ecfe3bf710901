package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/util/protox"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/gcpopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow/dataflowlib"

	"github.com/gridrun/gridrun/beamgrid"
	"github.com/gridrun/gridrun/grid"
)

// printDryRun prints what a run would do: the job as resolved (the binary
// staged and verified, the shard counts), the pipeline's transforms, and
// for Dataflow the job as it would be submitted, translated by the Beam
// SDK's own Dataflow code from the same flags. Nothing leaves this
// machine: a real submission would also check the staging bucket.
func printDryRun(ctx context.Context, w io.Writer, p *beam.Pipeline, plan *beamgrid.Plan, job grid.Job) error {
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
	if *runnerFlag != "dataflow" {
		return nil
	}
	opts, err := dataflowOptions()
	if err != nil {
		return err
	}
	staging := strings.TrimSuffix(flagString("staging_location"), "/")
	id := "go-" + st.JobID()
	hash := sha256.Sum256(protox.MustEncode(model))
	df, err := dataflowlib.Translate(ctx, model, opts, staging+"/"+id+"/worker", staging+"/"+id+"/model", hex.EncodeToString(hash[:]))
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(df, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "dataflow job:\n%s\n", b)
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

// dataflowOptions reads the Dataflow job's settings from Beam's flags, as
// the Dataflow runner does, with its defaults: its required flags are
// required here too.
func dataflowOptions() (*dataflowlib.JobOptions, error) {
	project, region, staging := *gcpopts.Project, *gcpopts.Region, flagString("staging_location")
	switch {
	case project == "":
		return nil, usagef("no Google Cloud project: give -project")
	case region == "":
		return nil, usagef("no Google Cloud region: give -region")
	case !strings.HasPrefix(staging, "gs://"):
		return nil, usagef("no staging location: give -staging_location gs://BUCKET/PATH")
	}
	num := func(name string) int64 {
		n, _ := strconv.ParseInt(flagString(name), 10, 64)
		return n
	}
	var labels map[string]string
	if l := flagString("labels"); l != "" {
		if err := json.Unmarshal([]byte(l), &labels); err != nil {
			return nil, usagef("-labels: %v", err)
		}
	}
	machine := flagString("worker_machine_type")
	if machine == "" {
		machine = flagString("machine_type")
	}
	temp := flagString("temp_location")
	if temp == "" {
		temp = strings.TrimSuffix(staging, "/") + "/tmp"
	}
	experiments := jobopts.GetExperiments()
	for _, e := range []string{"beam_fn_api", "use_runner_v2", "use_unified_worker", "use_portable_job_submission"} {
		if !strings.Contains(strings.Join(experiments, ","), e) {
			experiments = append(experiments, e)
		}
	}
	beam.PipelineOptions.LoadOptionsFromFlags(map[string]bool{"job": true, "dry_run": true})
	return &dataflowlib.JobOptions{
		Name:                jobopts.GetJobName(),
		Experiments:         experiments,
		Options:             beam.PipelineOptions.Export(),
		Project:             project,
		Region:              region,
		Zone:                flagString("zone"),
		Network:             flagString("network"),
		Subnetwork:          flagString("subnetwork"),
		NoUsePublicIPs:      flagBool("no_use_public_ips"),
		NumWorkers:          num("num_workers"),
		MaxNumWorkers:       num("max_num_workers"),
		DiskSizeGb:          num("disk_size_gb"),
		MachineType:         machine,
		Labels:              labels,
		ServiceAccountEmail: flagString("service_account_email"),
		WorkerRegion:        flagString("worker_region"),
		WorkerZone:          flagString("worker_zone"),
		ContainerImage:      containerImage(),
		TempLocation:        temp,
		Worker:              flagString("worker_binary"),
	}, nil
}
