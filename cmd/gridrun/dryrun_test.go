package main_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/internal/testbin"
)

// countLines counts the non-empty lines of a file.
func countLines(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n int64
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			n++
		}
	}
	return n
}

// A local dry run checks what the job would meet and prints the plan:
// rows counted, join keys looked up, batches, output. Expected figures
// are counted here from the files.
func TestADryRunPrintsThePlan(t *testing.T) {
	t.Parallel()
	root := testbin.Root(t)
	dir := t.TempDir()
	trades := filepath.Join(root, "testdata", "trades.jsonl")
	rows := countLines(t, trades)
	// The quotes without AAPL: the trades on it have no row.
	f, err := os.Open(filepath.Join(root, "testdata", "quotes.csv"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	quotes := filepath.Join(dir, "quotes.csv")
	var kept []string
	for _, r := range recs {
		if r[0] != "AAPL" {
			kept = append(kept, strings.Join(r, ","))
		}
	}
	os.WriteFile(quotes, []byte(strings.Join(kept, "\n")+"\n"), 0o644)
	underlyings := map[string]bool{}
	testbin.ScanLines(t, filepath.Join(root, "testdata"), "trades.jsonl", func(_ string, line []byte) {
		var tr struct{ Underlying string }
		if json.Unmarshal(line, &tr) == nil {
			underlyings[tr.Underlying] = true
		}
	})
	if !underlyings["AAPL"] {
		t.Fatal("no trade on AAPL in testdata/trades.jsonl")
	}
	// One malformed row more, in a second input.
	bad := testbin.WriteLines(t, "bad.jsonl", `{"id":"X1","underlying":"MSFT","type":"CALL","style":"EUROPEAN","strike":"high","expiry":1,"quantity":1}`)
	out := filepath.Join(dir, "out")
	code, stdout, stderr := gridrun(t, "run", "--binary", "bin/pricer", "--input", "testdata/trades.jsonl", "--input", bad,
		"--join", quotes, "--join-key", "{underlying}", "--output", out, "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	st, _ := os.Stat(trades)
	badSt, _ := os.Stat(bad)
	for _, want := range []string{
		"dry run: the job would start; no element was sent to the binary, nothing was written\n",
		"  binary   bin/pricer (pricer 1.0.0) sha256 ",
		"  messages pricer.Trade -> pricer.Price, side rows pricer.Quote\n",
		fmt.Sprintf("  input    testdata/trades.jsonl (jsonl, %d bytes): %d rows\n", st.Size(), rows),
		fmt.Sprintf("  input    %s (jsonl, %d bytes): 1 rows\n", bad, badSt.Size()),
		fmt.Sprintf("  rows     %d in 2 inputs, 1 of them bad: each would be a bad_input dead letter\n", rows+1),
		fmt.Sprintf("  batches  about %d batches of 100 at first", (rows+99)/100),
		fmt.Sprintf("  join     %s, key {underlying}: 1 of %d keys have no row (AAPL): their elements become missing_join dead letters\n", quotes, len(underlyings)),
		fmt.Sprintf("  output   %s (new)\n", out),
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the plan lacks %q:\n%s", want, stdout)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the dry run made the output directory (%v)", err)
	}

	// What would stop the job stops the dry run, with exit 2.
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"output not empty", []string{"--output", full}, "is not empty"},
		{"wrong sha256", []string{"--output", out, "--sha256", strings.Repeat("0", 64)}, "refusing to run it"},
		{"missing column", []string{"--output", out, "--join-optional", "nope"}, "nope"},
		{"output under a file", []string{"--output", filepath.Join(full, "x", "out")}, "not a directory"},
	} {
		args := append([]string{"run", "--binary", "bin/pricer", "--input", "testdata/trades.jsonl", "--join", quotes,
			"--join-key", "{underlying}", "--dry-run"}, c.args...)
		code, stdout, stderr := gridrun(t, args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, want 2 with %q\nstdout: %s\nstderr: %s", c.name, code, c.want, stdout, stderr)
		}
	}
}

// A dry run never calls the binary on an element: a binary that leaves a
// mark whenever it runs leaves none, while a real run of it does.
func TestADryRunCallsNothing(t *testing.T) {
	t.Parallel()
	root := testbin.Root(t)
	dir := t.TempDir()
	mark := filepath.Join(dir, "called")
	bin := filepath.Join(dir, "marker")
	os.WriteFile(bin, []byte("#!/bin/sh\necho \"$@\" >> "+mark+"\n"), 0o755)
	in := testbin.WriteLines(t, "tasks.jsonl", testbin.FaultyTasks(30, nil)...)
	args := []string{"run", "--binary", bin, "--input", in, "--proto", filepath.Join(root, "native/examples/faulty/faulty.proto"),
		"--input-type", "faulty.Task", "--result-type", "faulty.Output"}
	code, stdout, stderr := gridrun(t, append(args, "--output", filepath.Join(dir, "dry"), "--dry-run")...)
	if code != 0 || !strings.Contains(stdout, "): 30 rows\n") {
		t.Fatalf("dry run: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if _, err := os.Stat(mark); !os.IsNotExist(err) {
		t.Fatalf("the dry run ran the binary (%v)", err)
	}
	gridrun(t, append(args, "--output", filepath.Join(dir, "real"), "--retries", "0")...)
	if _, err := os.Stat(mark); err != nil {
		t.Fatalf("the real run left no mark either (%v): the test shows nothing", err)
	}
}

// A dry run opens the join as the job would, in the table's layout: a
// table whose spot column is named by its feed is read through
// --join-column, every key found.
func TestADryRunReadsTheJoinsLayout(t *testing.T) {
	t.Parallel()
	root := testbin.Root(t)
	q, err := os.ReadFile(filepath.Join(root, "testdata", "quotes.csv"))
	if err != nil {
		t.Fatal(err)
	}
	header, rest, _ := strings.Cut(string(q), "\n")
	if !strings.Contains(header, ",spot,") {
		t.Fatalf("testdata/quotes.csv has no spot column: %s", header)
	}
	quotes := filepath.Join(t.TempDir(), "feed.csv")
	os.WriteFile(quotes, []byte(strings.Replace(header, ",spot,", ",px_last,", 1)+"\n"+rest), 0o644)
	args := []string{"run", "--binary", "bin/pricer", "--input", "testdata/trades.jsonl", "--join", quotes,
		"--join-key", "{underlying}", "--output", filepath.Join(t.TempDir(), "out"), "--dry-run"}
	if code, _, stderr := gridrun(t, args...); code != 2 || !strings.Contains(stderr, "spot") {
		t.Fatalf("without the mapping: exit %d, want 2 naming spot\nstderr: %s", code, stderr)
	}
	keys := strings.Count(strings.TrimSpace(rest), "\n") + 1 // a row per underlying, each traded
	code, stdout, stderr := gridrun(t, append(args, "--join-column", "spot=px_last")...)
	if code != 0 || !strings.Contains(stdout, fmt.Sprintf("  join     %s, key {underlying}: all %d keys found\n", quotes, keys)) {
		t.Fatalf("with the mapping: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}
