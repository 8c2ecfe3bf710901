package main_test

import (
	"context"
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

// dataflowFixture publishes the example pricer twice to a fake Cloud
// Storage, as make builds it (dynamically linked) and as make
// pricer-static does, with the trades as input, and returns the arguments
// of a Dataflow run of the static one without its binary.
func dataflowFixture(t *testing.T) (*fakegcs.Server, []string) {
	t.Helper()
	beamBinary(t)
	ctx := context.Background()
	gcs := fakegcs.Start(t, "bins", "data")
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host())
	for name, bin := range map[string]string{"pricer": "pricer", "pricer-static": "pricer-static"} {
		if _, err := binstage.Push(ctx, testbin.Path(t, bin), "gs://bins/"+name+"@1.0.0", nil); err != nil {
			t.Fatal(err)
		}
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
	return gcs, []string{"run", "--runner", "dataflow",
		"--input", "gs://data/in/trades-*.jsonl", "--output", "gs://data/out",
		"--join", "bigtable://p/i/quotes", "--join-key", "{underlying}",
		"--project", "quant-prod", "--region", "europe-west1", "--staging-location", "gs://data/staging"}
}

// Before anything is submitted (with --dry-run or without), a job whose
// binary or options could not run on Dataflow is refused with exit 2,
// saying why: a dynamically linked binary; a cache directory of this
// machine; an option the Beam SDK's Dataflow runner rejects. Not
// parallel: the services are named by the environment.
func TestDataflowRefusesBeforeSubmitting(t *testing.T) {
	gcs, base := dataflowFixture(t)
	static := []string{"--binary", "gs://bins/pricer-static@1.0.0"}
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"a dynamically linked binary", []string{"--binary", "gs://bins/pricer@1.0.0"},
			[]string{"binary gs://bins/pricer@1.0.0 is dynamically linked (its ELF interpreter is /lib", "make pricer-static"}},
		{"a dynamically linked binary, dry run", []string{"--dry-run", "--binary", "gs://bins/pricer@1.0.0"},
			[]string{"is dynamically linked", "make pricer-static"}},
		{"a cache directory of this machine", append([]string{"--dry-run", "--cache-dir", t.TempDir()}, static...),
			[]string{"--cache-dir is refused with --runner dataflow", "--worker-cache-dir (default /tmp/gridrun/bin)"}},
		{"a relative worker cache directory", append([]string{"--dry-run", "--worker-cache-dir", ".cache/gridrun"}, static...),
			[]string{`--worker-cache-dir ".cache/gridrun": want an absolute path`}},
		{"an unknown autoscaling algorithm", append([]string{"--dry-run", "--beam-flag", "autoscaling_algorithm=FASTEST"}, static...),
			[]string{"the Dataflow runner rejects the job", "invalid autoscaling algorithm"}},
		{"two container images", append([]string{"--dry-run", "--sdk-container-image", "europe-docker.pkg.dev/p/a:1", "--beam-flag", "worker_harness_container_image=europe-docker.pkg.dev/p/b:1"}, static...),
			[]string{"the Dataflow runner rejects the job", "cannot both be set"}},
		{"an unknown FlexRS goal", append([]string{"--dry-run", "--beam-flag", "flexrs_goal=CHEAPEST"}, static...),
			[]string{"the Dataflow runner rejects the job", "invalid flex resource scheduling goal"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := gridrun(t, append(slices.Clone(base), c.args...)...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\n%s\n%s", code, out, errs)
			}
			for _, w := range c.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr does not say %q:\n%s", w, errs)
				}
			}
			if strings.Contains(out, "dataflow job:") {
				t.Errorf("a refused job printed as if it would be submitted:\n%s", out)
			}
			for _, name := range []string{"out/" + outdir.StateFile, "out/" + outdir.LockFile} {
				if b := gcs.Get("data", name); b != nil {
					t.Errorf("%s written: %s", name, b)
				}
			}
		})
	}
	// The way around, for an image that has the binary's libraries.
	code, out, errs := gridrun(t, append(slices.Clone(base), "--dry-run", "--binary", "gs://bins/pricer@1.0.0",
		"--sdk-container-image", "europe-docker.pkg.dev/p/with-libstdc:1", "--beam-flag", "dynamic_binary_ok=true")...)
	if code != 0 || !strings.Contains(out, "dataflow job:") {
		t.Errorf("dynamic_binary_ok: exit %d\n%s\n%s", code, out, errs)
	}
}
