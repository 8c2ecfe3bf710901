package binstage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A cache directory other users can write is refused before anything is
// copied into it, with the command that fixes it.
func TestAWritableCacheDirIsRefused(t *testing.T) {
	t.Parallel()
	bin, _ := script(t, "local", "")
	for _, mode := range []os.FileMode{0o777, 0o775, 0o1777} {
		dir := filepath.Join(t.TempDir(), "cache")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		_, err := (&Cache{Dir: dir}).Stage(context.Background(), bin, nil)
		var ue *UnsafeCacheError
		if !errors.As(err, &ue) || ue.Path != dir || !strings.Contains(err.Error(), "chmod go-w "+dir) || !strings.Contains(err.Error(), "--cache-dir") {
			t.Fatalf("mode %v: err %v", mode, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("mode %v: %d entries written into a refused cache", mode, len(ents))
		}
	}
}

// A cached binary replaced by a symbolic link is refused, however it is
// staged: a local file with or without a pin, or a published version.
func TestASymlinkInTheCacheIsRefused(t *testing.T) {
	t.Parallel()
	e := setup(t)
	bin, sum, ref, s := stagePublished(t, e)
	// The link points at the very same bytes: only a target swapped later
	// would differ, and a link is refused before that can happen.
	elsewhere := filepath.Join(t.TempDir(), "pricer")
	if err := os.Rename(s.Path, elsewhere); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, s.Path); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ref, pin string
	}{{ref, ""}, {bin, sum}, {bin, ""}} {
		_, err := e.cache.Stage(context.Background(), c.ref, e.opts(c.pin))
		var ue *UnsafeCacheError
		if !errors.As(err, &ue) || ue.Path != s.Path || !strings.Contains(err.Error(), "symbolic link") || !strings.Contains(err.Error(), "rm "+s.Path) {
			t.Fatalf("%s pin %q: err %v", c.ref, c.pin, err)
		}
	}
	if _, err := s.Open(); err == nil {
		t.Fatal("Open of a symlinked cache entry succeeded")
	}
}

// Open hashes the bytes it sealed: a cached copy changed since Stage is a
// mismatch, and the image is named after the binary, not its hash.
func TestOpenChecksTheSealedBytes(t *testing.T) {
	t.Parallel()
	bin, sum := script(t, "local", "")
	s, err := (&Cache{Dir: t.TempDir()}).Stage(context.Background(), bin, nil)
	if err != nil {
		t.Fatal(err)
	}
	im, err := s.Open()
	if err != nil {
		t.Fatal(err)
	}
	if im.SHA256() != sum || im.Name() != "pricer" {
		t.Fatalf("image %s %s, want %s pricer", im.SHA256(), im.Name(), sum)
	}
	im.Close()

	if err := os.Chmod(s.Path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path, []byte("#!/bin/sh\necho other\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	var mm *MismatchError
	if _, err := s.Open(); !errors.As(err, &mm) || mm.Want != sum {
		t.Fatalf("Open of changed bytes: %v", err)
	}
}

func TestStagedName(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]string{
		"bin/pricer":                    "pricer",
		"/abs/bin/pricer-v2":            "pricer-v2",
		"file://bin/pricer":             "pricer",
		"gs://b/bins/pricer@1.4.2":      "pricer",
		"file:///srv/bins/faulty@0.1.0": "faulty",
	} {
		if got := (&Staged{Source: src}).Name(); got != want {
			t.Errorf("%s: name %q, want %q", src, got, want)
		}
	}
}
