package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/bigtable/bttest"

	"github.com/gridrun/gridrun/binstage"
	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/internal/fakegcs"
	"github.com/gridrun/gridrun/internal/testbin"
	"github.com/gridrun/gridrun/join/bigtable"
	"github.com/gridrun/gridrun/outdir"
)

// The Beam runners through the CLI: gridrun parses the job and runs
// bin/gridrun-beam, found next to it.

// beamBinary builds bin/gridrun-beam, which gridrun runs for --runner.
func beamBinary(t *testing.T) string { return testbin.Path(t, "gridrun-beam") }

func TestRunOnPrismWritesWhatALocalRunWrites(t *testing.T) {
	t.Parallel()
	beamBinary(t)
	dir := t.TempDir()
	args := []string{"run", "--binary", testbin.Path(t, "pricer"), "--input", "testdata/trades.jsonl",
		"--join", "testdata/quotes.csv", "--join-key", "{underlying}"}
	code, out, errs := gridrun(t, append(args, "--output", filepath.Join(dir, "local"))...)
	if code != 0 {
		t.Fatalf("local: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = gridrun(t, append(args, "--output", filepath.Join(dir, "prism"), "--runner", "prism", "--shards", "4")...)
	if code != 0 {
		t.Fatalf("prism: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "1000 elements: 1000 results, 0 dead letters") || !strings.Contains(out, "runner prism: 4 shards") {
		t.Errorf("summary:\n%s", out)
	}
	if l, p := sortedResults(t, filepath.Join(dir, "local")), sortedResults(t, filepath.Join(dir, "prism")); len(l) != 1000 || !slices.Equal(l, p) {
		t.Errorf("prism wrote %d result lines, the local engine %d; they differ", len(p), len(l))
	}
}

func sortedResults(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "results-*.jsonl"))
	var lines []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		fh.Close()
	}
	slices.Sort(lines)
	return lines
}

func TestBeamFlagsOutOfPlace(t *testing.T) {
	t.Parallel()
	beamBinary(t)
	base := []string{"run", "--binary", testbin.Path(t, "pricer"), "--input", "testdata/trades.jsonl", "--output", filepath.Join(t.TempDir(), "out")}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--project", "p"}, "--project: needs --runner dataflow"},
		{[]string{"--runner", "prism", "--region", "r"}, "--region: needs --runner dataflow"},
		{[]string{"--shards", "4"}, "--shards: needs a Beam runner"},
		{[]string{"--runner", "spark"}, `--runner: want local, prism or dataflow, got "spark"`},
		{[]string{"--runner", "prism", "--report"}, "--report: not available"},
		{[]string{"--runner", "prism", "--persistent"}, "--persistent (Beam gives"},
		{[]string{"--runner", "prism", "--input", "-"}, "cannot read this process's standard input"},
		// Dataflow workers cannot read this machine's files.
		{[]string{"--runner", "dataflow", "--dry-run"}, "Dataflow workers cannot read a local file"},
	} {
		code, out, errs := gridrun(t, append(slices.Clone(base), c.args...)...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q %q; want 2 and %q", c.args, code, out, errs, c.want)
		}
	}
}

