package binstage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"go.uber.org/goleak"
	"google.golang.org/api/option"

	"github.com/gridrun/gridrun/internal/fakegcs"
)

// The test binary doubles as the other processes of the cross-process
// tests, as os/exec's own tests do: with BINSTAGE_HELPER set it stages a
// binary and runs it instead of running tests.
func TestMain(m *testing.M) {
	if os.Getenv("BINSTAGE_HELPER") != "" {
		os.Exit(helper())
	}
	goleak.VerifyTestMain(m,
		// Started once by an init function of a storage client dependency.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// helper waits for its stdin to close (so that all helpers start staging
// at once), stages $REF into $CACHE with the default client, which finds
// the fake through STORAGE_EMULATOR_HOST, and prints the binary's output.
func helper() int {
	io.Copy(io.Discard, os.Stdin)
	s, err := Stage(context.Background(), os.Getenv("REF"), &Options{CacheDir: os.Getenv("CACHE")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out, err := exec.Command(s.Path, "helper").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Stdout.Write(out)
	return 0
}

const bucket = "bins"

// env is one test's world: a fake Cloud Storage with a bucket, and a
// cache directory.
type env struct {
	gcs   *fakegcs.Server
	cache *Cache
	store StoreOptions
}

func setup(t *testing.T) *env {
	t.Helper()
	gcs := fakegcs.Start(t, bucket)
	return &env{
		gcs:   gcs,
		cache: &Cache{Dir: filepath.Join(t.TempDir(), "cache")},
		store: StoreOptions{Client: gcs.Client(t), Backoff: time.Millisecond},
	}
}

func (e *env) opts(sha string) *Options { return &Options{SHA256: sha, Store: e.store} }

// script writes an executable shell script that prints its text and its
// arguments; a test tells versions apart by their text. With marker set,
// running it creates that file.
func script(t *testing.T, text, marker string) (path, sum string) {
	t.Helper()
	body := fmt.Sprintf("#!/bin/sh\necho %s \"$@\"\n", text)
	if marker != "" {
		body += fmt.Sprintf("touch %q\n", marker)
	}
	path = filepath.Join(t.TempDir(), "pricer")
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(body))
	return path, hex.EncodeToString(h[:])
}

// run executes a staged binary and returns its output.
func run(t *testing.T, s *Staged) string {
	t.Helper()
	out, err := exec.Command(s.Path, "x").Output()
	if err != nil {
		t.Fatalf("running %s: %v", s.Path, err)
	}
	return strings.TrimSpace(string(out))
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// clientFor returns a client of an endpoint at addr that is no storage
// server, for tests of unreachable endpoints.
func clientFor(t *testing.T, addr string) *storage.Client {
	t.Helper()
	c, err := storage.NewClient(context.Background(), option.WithEndpoint("http://"+addr+"/storage/v1/"),
		option.WithoutAuthentication(), storage.WithJSONReads())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
