package grid_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testbin"
	"github.com/gridrun/gridrun/outdir"
)

// cacheJob is the demo job (1000 trades on 20 underlyings, joined with
// their quotes) with a result cache, in batches of 100. Neither split nor
// backed up, each element a call runs is in exactly one call: the
// timeline's element counts are the elements computed.
func (f *fixture) cacheJob(binary, quotes, cache string) grid.Job {
	j := f.job(binary, f.testdata("trades.jsonl"))
	j.Join = &grid.JoinSpec{Source: quotes, Key: "{underlying}"}
	j.FixedBatchSize = true
	j.NoSplit = true
	j.ResultCache = cache
	return j
}

// resultLines returns a job's result lines by id, byte for byte.
func resultLines(t *testing.T, dir string) map[string]string {
	t.Helper()
	lines := map[string]string{}
	testbin.ScanLines(t, dir, "results-*.jsonl", func(where string, line []byte) {
		var r struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(line, &r); err != nil || r.ID == "" {
			t.Fatalf("%s: bad result line %q", where, line)
		}
		if _, dup := lines[r.ID]; dup {
			t.Fatalf("%s: %s twice", where, r.ID)
		}
		lines[r.ID] = string(line)
	})
	return lines
}

// callElements sums the elements of the calls the job's timeline records.
func callElements(t *testing.T, dir string) (calls, elements int) {
	t.Helper()
	testbin.ScanLines(t, dir, outdir.TimelineFile, func(where string, line []byte) {
		var r outdir.TimelineRecord
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if r.Event == outdir.EventCall {
			calls++
			elements += r.Elements
		}
	})
	return calls, elements
}

func sameLines(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d results, want %d", what, len(got), len(want))
	}
	for id, w := range want {
		if got[id] != w {
			t.Fatalf("%s: result %s is\n%s\nwant\n%s", what, id, got[id], w)
		}
	}
}

func run(t *testing.T, j grid.Job, hooks *grid.Hooks) *grid.Manifest {
	t.Helper()
	m, err := grid.Run(context.Background(), j, hooks)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != "ok" {
		t.Fatalf("status %s", m.Status)
	}
	return m
}

func TestASecondRunIsServedFromTheCache(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cache := filepath.Join(t.TempDir(), "cache")
	first := f.cacheJob(f.pricer, f.testdata("quotes.csv"), cache)
	m1 := run(t, first, quiet)
	if c := m1.ResultCache; c == nil || c.Hits != 0 || c.Misses != 1000 || c.Stored != 1000 || c.Mode != "readwrite" {
		t.Fatalf("first run's cache: %+v, want 1000 misses stored", c)
	}
	second := f.cacheJob(f.pricer, f.testdata("quotes.csv"), cache)
	m2 := run(t, second, quiet)
	if calls, n := callElements(t, second.Output); calls != 0 || m2.Calls != 0 {
		t.Fatalf("second run: %d calls in the timeline (%d elements), %d in the manifest, want none", calls, n, m2.Calls)
	}
	c := m2.ResultCache
	if c.Hits != 1000 || c.Misses != 0 || c.Stored != 0 || c.IndexEntries != 1000 {
		t.Fatalf("second run's cache: %+v, want 1000 hits of 1000 entries", c)
	}
	// Batches of a fixed size, as the first run's: each batch's entries
	// are in one pack, read once.
	if c.Lookups != 10 || c.Reads != 10 {
		t.Errorf("%d lookups and %d reads for 10 batches, want one each", c.Lookups, c.Reads)
	}
	sameLines(t, "second run", resultLines(t, second.Output), resultLines(t, first.Output))
}

