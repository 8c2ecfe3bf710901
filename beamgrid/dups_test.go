package beamgrid_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"

	"github.com/gridrun/gridrun/beamgrid"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
)

// dupsJob is a job whose ids repeat everywhere: within a chunk, chunks
// apart, across two inputs, many times over, and inside a gzipped input
// (one chunk, read whole); a bad row holds an id before the row that
// becomes its element. want is the number of later rows of an id, counted
// from the lines as written.
func dupsJob(t *testing.T) (job grid.Job, want int) {
	t.Helper()
	lines := testbin.FaultyTasks(300, map[int]string{77: "throw"})
	lines = slices.Insert(lines, 0, `{"id":"e250","x":"high"}`) // a bad row: e250's row below is its first
	for _, at := range []int{60, 140, 141, 230} {
		lines = slices.Insert(lines, at, `{"id":"e005","x":5}`)
	}
	a := testbin.WriteLines(t, "a.jsonl", lines...)
	var gz []string
	for i := range 100 {
		gz = append(gz, fmt.Sprintf(`{"id":"b%03d","x":%d}`, i, i))
	}
	gz = slices.Insert(gz, 40, `{"id":"e005","x":1}`, `{"id":"e299","x":2}`, `{"id":"b003","x":3}`)
	gz = append(gz, `{"id":"b003","x":4}`, `{"id":"b099","x":5}`)
	b := testbin.WriteGzipLines(t, "b.jsonl.gz", gz...)
	job = grid.Job{
		Binary: testbin.Path(t, "faulty"), CacheDir: t.TempDir(), Inputs: []string{a, b},
		Parallelism: 2, BatchSize: 20,
	}
	job.Env = testbin.Own(job.Env, job.CacheDir)
	// e005: 4 more rows in a, 1 in b; e299, b003 twice, b099 in b.
	return job, 4 + 1 + 1 + 2 + 1
}

// duplicates counts the dead letters of later rows of an id.
func duplicates(o outputs) int {
	n := 0
	for _, d := range o.dead {
		if d.Kind == grid.KindBadInput && strings.Contains(d.Message, "duplicate id") {
			n++
		}
	}
	return n
}

// The later rows of an id are found from the ids written sorted in files,
// many per chunk, merged: the same dead letters as the local engine's,
// wherever the rows of an id are, and a merge run twice (a retried bundle)
// finds the same.
func TestDuplicatesFromSortedFilesGiveTheLocalEnginesOutcomes(t *testing.T) {
	closeWorkers(t)
	base, dups := dupsJob(t)
	_, want := local(t, base)
	if n := duplicates(want); n != dups {
		t.Fatalf("the local engine: %d duplicates, want %d", n, dups)
	}
	ctx := t.Context()
	job := base
	job.Output = filepath.Join(t.TempDir(), "beam")
	plan, chunks := ranges(t, job)
	// Runs of 7 ids: every chunk's ids in several files, the gzipped
	// input's in 15.
	for range 2 {
		if err := beamgrid.CheckDups(ctx, plan, chunks, 7); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(job.Output, "_gridrun", "ids", "*"))
	if len(files) < 2*len(chunks)+15 {
		t.Errorf("%d files of ids for %d chunks", len(files), len(chunks))
	}
	for _, ch := range chunks {
		if _, err := beamgrid.RunRange(ctx, plan, ch, offsetrange.NewTracker(beamgrid.Restriction(ch))); err != nil {
			t.Fatal(err)
		}
	}
	got := readOutputs(t, job.Output)
	sameOutcomes(t, got, want)
	if n := duplicates(got); n != dups {
		t.Errorf("%d duplicates, want %d", n, dups)
	}
}

// On prism, the job's duplicates are the local engine's, and the files
// of the check are gone when the job ends.
func TestDuplicateCheckLeavesNoFiles(t *testing.T) {
	closeWorkers(t)
	job, dups := dupsJob(t)
	_, want := local(t, job)
	job.Output = filepath.Join(t.TempDir(), "beam")
	m, err := runBeam(t, job, &beamgrid.BuildOptions{SplitBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	got := readOutputs(t, job.Output)
	sameOutcomes(t, got, want)
	if n := duplicates(got); n != dups || m.DeadLettersByKind[grid.KindBadInput] != int64(dups+1) {
		t.Errorf("%d duplicates, want %d; manifest: dead letters %v", n, dups, m.DeadLettersByKind)
	}
	state, err := os.ReadDir(filepath.Join(job.Output, "_gridrun"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range state {
		if e.Name() == "ids" || e.Name() == "dups" {
			t.Errorf("left in the output: _gridrun/%s", e.Name())
		}
	}
}
