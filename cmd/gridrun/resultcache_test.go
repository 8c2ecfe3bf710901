package main_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// The result cache through the CLI: the summary says where the elements
// came from, and `gridrun cache` sizes and prunes the cache.
func TestResultCacheFromTheCommandLine(t *testing.T) {
	t.Parallel()
	cache := filepath.Join(t.TempDir(), "cache")
	job := func(out string, more ...string) []string {
		return append([]string{"run", "--binary", "bin/pricer", "--input", "testdata/trades.jsonl",
			"--join", "testdata/quotes.csv", "--join-key", "{underlying}", "--fixed-batch-size",
			"--output", out, "--result-cache", cache}, more...)
	}
	code, stdout, stderr := gridrun(t, job(filepath.Join(t.TempDir(), "first"))...)
	if code != 0 || !strings.Contains(stdout+stderr, "0 hits, 1000 misses, 0 reads for 10 batches, 1000 stored") {
		t.Fatalf("first run: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = gridrun(t, job(filepath.Join(t.TempDir(), "second"), "--result-cache-mode", "read")...)
	if code != 0 || !strings.Contains(stdout+stderr, "0 subprocess calls") ||
		!strings.Contains(stdout+stderr, "result cache "+cache+" (read): 1000 hits, 0 misses, 10 reads for 10 batches, 0 stored") {
		t.Fatalf("second run: exit %d\n%s%s", code, stdout, stderr)
	}

	code, stdout, stderr = gridrun(t, "cache", "stats", cache)
	if code != 0 || !strings.Contains(stdout, "1000 entries in 10 packs") || !strings.Contains(stdout, "oldest ") {
		t.Fatalf("cache stats: exit %d\n%s%s", code, stdout, stderr)
	}
	// Nothing is older than an hour ago; everything is older than now.
	code, stdout, stderr = gridrun(t, "cache", "prune", cache, "--older-than", "1h")
	if code != 0 || !strings.Contains(stdout, "removed 0 packs") {
		t.Fatalf("cache prune 1h: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = gridrun(t, "cache", "prune", cache, "--older-than", "0s")
	if code != 0 || !strings.Contains(stdout, "removed 10 packs") {
		t.Fatalf("cache prune 0s: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = gridrun(t, "cache", "stats", cache)
	if code != 0 || !strings.Contains(stdout, "0 entries in 0 packs") {
		t.Fatalf("cache stats after prune: exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestResultCacheMistakesExitTwo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cache", "prune", t.TempDir(), "--older-than", "last week"}, `--older-than "last week": want an RFC 3339 time`},
		{[]string{"run", "--binary", "bin/pricer", "--input", "testdata/trades.jsonl", "--output", filepath.Join(t.TempDir(), "out"),
			"--result-cache-mode", "read"}, "a result cache mode (read) needs a result cache"},
		{[]string{"run", "--binary", "bin/pricer", "--input", "testdata/trades.jsonl", "--output", filepath.Join(t.TempDir(), "out"),
			"--result-cache", t.TempDir(), "--result-cache-mode", "rw"}, "want read, write or readwrite"},
	} {
		code, stdout, stderr := gridrun(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q\n%s%s", tc.args, code, tc.want, stdout, stderr)
		}
	}
}
