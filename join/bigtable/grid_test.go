package bigtable_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/join/bigtable"
)

// These tests run whole jobs with the example pricer, reaching the
// emulator the way a user does, through BIGTABLE_EMULATOR_HOST; setting
// the environment keeps them off t.Parallel.

type outcome struct {
	m       *grid.Manifest
	results map[string]string // id -> result JSON
	dead    map[string]grid.DeadLetter
}

func pricer(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(repoRoot, "bin/pricer"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the example pricer is not built (run make build): %v", err)
	}
	return p
}

func runJob(t *testing.T, input string, join *grid.JoinSpec) outcome {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	m, err := grid.Run(t.Context(), grid.Job{
		Binary: pricer(t), CacheDir: t.TempDir(), Inputs: []string{input}, Output: out, Join: join,
	}, &grid.Hooks{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	o := outcome{m: m, results: map[string]string{}, dead: map[string]grid.DeadLetter{}}
	for _, name := range m.ResultFiles {
		eachLine(t, filepath.Join(out, name), func(line []byte) {
			var r struct {
				ID     string          `json:"id"`
				Result json.RawMessage `json:"result"`
			}
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatal(err)
			}
			o.results[r.ID] = string(r.Result)
		})
	}
	for _, name := range m.DeadLetterFiles {
		eachLine(t, filepath.Join(out, name), func(line []byte) {
			var d grid.DeadLetter
			if err := json.Unmarshal(line, &d); err != nil {
				t.Fatal(err)
			}
			o.dead[d.ID] = d
		})
	}
	return o
}

func eachLine(t *testing.T, path string, f func([]byte)) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// loadDemoQuotes loads testdata/quotes.csv into bigtable://p/i/quotes
// through the environment's emulator.
func loadDemoQuotes(t *testing.T) {
	t.Helper()
	key, _ := codec.ParseTemplate("{underlying}")
	rep, err := bigtable.Load(t.Context(), "bigtable://p/i/quotes", filepath.Join(repoRoot, "testdata/quotes.csv"),
		&bigtable.LoadOptions{Key: key, Family: "q"})
	if err != nil || rep.Rows != 20 {
		t.Fatalf("load: %+v, %v", rep, err)
	}
}

// trades writes the demo trades, the underlying of lines from..to-1
// (0-based) replaced by u.
func trades(t *testing.T, from, to int, u string) string {
	t.Helper()
	var lines []string
	i := 0
	eachLine(t, filepath.Join(repoRoot, "testdata/trades.jsonl"), func(line []byte) {
		if i >= from && i < to {
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatal(err)
			}
			m["underlying"] = u
			b, _ := json.Marshal(m)
			line = b
		}
		lines = append(lines, string(line))
		i++
	})
	return writeFile(t, "trades.jsonl", strings.Join(lines, "\n")+"\n")
}

func TestJobJoinsFromBigtableAsFromCSV(t *testing.T) {
	e := startEmulator(t)
	t.Setenv("BIGTABLE_EMULATOR_HOST", e.addr)
	loadDemoQuotes(t)
	input := filepath.Join(repoRoot, "testdata/trades.jsonl")

	fromCSV := runJob(t, input, &grid.JoinSpec{Source: filepath.Join(repoRoot, "testdata/quotes.csv"), Key: "{underlying}"})
	fromBT := runJob(t, input, &grid.JoinSpec{Source: "bigtable://p/i/quotes", Key: "{underlying}"})

	if len(fromCSV.results) != 1000 || len(fromCSV.dead) != 0 {
		t.Fatalf("CSV join: %d results, %d dead letters", len(fromCSV.results), len(fromCSV.dead))
	}
	if !maps.Equal(fromBT.results, fromCSV.results) {
		t.Errorf("the Bigtable join's %d results differ from the CSV join's", len(fromBT.results))
	}
	j := fromBT.m.Join
	rpcs := int64(len(e.readLog()))
	if j == nil || j.Source != "bigtable://p/i/quotes" || j.Reads != rpcs || j.Reads > fromBT.m.Batches || j.Rows != 20 || j.Missing != 0 {
		t.Errorf("manifest join %+v; %d ReadRows calls for %d batches", j, rpcs, fromBT.m.Batches)
	}
}

func TestJobWithMissingRows(t *testing.T) {
	e := startEmulator(t)
	t.Setenv("BIGTABLE_EMULATOR_HOST", e.addr)
	loadDemoQuotes(t)
	input := trades(t, 10, 13, "NOPE") // T0000011..T0000013

	o := runJob(t, input, &grid.JoinSpec{Source: "bigtable://p/i/quotes", Key: "{underlying}"})
	if len(o.results) != 997 || len(o.dead) != 3 || o.m.Join.Missing != 1 {
		t.Errorf("%d results, %d dead letters, join %+v", len(o.results), len(o.dead), o.m.Join)
	}
	for _, id := range []string{"T0000011", "T0000012", "T0000013"} {
		if d := o.dead[id]; d.Kind != grid.KindMissingJoin || !strings.Contains(d.Message, `"NOPE"`) {
			t.Errorf("%s: %+v, want missing_join naming NOPE", id, d)
		}
	}

	// Passed through, the pricer gets them without a quote and says so.
	o = runJob(t, input, &grid.JoinSpec{Source: "bigtable://p/i/quotes", Key: "{underlying}", Missing: grid.MissingPass})
	for _, id := range []string{"T0000011", "T0000012", "T0000013"} {
		if d := o.dead[id]; d.Kind != grid.KindElementError || !strings.Contains(d.Message, "no quote") {
			t.Errorf("%s: %+v, want the pricer's element error", id, d)
		}
	}
}

