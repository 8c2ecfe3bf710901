package bigtable_test

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bt "cloud.google.com/go/bigtable"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/join"
	"github.com/gridrun/gridrun/join/bigtable"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, e *emulator, uri, file, family string, at time.Time) *bigtable.LoadReport {
	t.Helper()
	key, err := codec.ParseTemplate("{underlying}")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := bigtable.Load(t.Context(), uri, file, &bigtable.LoadOptions{
		Key: key, Family: family, Timestamp: at, BulkRows: 2, ClientOptions: e.opts(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// readBack returns the cells of a row as qualifier -> value, with their
// timestamps, read with the plain client.
func readBack(t *testing.T, e *emulator, table, row string) (cells map[string]string, stamps map[bt.Timestamp]bool) {
	t.Helper()
	r, err := e.client(t).Open(table).ReadRow(t.Context(), row)
	if err != nil {
		t.Fatal(err)
	}
	cells, stamps = map[string]string{}, map[bt.Timestamp]bool{}
	for _, items := range r {
		for _, it := range items {
			cells[it.Column] = string(it.Value)
			stamps[it.Timestamp] = true
		}
	}
	return cells, stamps
}

func checkCells(t *testing.T, row string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("row %s: cells %q, want %q", row, got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("row %s: cells %q, want %q", row, got, want)
			return
		}
	}
}

func checkRejects(t *testing.T, rep *bigtable.LoadReport, want map[int64]string) {
	t.Helper()
	if rep.Rejected != int64(len(want)) || len(rep.Rejects) != len(want) {
		t.Errorf("%d rejected (%v), want %d", rep.Rejected, rep.Rejects, len(want))
	}
	for _, r := range rep.Rejects {
		w, ok := want[r.Line]
		if !ok || !strings.Contains(r.Error(), w) || !strings.HasSuffix(r.File, filepath.Ext(r.File)) {
			t.Errorf("rejected %v; want on line %d %q", r, r.Line, w)
		}
	}
}

func TestLoadCSV(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	file := writeFile(t, "quotes.csv", `underlying,spot,vol,rate,dividend
AAPL,50.06,0.3156,0.0126,0.0216
MSFT,300,0.2,,0.01
,1,2,3,4
GOOG,1,2
AAPL,1,1,1,1
V,250,0.3,0.01,0
`)
	at := t0.Add(123456 * time.Microsecond) // Bigtable keeps milliseconds
	rep := load(t, e, "bigtable://p/i/quotes", file, "q", at)
	if !rep.CreatedTable || !rep.CreatedFamily || rep.Rows != 3 {
		t.Errorf("report %+v, want 3 rows in a new table and family", rep)
	}
	checkRejects(t, rep, map[int64]string{
		4: "field underlying: join key field is missing",
		5: "row has 3 cells, the header has 5",
		6: `key "AAPL" is also on line 2`,
	})
	cells, stamps := readBack(t, e, "quotes", "AAPL")
	checkCells(t, "AAPL", cells, map[string]string{
		"q:underlying": "AAPL", "q:spot": "50.06", "q:vol": "0.3156", "q:rate": "0.0126", "q:dividend": "0.0216",
	})
	if want := bt.Timestamp(at.UnixMicro() / 1000 * 1000); len(stamps) != 1 || !stamps[want] {
		t.Errorf("timestamps %v, want %v", stamps, want)
	}
	// The empty cell is written: it hides an older snapshot's rate.
	cells, _ = readBack(t, e, "quotes", "MSFT")
	if v, ok := cells["q:rate"]; !ok || v != "" {
		t.Errorf("MSFT q:rate = %q, %v; want an empty cell", v, ok)
	}

	// Into the existing table: a new family is created, then found.
	if rep := load(t, e, "bigtable://p/i/quotes", file, "r", at); rep.CreatedTable || !rep.CreatedFamily || rep.Rows != 3 {
		t.Errorf("second load %+v, want the family created", rep)
	}
	if rep := load(t, e, "bigtable://p/i/quotes", file, "r", at); rep.CreatedTable || rep.CreatedFamily {
		t.Errorf("third load %+v, want nothing created", rep)
	}
}

func TestLoadJSONL(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	file := writeFile(t, "quotes.jsonl", `{"underlying":"AAPL","spot":50.5,"tags":["a","b"],"meta":{"x": 1},"note":null,"live":true}
not json
{"spot":1}

{"underlying":"","spot":1}
{"underlying":"MSFT","spot":"300"}
`)
	rep := load(t, e, "bigtable://p/i/quotes", file, "q", t0)
	if rep.Rows != 2 {
		t.Errorf("%d rows written, want 2", rep.Rows)
	}
	checkRejects(t, rep, map[int64]string{
		2: "not a JSON object",
		3: "field underlying: join key field is missing",
		5: "the key is empty",
	})
	cells, _ := readBack(t, e, "quotes", "AAPL")
	checkCells(t, "AAPL", cells, map[string]string{
		"q:underlying": "AAPL", "q:spot": "50.5", "q:tags": `["a","b"]`, "q:meta": `{"x":1}`, "q:note": "", "q:live": "true",
	})
	cells, _ = readBack(t, e, "quotes", "MSFT")
	checkCells(t, "MSFT", cells, map[string]string{"q:underlying": "MSFT", "q:spot": "300"})
}

func TestLoadRefusesAKeyThatIsNoColumn(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	file := writeFile(t, "quotes.csv", "name,spot\nAAPL,1\n")
	key, _ := codec.ParseTemplate("{underlying}")
	_, err := bigtable.Load(t.Context(), "bigtable://p/i/quotes", file, &bigtable.LoadOptions{Key: key, Family: "q", ClientOptions: e.opts(t)})
	if err == nil || !strings.Contains(err.Error(), `no column "underlying"`) {
		t.Errorf("err %v", err)
	}
}

// A snapshot loaded at one time is what a job reads as of that time,
// whatever was loaded since.
func TestLoadedSnapshotsReadAsOf(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	desc := quoteDesc(t)
	quotes := filepath.Join(repoRoot, "testdata/quotes.csv")
	load(t, e, "bigtable://p/i/quotes", quotes, "q", t0)
	later := writeFile(t, "later.csv", "underlying,spot\nAAPL,999\n")
	load(t, e, "bigtable://p/i/quotes", later, "q", t0.Add(24*time.Hour))

	// The file's own AAPL row, read independently.
	f, err := os.Open(quotes)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{}
	for _, rec := range recs[1:] {
		if rec[0] != "AAPL" {
			continue
		}
		want["underlying"] = rec[0]
		for i, name := range recs[0][1:] {
			v, err := strconv.ParseFloat(rec[i+1], 64)
			if err != nil {
				t.Fatal(err)
			}
			want[name] = v
		}
	}

	snap := openTable(t, e, "bigtable://p/i/quotes", join.Spec{Side: desc, AsOf: t0}, nil)
	rows, err := snap.Lookup(t.Context(), []string{"AAPL"})
	if err != nil {
		t.Fatal(err)
	}
	checkRow(t, rows, "AAPL", quote(desc, want))

	latest := openTable(t, e, "bigtable://p/i/quotes", join.Spec{Side: desc}, nil)
	rows, err = latest.Lookup(t.Context(), []string{"AAPL"})
	if err != nil {
		t.Fatal(err)
	}
	want["spot"] = 999.0
	checkRow(t, rows, "AAPL", quote(desc, want))
}
