package grid_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
	"github.com/gridrun/gridrun/wrapper"
)

// faultRow is one row of the table in docs/faults.md.
type faultRow struct {
	fault                   string
	elements, results, dead int
	kind                    string
	extraCalls              int
}

// faultSettings are the job options of the rows whose "setting" column
// names some.
var faultSettings = map[string]func(*grid.Job){
	"hang":            func(j *grid.Job) { j.Timeout = grid.Duration(time.Second) },
	"oom:1024":        func(j *grid.Job) { j.Limits = wrapper.Limits{Memory: 256 << 20} },
	"fail-attempts:1": retryTransient,
	"fail-attempts:5": retryTransient,
	"setsid-grandchild": func(j *grid.Job) {
		j.Timeout, j.Grace = grid.Duration(5*time.Second), grid.Duration(time.Second)
	},
	"busy": func(j *grid.Job) {
		j.StallTimeout, j.Grace = grid.Duration(2*time.Second), grid.Duration(time.Second)
	},
}

func retryTransient(j *grid.Job) {
	j.Retries, j.RetryExitCodes, j.Backoff = 2, []int{75}, grid.Duration(time.Millisecond)
}

func readFaultTable(t *testing.T, path string) []faultRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []faultRow
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(strings.Trim(sc.Text(), "|"), "|")
		if len(cells) != 7 || strings.TrimSpace(cells[0]) == "fault" || strings.HasPrefix(strings.TrimSpace(cells[0]), "---") {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		num := func(s string) int {
			n, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("%s: %q in %q is not a number", path, s, sc.Text())
			}
			return n
		}
		rows = append(rows, faultRow{cells[0], num(cells[2]), num(cells[3]), num(cells[4]), cells[5], num(cells[6])})
		if cells[1] != "" && faultSettings[cells[0]] == nil {
			t.Fatalf("%s: no settings for %q in the test", path, cells[0])
		}
	}
	if len(rows) < 15 {
		t.Fatalf("%s: only %d rows read", path, len(rows))
	}
	return rows
}

// TestFaultMatrix keeps docs/faults.md true, with a process per call and
// with persistent workers.
func TestFaultMatrix(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, persistent := range []bool{false, true} {
		for _, row := range readFaultTable(t, filepath.Join(f.root, "docs", "faults.md")) {
			name := row.fault
			if persistent {
				name += "/persistent"
			}
			t.Run(name, func(t *testing.T) {
				faultCase(t, f, row, persistent)
			})
		}
	}
}

func faultCase(t *testing.T, f *fixture, row faultRow, persistent bool) {
	{
		{
			t.Parallel()
			faults := map[int]string{50: row.fault}
			if row.fault == "none" {
				faults = nil
			}
			job := f.job(f.faulty, testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(row.elements, faults)...))
			job.CacheDir = t.TempDir() // what runs is ours alone
			job.Env = testbin.Own(job.Env, job.CacheDir)
			job.BatchSize, job.FixedBatchSize = 100, true
			job.NoSplit = true // this table is about isolating failures
			job.Persistent = persistent
			if set := faultSettings[row.fault]; set != nil {
				set(&job)
			}
			m, err := runBounded(t, job, 3*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			testbin.AssertNothingRuns(t, job.CacheDir)
			o := readOutputs(t, job.Output)
			if len(o.results) != row.results || len(o.dead) != row.dead || int(m.Calls)-1 != row.extraCalls {
				t.Errorf("%d results, %d dead letters %v, %d extra calls; docs/faults.md says %d, %d, %d",
					len(o.results), len(o.dead), kinds(o), m.Calls-1, row.results, row.dead, row.extraCalls)
			}
			if row.dead > 0 {
				d, ok := o.dead["e050"]
				if !ok || d.Kind != row.kind {
					t.Fatalf("dead letters %+v, want e050 of kind %s", o.dead, row.kind)
				}
				if d.Kind == grid.KindCrash && d.ExitCode == 0 {
					t.Errorf("crash dead letter without exit code: %+v", d)
				}
				if d.Log != "" {
					if _, err := os.Stat(filepath.Join(job.Output, d.Log)); err != nil {
						t.Errorf("dead letter names log %s: %v", d.Log, err)
					}
				}
			}
			for id, r := range o.results {
				if id == "e050" && row.fault != "none" && strings.Contains(string(r), "-1") {
					t.Errorf("a result the binary broke the protocol for was kept: %s", r)
				}
			}
		}
	}
}

// runBounded runs the job, failing the test if it has not ended within
// bound: a fault that hangs the runner must fail its row, not the suite.
func runBounded(t *testing.T, job grid.Job, bound time.Duration) (*grid.Manifest, error) {
	t.Helper()
	type result struct {
		m   *grid.Manifest
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := grid.Run(context.Background(), job, quiet)
		done <- result{m, err}
	}()
	select {
	case r := <-done:
		return r.m, r.err
	case <-time.After(bound):
		t.Fatalf("the job did not end within %s", bound)
		return nil, nil
	}
}
