package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"

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
