package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gridrun/gridrun/grid"
)

// The Beam runners live in a second binary, gridrun-beam, found next to
// gridrun or on PATH. Linking the Beam SDK into gridrun would more than
// double its size and its build time for every user of the local engine,
// and a Dataflow worker binary must start Beam's harness before anything
// else: a program of its own does that plainly. gridrun parses and checks
// the job as for a local run, then hands it over as JSON on standard input
// with the Beam flags, and exits with its exit code.
const beamBinary = "gridrun-beam"

const runnerLocal = "local"

// beamOptions holds the run flags of the Beam runners.
type beamOptions struct {
	runner       string
	shards       int
	outputShards int
	dryRun       bool
	// numWorkers and maxWorkers are Dataflow's, 0 when not given.
	numWorkers, maxWorkers int
	// dataflow are the Dataflow flags set, by gridrun-beam's (Beam's)
	// names; beamFlags any other Beam flag, NAME=VALUE.
	dataflow  map[string]*string
	beamFlags []string
}

// dataflowFlags maps gridrun's Dataflow flags to Beam's, with their help.
var dataflowFlags = []struct{ name, beam, help string }{
	{"project", "project", "Google Cloud project of the Dataflow job"},
	{"region", "region", "Dataflow region, e.g. europe-west1"},
	{"staging-location", "staging_location", "gs:// prefix where the worker binary and the pipeline are staged"},
	{"temp-location", "temp_location", "gs:// prefix for Dataflow's temporary files (default: STAGING/tmp)"},
	{"worker-machine-type", "worker_machine_type", "machine type of the workers, e.g. c3-standard-8"},
	{"service-account", "service_account_email", "service account the workers run as"},
	{"network", "network", "VPC network of the workers"},
	{"subnetwork", "subnetwork", "subnetwork of the workers (regions/REGION/subnetworks/NAME)"},
	{"sdk-container-image", "sdk_container_image", "workers' container image (default: Beam's Go SDK image, which has no libstdc++: see docs/scaling-out.md)"},
	{"job-name", "job_name", "Dataflow job name (default: generated)"},
	{"worker-cache-dir", "worker_cache_dir", "absolute path where the workers stage the binary (default /tmp/gridrun/bin; --cache-dir is this machine's, refused for Dataflow)"},
}

func (b *beamOptions) addFlags(cmd *cobra.Command) {
	cmd.Long += `

Scale-out: --runner prism runs the same job as an Apache Beam pipeline in
this process (prism, Beam's local runner: for trying a pipeline, it holds
the data in memory); --runner dataflow on Google Cloud Dataflow, with the
binary published in Cloud Storage (gs://...@VERSION), inputs and output in
Cloud Storage and the join in Bigtable. Outputs have the same layout and the
same content. These runners are in the gridrun-beam binary, next to gridrun
or on PATH (make build builds it). With a Beam runner, --dry-run builds the
pipeline and prints it, and the Dataflow job it would submit, without
running anything. See docs/scaling-out.md.

Dry run: --dry-run on this machine checks all the job would check before its
first call, and more, then prints the plan: the binary staged, verified and
asked for its messages (the one process started), every input row read,
counted and decoded, every distinct join key looked up in the table, the
output directory new or empty (or the job to resume) and writable, and an
estimate of the batches. No element is sent to the binary and nothing is
written to the output directory. Exit 0 when the job would start, 2 when it
would not.`
	f := cmd.Flags()
	choiceVar(f, &b.runner, "runner", runnerLocal, "where the job runs: local (this machine), prism (a Beam pipeline in this process) or dataflow (Google Cloud Dataflow)", runnerLocal, "prism", "dataflow")
	f.IntVar(&b.shards, "shards", 0, "with a Beam runner: no longer used (duplicate ids are found by merging sorted files of ids)")
	f.IntVar(&b.outputShards, "output-shards", 0, "with a Beam runner: no longer used (each range of an input writes its own files)")
	f.BoolVar(&b.dryRun, "dry-run", false, "check everything (binary, messages, inputs with every row counted, join keys, output) and print the plan, without calling the binary on any element; with a Beam runner, build the pipeline and print it, and the Dataflow job")
	b.dataflow = map[string]*string{}
	for _, d := range dataflowFlags {
		b.dataflow[d.name] = f.String(d.name, "", "with --runner dataflow: "+d.help)
	}
	f.IntVar(&b.numWorkers, "num-workers", 0, "with --runner dataflow: workers to start with")
	f.IntVar(&b.maxWorkers, "max-workers", 0, "with --runner dataflow: most workers autoscaling may use")
	f.Bool("no-public-ips", false, "with --runner dataflow: workers without public IP addresses")
	f.StringArrayVar(&b.beamFlags, "beam-flag", nil, "with a Beam runner: any other Beam pipeline flag, NAME=VALUE (repeatable), e.g. disk_size_gb=100")
	markNotInJobFile(f, "dry-run")
}