// --dry-run with --runner dataflow builds the pipeline (staging the
// binary, checking the inputs and the join) and prints it and the
// Dataflow job, from gridrun's flags, without writing anything. The
// services are emulated: Cloud Storage holds the binary and the input,
// Bigtable the quotes. Not parallel: they are named by the environment.
func TestDataflowDryRun(t *testing.T) {
	worker := beamBinary(t)
	ctx := context.Background()
	gcs := fakegcs.Start(t, "bins", "data")
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host())
	// Linked statically: a dynamically linked binary is refused for
	// Dataflow (see TestDataflowRefusesBeforeSubmitting).
	if _, err := binstage.Push(ctx, testbin.Path(t, "pricer-static"), "gs://bins/pricer@1.0.0", nil); err != nil {
		t.Fatal(err)
	}
	trades, err := os.ReadFile(filepath.Join(testbin.Root(t), "testdata/trades.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	gcs.Put("data", "in/trades-000.jsonl", trades)
	srv, err := bttest.NewServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	t.Setenv("BIGTABLE_EMULATOR_HOST", srv.Addr)
	key, _ := codec.ParseTemplate("{underlying}")
	if _, err := bigtable.Load(ctx, "bigtable://p/i/quotes", filepath.Join(testbin.Root(t), "testdata/quotes.csv"), &bigtable.LoadOptions{Key: key, Family: "q"}); err != nil {
		t.Fatal(err)
	}

	code, out, errs := gridrun(t, "run", "--runner", "dataflow", "--dry-run",
		"--binary", "gs://bins/pricer@1.0.0", "--input", "gs://data/in/trades-*.jsonl",
		"--join", "bigtable://p/i/quotes", "--join-key", "{underlying}", "--output", "gs://data/out",
		"--project", "quant-prod", "--region", "europe-west1", "--staging-location", "gs://data/staging",
		"--worker-machine-type", "c3-standard-8", "--max-workers", "50", "--service-account", "grid@quant-prod.iam.gserviceaccount.com",
		"--network", "grid-net", "--subnetwork", "regions/europe-west1/subnetworks/grid", "--no-public-ips",
		"--sdk-container-image", "europe-docker.pkg.dev/quant-prod/grid/beam-go:2.77.0", "--beam-flag", "disk_size_gb=100",
		"--shards", "8")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{
		"dry run: nothing submitted",
		"binary gs://bins/pricer@1.0.0 sha256 ",
		"1 input files, about 1000 rows; 8 shards\n",
		// gridrun-beam is the workers' binary too.
		"worker binary " + worker + "\n",
		// Never their $HOME.
		"workers stage the binary in /tmp/gridrun/bin\n",
		"gridrun.Job/beamgrid.rangeFn",
		"group_by_key",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the dry run does not say %q:\n%s", want, out)
		}
	}
	_, js, ok := strings.Cut(out, "dataflow job:\n")
	if !ok {
		t.Fatalf("no Dataflow job in:\n%s", out)
	}
	var job struct {
		ProjectID   string `json:"projectId"`
		Environment struct {
			ServiceAccountEmail string `json:"serviceAccountEmail"`
			TempStoragePrefix   string `json:"tempStoragePrefix"`
			WorkerPools         []struct {
				MachineType                 string `json:"machineType"`
				Network                     string `json:"network"`
				Subnetwork                  string `json:"subnetwork"`
				IPConfiguration             string `json:"ipConfiguration"`
				WorkerHarnessContainerImage string `json:"workerHarnessContainerImage"`
				DiskSizeGb                  int64  `json:"diskSizeGb"`
				AutoscalingSettings         struct {
					MaxNumWorkers int64 `json:"maxNumWorkers"`
				} `json:"autoscalingSettings"`
				Packages []struct {
					Location string `json:"location"`
				} `json:"packages"`
			} `json:"workerPools"`
		} `json:"environment"`
	}
	if err := json.Unmarshal([]byte(js), &job); err != nil || len(job.Environment.WorkerPools) != 1 {
		t.Fatalf("Dataflow job: %v\n%s", err, js)
	}
	e, w := job.Environment, job.Environment.WorkerPools[0]
	if job.ProjectID != "quant-prod" || e.ServiceAccountEmail != "grid@quant-prod.iam.gserviceaccount.com" ||
		e.TempStoragePrefix != "gs://data/staging/tmp" || w.MachineType != "c3-standard-8" ||
		w.AutoscalingSettings.MaxNumWorkers != 50 || w.Network != "grid-net" ||
		w.Subnetwork != "regions/europe-west1/subnetworks/grid" || w.IPConfiguration != "WORKER_IP_PRIVATE" ||
		w.WorkerHarnessContainerImage != "europe-docker.pkg.dev/quant-prod/grid/beam-go:2.77.0" || w.DiskSizeGb != 100 ||
		len(w.Packages) != 1 || !strings.HasPrefix(w.Packages[0].Location, "gs://data/staging/") {
		t.Errorf("Dataflow job: %+v", job)
	}
	for _, name := range []string{"out/" + outdir.StateFile, "out/" + outdir.LockFile} {
		if b := gcs.Get("data", name); b != nil {
			t.Errorf("the dry run wrote %s to the output: %s", name, b)
		}
	}
	// The Dataflow runner checks the staging bucket's soft-delete policy
	// even in a dry run; that read must not reach Cloud Storage.
	if n := gcs.BucketReads("data"); n != 0 {
		t.Errorf("the dry run read the staging bucket's metadata %d times", n)
	}
}