// quoteChanged writes the demo's quotes with one underlying's spot
// changed, and returns the file and the underlying.
func quoteChanged(t *testing.T, f *fixture) (string, string) {
	t.Helper()
	in, err := os.ReadFile(f.testdata("quotes.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(in)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 21 || rows[0][1] != "spot" {
		t.Fatalf("quotes.csv: %d rows, header %v; want 20 quotes with spot second", len(rows), rows[0])
	}
	underlying := rows[7][0]
	rows[7][1] += "1" // 50.06 becomes 50.061
	var out bytes.Buffer
	w := csv.NewWriter(&out)
	w.WriteAll(rows)
	path := filepath.Join(t.TempDir(), "quotes.csv")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, underlying
}

// tradesOn counts the demo trades on an underlying, from the input.
func tradesOn(t *testing.T, f *fixture, underlying string) int {
	t.Helper()
	fh, err := os.Open(f.testdata("trades.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	n := 0
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var tr struct {
			Underlying string `json:"underlying"`
		}
		if err := json.Unmarshal(sc.Bytes(), &tr); err != nil {
			t.Fatal(err)
		}
		if tr.Underlying == underlying {
			n++
		}
	}
	return n
}

func TestAChangedQuoteRecomputesOnlyItsUnderlying(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cache := filepath.Join(t.TempDir(), "cache")
	run(t, f.cacheJob(f.pricer, f.testdata("quotes.csv"), cache), quiet)

	quotes, underlying := quoteChanged(t, f)
	want := tradesOn(t, f, underlying)
	if want == 0 || want == 1000 {
		t.Fatalf("%d trades on %s: the test needs some, not all", want, underlying)
	}
	rerun := f.cacheJob(f.pricer, quotes, cache)
	m := run(t, rerun, quiet)
	if c := m.ResultCache; c.Misses != int64(want) || c.Hits != int64(1000-want) || c.Stored != int64(want) {
		t.Fatalf("cache: %+v, want %d misses (the trades on %s) and %d hits", c, want, underlying, 1000-want)
	}
	if _, n := callElements(t, rerun.Output); n != want {
		t.Fatalf("calls ran %d elements, want the %d trades on %s", n, want, underlying)
	}
	plain := f.cacheJob(f.pricer, quotes, "")
	run(t, plain, quiet)
	sameLines(t, "rerun with the cache", resultLines(t, rerun.Output), resultLines(t, plain.Output))
}

func TestANewBinaryRecomputesEverything(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cache := filepath.Join(t.TempDir(), "cache")
	run(t, f.cacheJob(f.pricer, f.testdata("quotes.csv"), cache), quiet)

	b, err := os.ReadFile(f.pricer)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "pricer")
	if err := os.WriteFile(other, append(b, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	j := f.cacheJob(other, f.testdata("quotes.csv"), cache)
	m := run(t, j, quiet)
	if c := m.ResultCache; c.Hits != 0 || c.Misses != 1000 {
		t.Fatalf("cache: %+v, want 1000 misses", c)
	}
	if _, n := callElements(t, j.Output); n != 1000 {
		t.Fatalf("calls ran %d elements, want 1000", n)
	}
}

// warnings collects a job's warnings.
type warnings struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *warnings) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *warnings) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestCorruptEntriesAreRecomputedWithAWarning(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cache := filepath.Join(t.TempDir(), "cache")
	first := f.cacheJob(f.pricer, f.testdata("quotes.csv"), cache)
	run(t, first, quiet)

	packs, err := filepath.Glob(filepath.Join(cache, "v1", "packs", "*.pack"))
	if err != nil || len(packs) != 10 {
		t.Fatalf("%d packs (%v), want one per call", len(packs), err)
	}
	// A bit flipped in the last byte of one pack (its last entry's
	// checksum), and another pack cut short by a byte (its last entry):
	// two entries damaged.
	flipped, cut := packs[3], packs[6]
	b, err := os.ReadFile(flipped)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0x10
	if err := os.WriteFile(flipped, b, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(cut)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(cut, st.Size()-1); err != nil {
		t.Fatal(err)
	}

	var log warnings
	second := f.cacheJob(f.pricer, f.testdata("quotes.csv"), cache)
	m := run(t, second, &grid.Hooks{Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if c := m.ResultCache; c.Corrupt != 2 || c.Misses != 2 || c.Hits != 998 {
		t.Fatalf("cache: %+v, want 2 corrupt entries recomputed", c)
	}
	for _, p := range []string{flipped, cut} {
		if !strings.Contains(log.String(), "corrupt entry") || !strings.Contains(log.String(), p) {
			t.Errorf("no warning names %s:\n%s", p, log.String())
		}
	}
	if _, n := callElements(t, second.Output); n != 2 {
		t.Errorf("calls ran %d elements, want the 2 damaged", n)
	}
	sameLines(t, "run over a damaged cache", resultLines(t, second.Output), resultLines(t, first.Output))

	// The entries computed again are newer than the damaged ones, and
	// are the ones read from now on.
	third := f.cacheJob(f.pricer, f.testdata("quotes.csv"), cache)
	if c := run(t, third, quiet).ResultCache; c.Hits != 1000 || c.Corrupt != 0 {
		t.Fatalf("third run's cache: %+v, want 1000 hits", c)
	}
	sameLines(t, "third run", resultLines(t, third.Output), resultLines(t, first.Output))
}

func TestReadOnlyAndWriteOnlyCaches(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cache := filepath.Join(t.TempDir(), "cache")

	// Read-only: an empty cache serves nothing, and stays empty.
	j := f.cacheJob(f.pricer, f.testdata("quotes.csv"), cache)
	j.ResultCacheMode = "read"
	if c := run(t, j, quiet).ResultCache; c.Hits != 0 || c.Misses != 1000 || c.Stored != 0 || c.Mode != "read" {
		t.Fatalf("read-only cache: %+v", c)
	}
	if _, err := os.Stat(cache); !os.IsNotExist(err) {
		t.Fatalf("a read-only cache was written: %v", err)
	}

	// Write-only: stores everything, twice, serving nothing.
	for range 2 {
		j = f.cacheJob(f.pricer, f.testdata("quotes.csv"), cache)
		j.ResultCacheMode = "write"
		m := run(t, j, quiet)
		if c := m.ResultCache; c.Hits != 0 || c.Misses != 1000 || c.Stored != 1000 || c.Lookups != 0 {
			t.Fatalf("write-only cache: %+v", c)
		}
		if _, n := callElements(t, j.Output); n != 1000 {
			t.Fatalf("write-only run computed %d elements, want 1000", n)
		}
	}

	// Read-only over the filled cache: all hits, nothing stored.
	j = f.cacheJob(f.pricer, f.testdata("quotes.csv"), cache)
	j.ResultCacheMode = "read"
	if c := run(t, j, quiet).ResultCache; c.Hits != 1000 || c.Stored != 0 {
		t.Fatalf("read-only cache, filled: %+v", c)
	}
}

// TestCacheKeysCoverTheScenarioAndTheCommonData reruns a scenario job on
// a curve through one cache: a scenario whose shock changed, and a new
// curve, are recomputed; the rest is served.
func TestCacheKeysCoverTheScenarioAndTheCommonData(t *testing.T) {
	t.Parallel()
	f := setup(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	scenarios := write("s.jsonl", `{"id":"base"}
{"id":"up","spot_shift":0.1}
{"id":"vol","vol_shift":0.05}
`)
	shockChanged := write("s2.jsonl", `{"id":"base"}
{"id":"up","spot_shift":0.11}
{"id":"vol","vol_shift":0.05}
`)
	otherCurve := write("curve.json", `{"curve": {"tenors": [1, 5], "zero_rates": [0.03, 0.035]}}`)
	cache := filepath.Join(dir, "cache")
	job := func(scen, common string) grid.Job {
		j := f.cacheJob(f.pricer, f.testdata("quotes.csv"), cache)
		j.Scenarios, j.Common = scen, common
		return j
	}
	curve := f.testdata("common.json")
	for _, c := range []struct {
		what         string
		job          grid.Job
		hits, misses int64
	}{
		{what: "first run", job: job(scenarios, curve), misses: 3000},
		{what: "the same again", job: job(scenarios, curve), hits: 3000},
		{what: "one scenario's shock changed", job: job(shockChanged, curve), hits: 2000, misses: 1000},
		{what: "another curve", job: job(scenarios, otherCurve), misses: 3000},
	} {
		m := run(t, c.job, quiet)
		if r := m.ResultCache; r.Hits != c.hits || r.Misses != c.misses {
			t.Errorf("%s: %d hits, %d misses; want %d, %d", c.what, r.Hits, r.Misses, c.hits, c.misses)
		}
		if _, n := callElements(t, c.job.Output); int64(n) != c.misses {
			t.Errorf("%s: the calls priced %d elements, want the %d misses", c.what, n, c.misses)
		}
	}
}
