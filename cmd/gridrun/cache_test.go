package main_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/binstage"
	"github.com/gridrun/gridrun/internal/testbin"
)

// A binary cache another user could write into is a configuration error:
// exit 2 with what to do, before any subprocess runs.
func TestAnUnsafeCacheExitsTwo(t *testing.T) {
	t.Parallel()
	pricer := testbin.Path(t, "pricer")
	for name, prepare := range map[string]func(t *testing.T, cache string) string{
		"world-writable directory": func(t *testing.T, cache string) string {
			if err := os.Chmod(cache, 0o777); err != nil {
				t.Fatal(err)
			}
			return "is group- or world-writable (mode drwxrwxrwx), so another user could replace a binary in it; run chmod go-w " + cache
		},
		"symlinked binary": func(t *testing.T, cache string) string {
			s, err := binstage.Stage(context.Background(), pricer, &binstage.Options{CacheDir: cache})
			if err != nil {
				t.Fatal(err)
			}
			elsewhere := filepath.Join(t.TempDir(), "pricer")
			if err := os.Rename(s.Path, elsewhere); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(elsewhere, s.Path); err != nil {
				t.Fatal(err)
			}
			return s.Path + ": the cached binary is a symbolic link (to " + elsewhere + "), which gridrun never runs; remove it (rm " + s.Path + ")"
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cache := t.TempDir()
			want := prepare(t, cache)
			out := filepath.Join(t.TempDir(), "out")
			code, stdout, stderr := gridrun(t, "run", "--binary", pricer, "--cache-dir", cache,
				"--join", "testdata/quotes.csv", "--join-key", "{underlying}",
				"--input", "testdata/trades.jsonl", "--output", out)
			if code != 2 || !strings.Contains(stderr, want) {
				t.Fatalf("exit %d, want 2 with %q\nstdout: %s\nstderr: %s", code, want, stdout, stderr)
			}
			if _, err := os.Stat(filepath.Join(out, "results-00000.jsonl")); err == nil {
				t.Fatal("the refused job wrote results")
			}
		})
	}
}
