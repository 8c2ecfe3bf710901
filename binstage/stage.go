package binstage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Options configure staging. The zero value is usable.
type Options struct {
	// CacheDir holds staged binaries by hash. Defaults to $GRIDRUN_CACHE_DIR,
	// else gridrun/bin under the user's cache directory.
	CacheDir string
	// SHA256 pins the expected hash (hex). Empty trusts the source, which
	// for a published version is its manifest's hash.
	SHA256 string
}

// Staged is a binary ready to run.
type Staged struct {
	// Path is the verified copy in the cache; run this, never Source.
	Path string `json:"cache_path"`
	// Source is where the binary came from, as given.
	Source string `json:"uri"`
	// SHA256 is the hex hash of the bytes at Path.
	SHA256 string `json:"sha256"`
	// Version is the published version, when the source has one.
	Version string `json:"version,omitempty"`
	Size    int64  `json:"size"`
}

// MismatchError reports bytes whose hash is not the expected one. Such a
// binary is never executed.
type MismatchError struct {
	Source    string
	Want, Got string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s: sha256 is %s, expected %s; refusing to run it", e.Source, e.Got, e.Want)
}

// Stage makes the binary at ref runnable and returns where it is. ref is a
// local path or a file:// URI.
func Stage(ctx context.Context, ref string, opts *Options) (*Staged, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	want, err := normalizeHash(o.SHA256)
	if err != nil {
		return nil, err
	}
	dir, err := cacheDir(o.CacheDir)
	if err != nil {
		return nil, err
	}
	path := strings.TrimPrefix(ref, "file://")
	src, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("binary %s: %w", ref, err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return nil, fmt.Errorf("binary %s: %w", ref, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("binary %s: not a regular file", ref)
	}
	if st.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("binary %s: not executable (mode %v); chmod +x it", ref, st.Mode().Perm())
	}
	staged, err := install(ctx, dir, src, want, ref)
	if err != nil {
		return nil, err
	}
	staged.Source = ref
	return staged, nil
}

// install copies r into the cache while hashing it, and checks the hash
// before the copy becomes visible under its final name.
func install(ctx context.Context, dir string, r io.Reader, want, source string) (*Staged, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if want != "" {
		if s, err := verifyCached(dir, want); err == nil {
			return s, nil
		}
	}
	tmp, err := os.CreateTemp(dir, ".incoming-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), contextReader{ctx, r})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("binary %s: copy into cache: %w", source, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if want != "" && got != want {
		return nil, &MismatchError{Source: source, Want: want, Got: got}
	}
	if err := os.Chmod(tmp.Name(), 0o500); err != nil {
		return nil, err
	}
	final := filepath.Join(dir, got)
	// Rename wins races: concurrent stagings of the same bytes write the
	// same content under the same name.
	if err := os.Rename(tmp.Name(), final); err != nil {
		return nil, err
	}
	return &Staged{Path: final, SHA256: got, Size: n}, nil
}

// verifyCached returns the cached copy of hash after re-hashing it; a copy
// that no longer matches is removed.
func verifyCached(dir, hash string) (*Staged, error) {
	path := filepath.Join(dir, hash)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash {
		os.Remove(path)
		return nil, &MismatchError{Source: path, Want: hash, Got: got}
	}
	return &Staged{Path: path, SHA256: hash, Size: n}, nil
}

func normalizeHash(s string) (string, error) {
	s = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "sha256:"))
	if s == "" {
		return "", nil
	}
	if b, err := hex.DecodeString(s); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("sha256 %q: want 64 hex digits", s)
	}
	return s, nil
}

func cacheDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	if d := os.Getenv("GRIDRUN_CACHE_DIR"); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", errors.New("no cache directory: set --cache-dir or GRIDRUN_CACHE_DIR")
	}
	return filepath.Join(base, "gridrun", "bin"), nil
}

// contextReader stops a long copy when ctx is cancelled.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