// An outage of the reads that one batch needs costs that batch's elements
// (join_unavailable) and nothing else.
func TestJobSurvivesAnOutageOfOneBatchsReads(t *testing.T) {
	e := startEmulator(t)
	t.Setenv("BIGTABLE_EMULATOR_HOST", e.addr)
	loadDemoQuotes(t)
	// The second batch of 100 is all on ZZZ, whose reads fail; no other
	// batch needs ZZZ, so none waits on those reads.
	input := trades(t, 100, 200, "ZZZ")
	e.setFault(func(_ int, keys []string) error {
		if slices.Contains(keys, "ZZZ") {
			return status.Error(codes.ResourceExhausted, "injected")
		}
		return nil
	})

	o := runJob(t, input, &grid.JoinSpec{Source: "bigtable://p/i/quotes", Key: "{underlying}"})
	if len(o.results) != 900 || len(o.dead) != 100 {
		t.Fatalf("%d results, %d dead letters; want 900 and 100", len(o.results), len(o.dead))
	}
	for id, d := range o.dead {
		if d.Kind != grid.KindJoinUnavailable || id < "T0000101" || id > "T0000200" {
			t.Errorf("%s: %s %s, want join_unavailable in the second batch only", id, d.Kind, d.Message)
		}
	}
	m := o.m
	if m.Status != "dead_letters" || m.DeadLettersByKind[grid.KindJoinUnavailable] != 100 {
		t.Errorf("status %s, dead letters %v", m.Status, m.DeadLettersByKind)
	}
	if j := m.Join; !j.Unavailable || j.Failures != 1 || j.Retries != 5 {
		t.Errorf("manifest join %+v, want unavailable after 5 retries of one read", j)
	}
}

// A row with a cell that does not convert costs the elements of its key,
// not the batch around them, and is read once.
func TestJobWithABadRow(t *testing.T) {
	e := startEmulator(t)
	t.Setenv("BIGTABLE_EMULATOR_HOST", e.addr)
	quotes, err := os.ReadFile(filepath.Join(repoRoot, "testdata/quotes.csv"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := codec.ParseTemplate("{underlying}")
	csv := writeFile(t, "quotes.csv", string(quotes)+"BAD,a lot,0.3,0.01,0.02\n")
	if rep, err := bigtable.Load(t.Context(), "bigtable://p/i/quotes", csv, &bigtable.LoadOptions{Key: key, Family: "q"}); err != nil || rep.Rows != 21 {
		t.Fatalf("load: %+v, %v", rep, err)
	}
	input := trades(t, 10, 13, "BAD") // T0000011..T0000013, in the first batch

	o := runJob(t, input, &grid.JoinSpec{Source: "bigtable://p/i/quotes", Key: "{underlying}"})
	if len(o.results) != 997 || len(o.dead) != 3 {
		t.Fatalf("%d results, %d dead letters; want 997 and 3", len(o.results), len(o.dead))
	}
	for _, id := range []string{"T0000011", "T0000012", "T0000013"} {
		if d := o.dead[id]; d.Kind != grid.KindBadJoinRow || !strings.Contains(d.Message, `row "BAD" column q:spot`) || !strings.Contains(d.Message, "a lot") {
			t.Errorf("%s: %+v, want bad_join_row naming the row, the column and the value", id, d)
		}
	}
	if j := o.m.Join; j.BadRows != 1 || j.Rows != 21 || j.Missing != 0 || j.Unavailable {
		t.Errorf("manifest join %+v, want one bad row read once", j)
	}
}

// A table whose dividend qualifier is named div would price every trade
// at dividend 0. Its first read shows the columns: the job stops there,
// as a configuration error, before any call.
func TestJobRefusesATableWithoutAColumnForAField(t *testing.T) {
	e := startEmulator(t)
	t.Setenv("BIGTABLE_EMULATOR_HOST", e.addr)
	quotes, err := os.ReadFile(filepath.Join(repoRoot, "testdata/quotes.csv"))
	if err != nil {
		t.Fatal(err)
	}
	header, rest, _ := strings.Cut(string(quotes), "\n")
	csv := writeFile(t, "quotes.csv", strings.Replace(header, "dividend", "div", 1)+"\n"+rest)
	key, _ := codec.ParseTemplate("{underlying}")
	if _, err := bigtable.Load(t.Context(), "bigtable://p/i/quotes", csv, &bigtable.LoadOptions{Key: key, Family: "q"}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	job := grid.Job{
		Binary: pricer(t), CacheDir: t.TempDir(), Inputs: []string{filepath.Join(repoRoot, "testdata/trades.jsonl")}, Output: out,
		Join: &grid.JoinSpec{Source: "bigtable://p/i/quotes", Key: "{underlying}"},
	}
	m, err := grid.Run(t.Context(), job, &grid.Hooks{Logger: slog.New(slog.DiscardHandler)})
	want := "join bigtable://p/i/quotes: no column fills field dividend of pricer.Quote (columns: q:div, q:rate, q:spot, q:underlying, q:vol); name it, map a column to it with --join-column, or list it in --join-optional"
	var ce *grid.ConfigError
	if !errors.As(err, &ce) || err.Error() != want {
		t.Fatalf("err = %v, want a ConfigError %q", err, want)
	}
	if m == nil || m.Calls != 0 || m.Results != 0 || m.Status != "failed" {
		t.Fatalf("manifest %+v, want a failed job with no call", m)
	}

	job.Join.Optional = []string{"dividend"}
	job.Output = filepath.Join(t.TempDir(), "out")
	m, err = grid.Run(t.Context(), job, &grid.Hooks{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if m.Results != 1000 || !slices.Equal(m.Join.UnusedColumns, []string{"q:div"}) || !slices.Equal(m.Join.UnfilledFields, []string{"dividend"}) {
		t.Errorf("manifest: %d results, join %+v", m.Results, m.Join)
	}
}
