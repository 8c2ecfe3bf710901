package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bt "cloud.google.com/go/bigtable"
	"cloud.google.com/go/bigtable/bttest"
)

// The exit codes of marketdata load and of the join flags, through the
// command line as a user types it; the emulator is reached through
// BIGTABLE_EMULATOR_HOST, which keeps the test off t.Parallel.
func TestMarketdataLoadAndJoinFlags(t *testing.T) {
	srv, err := bttest.NewServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	t.Setenv("BIGTABLE_EMULATOR_HOST", srv.Addr)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(good, []byte("underlying,spot\nAAPL,1\nMSFT,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("underlying,spot\nAAPL,1\n,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func(args ...string) []string { return append([]string{"marketdata", "load"}, args...) }
	runArgs := func(args ...string) []string {
		return append([]string{"run", "--binary", "bin/pricer", "--input", "in.jsonl", "--output", filepath.Join(dir, "out")}, args...)
	}
	for _, c := range []struct {
		name string
		args []string
		want int
	}{
		{"all rows written", load(good, "bigtable://p/i/quotes", "--key", "{underlying}", "--family", "q"), exitOK},
		{"a row rejected", load(bad, "bigtable://p/i/quotes", "--key", "{underlying}", "--family", "q", "--timestamp", "2026-11-20T21:00:00Z"), exitRejected},
		{"no family", load(good, "bigtable://p/i/quotes", "--key", "{underlying}"), exitUsage},
		{"not a table URI", load(good, "bigtable://p/quotes", "--key", "{underlying}", "--family", "q"), exitUsage},
		{"bad timestamp", load(good, "bigtable://p/i/quotes", "--key", "{underlying}", "--family", "q", "--timestamp", "yesterday"), exitUsage},
		{"no such file", load(filepath.Join(dir, "none.csv"), "bigtable://p/i/quotes", "--key", "{underlying}", "--family", "q"), exitFailed},
		{"bad as-of", runArgs("--join", "bigtable://p/i/quotes", "--join-key", "{underlying}", "--join-as-of", "yesterday"), exitUsage},
		{"family without a join", runArgs("--join-family", "q"), exitUsage},
	} {
		if got := run(t.Context(), c.args, io.Discard, io.Discard); got != c.want {
			t.Errorf("%s: exit %d, want %d", c.name, got, c.want)
		}
	}
}

// marketdata load writes the binary and one-message layouts, which the
// plain client reads back as HBase and protojson write them; show prints
// a row as the join decodes it, or why it does not; a key template naming
// a field the input lacks stops run with exit 2.
func TestMarketdataLayoutsShowAndKeyCheck(t *testing.T) {
	srv, err := bttest.NewServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	t.Setenv("BIGTABLE_EMULATOR_HOST", srv.Addr)
	quotes := filepath.Join(repoRoot, "testdata/quotes.csv")
	side := []string{"--proto", filepath.Join(repoRoot, "native/examples/pricer/pricer.proto"), "--side-type", "pricer.Quote"}
	cli := func(args ...string) (int, string, string) {
		var out, errs strings.Builder
		code := run(t.Context(), args, &out, &errs)
		return code, out.String(), errs.String()
	}
	if code, _, stderr := cli(append([]string{"marketdata", "load", quotes, "bigtable://p/i/bin", "--key", "{underlying}", "--family", "q", "--cell-encoding", "binary"}, side...)...); code != exitOK {
		t.Fatalf("binary load: exit %d: %s", code, stderr)
	}
	if code, _, stderr := cli(append([]string{"marketdata", "load", quotes, "bigtable://p/i/msg", "--key", "{underlying}", "--message-column", "md:quote", "--message-format", "json"}, side...)...); code != exitOK {
		t.Fatalf("message load: exit %d: %s", code, stderr)
	}

	// AAPL's spot is 50.06 in quotes.csv.
	spot := binary.BigEndian.AppendUint64(nil, math.Float64bits(50.06))
	c, err := bt.NewClientWithConfig(t.Context(), "p", "i", bt.ClientConfig{MetricsProvider: bt.NoopMetricsProvider{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	row, err := c.Open("bin").ReadRow(t.Context(), "AAPL")
	if err != nil {
		t.Fatal(err)
	}
	cells := map[string]string{}
	for _, it := range row["q"] {
		cells[it.Column] = string(it.Value)
	}
	if cells["q:spot"] != string(spot) || cells["q:underlying"] != "AAPL" {
		t.Errorf("binary row AAPL: %q", cells)
	}
	row, err = c.Open("msg").ReadRow(t.Context(), "AAPL")
	if err != nil {
		t.Fatal(err)
	}
	var msg map[string]any
	if len(row["md"]) != 1 || json.Unmarshal(row["md"][0].Value, &msg) != nil || msg["spot"] != 50.06 || msg["underlying"] != "AAPL" {
		t.Errorf("message row AAPL: %v", row)
	}

	code, stdout, stderr := cli(append([]string{"marketdata", "show", "bigtable://p/i/bin", "AAPL", "--join-cell-encoding", "binary"}, side...)...)
	if code != exitOK || !strings.Contains(stdout, fmt.Sprintf("% x (8 bytes)", spot)) || !strings.Contains(stdout, `"spot": 50.06`) {
		t.Errorf("show binary: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = cli(append([]string{"marketdata", "show", "bigtable://p/i/msg", "AAPL", "--join-message-column", "md:quote", "--join-message-format", "json"}, side...)...)
	if code != exitOK || !strings.Contains(stdout, `"spot": 50.06`) {
		t.Errorf("show message: exit %d\n%s%s", code, stdout, stderr)
	}
	// Read as text, the binary spot is a cell the join cannot convert.
	code, _, stderr = cli(append([]string{"marketdata", "show", "bigtable://p/i/bin", "AAPL"}, side...)...)
	if code != exitFailed || !strings.Contains(stderr, `row "AAPL" column q:`) || !strings.Contains(stderr, "is not a number") {
		t.Errorf("show binary as text: exit %d, %s", code, stderr)
	}
	if code, _, stderr = cli(append([]string{"marketdata", "show", "bigtable://p/i/bin", "NOPE"}, side...)...); code != exitFailed || !strings.Contains(stderr, `no row for key "NOPE"`) {
		t.Errorf("show missing: exit %d, %s", code, stderr)
	}

	out := filepath.Join(t.TempDir(), "out")
	code, _, stderr = cli("run", "--binary", repoPath(t, "bin/pricer", "run make build"), "--input", filepath.Join(repoRoot, "testdata/trades.jsonl"),
		"--output", out, "--progress", "none", "--join", "bigtable://p/i/bin", "--join-key", "EQ#{undrlying}#{asof:20060102}", "--join-cell-encoding", "binary")
	if code != exitUsage || !strings.Contains(stderr, `"undrlying" is not a field of pricer.Trade (fields: id, underlying, type`) {
		t.Errorf("unknown key field: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "manifest.json")); err == nil {
		t.Error("a job with an unknown key field wrote a manifest")
	}
	for _, bad := range [][]string{
		{"--join-cell-encoding", "hex"},
		{"--join-message-format", "json"},
		{"--join-column", "spot"},
		{"--join-latest"},
	} {
		args := append([]string{"run", "--binary", "bin/pricer", "--input", "in.jsonl", "--output", out, "--join", "bigtable://p/i/bin", "--join-key", "{underlying}"}, bad...)
		if code, _, stderr := cli(args...); code != exitUsage {
			t.Errorf("%q: exit %d, want 2: %s", bad, code, stderr)
		}
	}
}