// check refuses Beam flags without a Beam runner, and the local engine's
// display flags with one.
func (b *beamOptions) check(cmd *cobra.Command, ux *runUX) error {
	switch b.runner {
	case runnerLocal, "prism", "dataflow":
	default:
		return usageError("--runner %q: want local, prism or dataflow", b.runner)
	}
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		_, df := b.dataflow[f.Name]
		df = df || f.Name == "no-public-ips" || f.Name == "num-workers" || f.Name == "max-workers"
		beam := f.Name == "shards" || f.Name == "output-shards" || f.Name == "beam-flag"
		switch {
		case err != nil:
		case df && b.runner != "dataflow":
			err = usageError("--%s: needs --runner dataflow", f.Name)
		case beam && b.runner == runnerLocal:
			err = usageError("--%s: needs a Beam runner, --runner prism or dataflow", f.Name)
		}
	})
	if err != nil {
		return err
	}
	if b.runner != runnerLocal && ux.report {
		return usageError("--report: not available with --runner %s (the report draws the local engine's timeline)", b.runner)
	}
	return nil
}

// args are gridrun-beam's arguments.
func (b *beamOptions) args(cmd *cobra.Command) ([]string, error) {
	args := []string{"-job=-", "-runner=" + b.runner,
		"-log_format=" + flagValue(cmd, "log-format"), "-log_level=" + flagValue(cmd, "log-level")}
	if b.shards != 0 {
		args = append(args, "-shards="+strconv.Itoa(b.shards))
	}
	if b.outputShards != 0 {
		args = append(args, "-output_shards="+strconv.Itoa(b.outputShards))
	}
	if b.dryRun {
		args = append(args, "-dry_run")
	}
	for _, d := range dataflowFlags {
		if v := *b.dataflow[d.name]; v != "" {
			args = append(args, "-"+d.beam+"="+v)
		}
	}
	if b.numWorkers > 0 {
		args = append(args, "-num_workers="+strconv.Itoa(b.numWorkers))
	}
	if b.maxWorkers > 0 {
		args = append(args, "-max_num_workers="+strconv.Itoa(b.maxWorkers))
	}
	if flagValue(cmd, "no-public-ips") == "true" {
		args = append(args, "-no_use_public_ips")
	}
	for _, kv := range b.beamFlags {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" || strings.HasPrefix(name, "-") {
			return nil, usageError("--beam-flag %q: want NAME=VALUE, e.g. disk_size_gb=100", kv)
		}
		args = append(args, "-"+kv)
	}
	return args, nil
}

// run runs the job with gridrun-beam and returns its exit code as ours.
func (b *beamOptions) run(cmd *cobra.Command, job grid.Job) error {
	path, err := findBeamBinary()
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	args, err := b.args(cmd)
	if err != nil {
		return err
	}
	if b.runner == "dataflow" {
		job = dataflowJob(cmd, job)
	}
	in, err := json.Marshal(job)
	if err != nil {
		return err
	}
	c := exec.CommandContext(cmd.Context(), path, args...)
	c.Stdin = bytes.NewReader(in)
	c.Stdout, c.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
	// Interrupted, gridrun-beam stops its pipeline itself; it is killed
	// only if it does not within the grace period.
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
	c.WaitDelay = 30 * time.Second
	err = c.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee) && ee.ExitCode() > 0:
		return &exitError{code: ee.ExitCode()} // it said why on stderr
	}
	return fmt.Errorf("%s: %w", path, err)
}

// findBeamBinary finds gridrun-beam next to this executable, else on PATH.
func findBeamBinary() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), beamBinary)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath(beamBinary); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("the Beam runners are in %s, which is neither next to gridrun nor on PATH (make build builds bin/%s)", beamBinary, beamBinary)
}
