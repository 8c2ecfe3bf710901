package grid_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

// broken is a binary that describes itself as the pricer does (so the job
// starts, as it would where the pricer was built) and then fails every
// call as body says, logging each run to the returned file.
func (f *fixture) broken(t *testing.T, body string) (binary string, runs func() []string) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "runs")
	binary = filepath.Join(t.TempDir(), "broken")
	script := "#!/bin/sh\necho \"run $*\" >> " + log + "\n" +
		"case \"$*\" in *--gridrun-describe*) exec " + f.pricer + " \"$@\";; esac\n" + body + "\n"
	if err := os.WriteFile(binary, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return binary, func() []string {
		b, _ := os.ReadFile(log)
		return strings.Split(strings.TrimSpace(string(b)), "\n")[:strings.Count(string(b), "\n")]
	}
}

// The loader line of a dynamically linked pricer on an image without
// libstdc++, as glibc's ld.so prints it.
const loaderLine = "pricer: error while loading shared libraries: libstdc++.so.6: cannot open shared object file: No such file or directory"

// A binary that cannot run here fails the job within its first calls,
// naming the cause, instead of making each of the 1,000 trades a dead
// letter one call at a time.
func TestABinaryThatCannotRunFailsTheJobFast(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, body, cause string
		// loader is whether the error points at the dynamic loader and
		// make pricer-static.
		loader bool
	}{
		{"a missing shared library", "echo '" + loaderLine + "' >&2\nexit 127", loaderLine, true},
		{"exit 127", "exit 127", "exit status 127", true},
		{"the same signal", "kill -s ILL $$", "killed by signal 4 (illegal instruction)", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			bin, runs := f.broken(t, c.body)
			job := f.job(bin, f.testdata("trades.jsonl"))
			job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
			job.BatchSize, job.FixedBatchSize = 10, true // 100 batches
			m, err := grid.Run(context.Background(), job, quiet)

			var fe *grid.FailFastError
			if !errors.As(err, &fe) || fe.Calls != grid.FailFastCalls || !strings.Contains(fe.Cause, c.cause) {
				t.Fatalf("err = %v, want a FailFastError of %d calls naming %q", err, grid.FailFastCalls, c.cause)
			}
			if !strings.Contains(err.Error(), c.cause) {
				t.Errorf("the error does not name the cause %q: %v", c.cause, err)
			}
			if fe.Loader != c.loader || strings.Contains(err.Error(), "make pricer-static") != c.loader {
				t.Errorf("points at the loader: %v, want %v: %v", fe.Loader, c.loader, err)
			}
			// Calls ran: the job failed, it was not refused.
			if ce := (*grid.ConfigError)(nil); errors.As(err, &ce) {
				t.Errorf("a ConfigError: %v", err)
			}
			// Counted from the binary's own log: every run but its
			// description.
			made := len(calls(runs()))
			if most := grid.FailFastCalls + job.Parallelism - 1; made < grid.FailFastCalls || made > most {
				t.Errorf("%d calls made, want %d to %d (the first calls, and those in flight)", made, grid.FailFastCalls, most)
			}
			onDisk, rerr := grid.ReadManifest(job.Output)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if onDisk.Status != "failed" || !strings.Contains(onDisk.Error, c.cause) || onDisk.Calls != int64(made) {
				t.Errorf("manifest: status %s, error %q, %d calls; want failed, naming %q, %d calls", onDisk.Status, onDisk.Error, onDisk.Calls, c.cause, made)
			}
			o := readOutputs(t, job.Output)
			// The calls before the check tripped may have settled an
			// isolated suspect or two; the rest have no outcome.
			if len(o.results) != 0 || len(o.dead) > made || m.Results != 0 {
				t.Errorf("%d results, %d dead letters after %d calls", len(o.results), len(o.dead), made)
			}
			testbin.AssertNothingRuns(t, f.cache)
		})
	}
}

// A binary whose first calls crash on some elements keeps going: the
// first element of each of the first two batches kills it with SIGSEGV,
// so four calls fail alike without a result (each batch, then its suspect
// alone) and the fifth returns results. The crashes are dead letters, as
// always.
func TestABinaryCrashingOnSomeElementsKeepsGoing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	input := testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(100, map[int]string{0: "segv", 10: "segv"})...)
	job := f.job(f.faulty, input)
	job.BatchSize, job.FixedBatchSize, job.NoSplit = 10, true, true
	m, err := grid.Run(context.Background(), job, quiet)
	if err != nil {
		t.Fatal(err)
	}
	o := readOutputs(t, job.Output)
	if len(o.results) != 98 || len(o.dead) != 2 || o.dead["e000"].Kind != grid.KindCrash || o.dead["e010"].Kind != grid.KindCrash {
		t.Fatalf("%d results, dead letters %v; want 98 and e000, e010 crashed", len(o.results), o.dead)
	}
	// 10 batches, and 2 extra calls for each crash.
	if m.Status != "dead_letters" || m.Calls != 14 {
		t.Errorf("manifest: status %s, %d calls; want dead_letters, 14", m.Status, m.Calls)
	}
}

// The pricer with its ELF interpreter renamed to one that does not exist,
// as a binary built for another distribution finds itself: the kernel
// cannot start it (ENOENT). Its messages come from its .proto file, since
// it cannot describe itself either.
func TestABinaryWhoseLoaderIsMissingFailsTheJobFast(t *testing.T) {
	t.Parallel()
	f := setup(t)
	b, err := os.ReadFile(f.pricer)
	if err != nil {
		t.Fatal(err)
	}
	const loader, missing = "/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.9"
	if !bytes.Contains(b, []byte(loader)) {
		t.Skipf("%s names another loader than %s", f.pricer, loader)
	}
	bin := filepath.Join(t.TempDir(), "pricer")
	if err := os.WriteFile(bin, bytes.Replace(b, []byte(loader), []byte(missing), 1), 0o755); err != nil {
		t.Fatal(err)
	}
	job := f.job(bin, f.testdata("trades.jsonl"))
	job.Proto = &grid.ProtoSchema{Files: []string{filepath.Join(f.root, "native/examples/pricer/pricer.proto")},
		InputType: "pricer.Trade", ResultType: "pricer.Price", SideType: "pricer.Quote"}
	job.Join = &grid.JoinSpec{Source: f.testdata("quotes.csv"), Key: "{underlying}"}
	job.BatchSize, job.FixedBatchSize = 10, true
	_, err = grid.Run(context.Background(), job, quiet)
	var fe *grid.FailFastError
	if !errors.As(err, &fe) || !strings.Contains(fe.Cause, "the binary did not start") || !fe.Loader ||
		!strings.Contains(err.Error(), "no such file or directory") || !strings.Contains(err.Error(), "make pricer-static") {
		t.Fatalf("err = %v, want a FailFastError: the binary did not start, naming make pricer-static", err)
	}
	m, err := grid.ReadManifest(job.Output)
	if err != nil {
		t.Fatal(err)
	}
	if m.Calls < grid.FailFastCalls || m.Calls > 10 || m.Results != 0 {
		t.Errorf("%d calls, %d results; want %d to 10 calls, no result", m.Calls, m.Results, grid.FailFastCalls)
	}
}
