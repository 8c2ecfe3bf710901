package binstage

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sync/singleflight"

	"github.com/gridrun/gridrun/internal/atomicfile"
	"github.com/gridrun/gridrun/internal/blob"
	"github.com/gridrun/gridrun/internal/ctxio"
)

// Options configure staging. The zero value is usable.
type Options struct {
	// CacheDir holds staged binaries by hash. Defaults to $GRIDRUN_CACHE_DIR,
	// else gridrun/bin under the user's cache directory. Used by Stage; a
	// Cache stages into its own Dir.
	CacheDir string
	// SHA256 pins the expected hash (hex). Empty trusts the source, which
	// for a published version is its manifest's hash. A pin that differs
	// from the manifest's is refused before any bytes are fetched.
	SHA256 string
	// Store configures access to where versions are published.
	Store StoreOptions
}

// Staged is a binary ready to run.
type Staged struct {
	// Path is the verified copy in the cache; run this, never Source.
	Path string `json:"cache_path"`
	// Source is where the binary came from: the path as given, or the
	// canonical URI of a published version (gs://b/bins/pricer@1.4.2).
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
	// Manifest reports that the caller's pin (Want) differs from the hash
	// the published manifest names (Got); nothing was fetched.
	Manifest bool
}

func (e *MismatchError) Error() string {
	if e.Manifest {
		return fmt.Sprintf("%s: sha256 pinned to %s, but the published manifest says %s; refusing to run it", e.Source, e.Want, e.Got)
	}
	return fmt.Sprintf("%s: sha256 is %s, expected %s; refusing to run it", e.Source, e.Got, e.Want)
}

// Stage makes the binary at ref runnable and returns where it is. ref is
// a local path, a file:// URI, or a published version:
// gs://BUCKET/PATH/NAME@VERSION or file:///DIR/NAME@VERSION. Stage is
// (&Cache{Dir: opts.CacheDir}).Stage; callers that stage concurrently
// should share a Cache.
func Stage(ctx context.Context, ref string, opts *Options) (*Staged, error) {
	var dir string
	if opts != nil {
		dir = opts.CacheDir
	}
	return (&Cache{Dir: dir}).Stage(ctx, ref, opts)
}

// Cache is a per-machine directory of binaries named by their SHA-256,
// each verified again whenever it is staged. The zero value uses the
// default directory. A Cache is safe for concurrent use: Stage calls on
// one Cache that need the same bytes fetch them once, and processes
// sharing the directory wait for one another's fetch instead of
// repeating it.
type Cache struct {
	// Dir defaults to $GRIDRUN_CACHE_DIR, else gridrun/bin under the
	// user's cache directory.
	Dir string

	group singleflight.Group
}

// Stage is the package's Stage, in c; opts.CacheDir is not used.
func (c *Cache) Stage(ctx context.Context, ref string, opts *Options) (*Staged, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	want, err := normalizeHash(o.SHA256)
	if err != nil {
		return nil, err
	}
	r, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	dir, err := cacheDir(c.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := checkCacheDir(dir); err != nil {
		return nil, err
	}
	if r.versioned() {
		return c.stageVersion(ctx, dir, r, want, &o.Store)
	}
	if r.scheme == "gs" {
		return nil, &RefError{Ref: ref, Reason: "name a published version: " + ref + "@VERSION"}
	}
	return stageFile(ctx, dir, r, want)
}

// stageFile copies a local file into the cache. Concurrent stagings of
// one file need no lock: they write the same bytes under the same name,
// and whichever rename comes last wins.
func stageFile(ctx context.Context, dir string, r ref, want string) (*Staged, error) {
	src, err := openExecutable(r.file, r.raw)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && r.scheme == "" && strings.Contains(r.file, "@") {
			return nil, fmt.Errorf("%w (a version published in a local directory is addressed as file:///DIR/NAME@VERSION)", err)
		}
		return nil, err
	}
	defer src.Close()
	if want != "" {
		s, err := verify(filepath.Join(dir, want), want)
		if err == nil {
			s.Source = r.raw
			return s, nil
		}
		if unsafe := (*UnsafeCacheError)(nil); errors.As(err, &unsafe) {
			return nil, err
		}
	}
	s, err := install(ctx, dir, src, want, r.raw)
	if err != nil {
		return nil, err
	}
	s.Source = r.raw
	return s, nil
}

// openExecutable opens path, a regular file with an execute bit, named
// name in errors. The caller closes the file.
func openExecutable(path, name string) (*os.File, error) {
	return openExecutableFlag(path, name, 0)
}

// openExecutableFlag is openExecutable with extra open flags.
func openExecutableFlag(path, name string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|flag, 0)
	if err != nil {
		return nil, fmt.Errorf("binary %s: %w", name, err)
	}
	st, err := f.Stat()
	switch {
	case err != nil:
		err = fmt.Errorf("binary %s: %w", name, err)
	case !st.Mode().IsRegular():
		err = fmt.Errorf("binary %s: not a regular file", name)
	case st.Mode().Perm()&0o111 == 0:
		err = fmt.Errorf("binary %s: not executable (mode %v); chmod +x it", name, st.Mode().Perm())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// stageVersion stages a published version: the manifest says which bytes,
// the cache holds them once.
func (c *Cache) stageVersion(ctx context.Context, dir string, r ref, want string, so *StoreOptions) (*Staged, error) {
	st, err := openStore(ctx, r, so)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var m *Manifest
	err = bounded(ctx, so, st.URI(r.manifestKey()), func(ctx context.Context) error {
		m, err = readManifest(ctx, st, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	if want != "" && want != m.SHA256 {
		return nil, &MismatchError{Source: r.String(), Want: want, Got: m.SHA256, Manifest: true}
	}
	if host := hostPlatform(); m.Platform != "" && m.Platform != host {
		return nil, fmt.Errorf("%s: built for %s, and this machine is %s", r, m.Platform, host)
	}
	for {
		v, err, _ := c.group.Do(m.SHA256, func() (any, error) {
			return fetch(ctx, dir, st, r, m.SHA256)
		})
		// A fetch shared with a caller whose context ended fails with
		// that context's error; this caller's own context may still be
		// live, so it tries again, as the new leader if need be.
		if (err == context.Canceled || err == context.DeadlineExceeded) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return nil, err
		}
		s := *v.(*Staged)
		s.Source, s.Version = r.String(), r.version
		return &s, nil
	}
}

// fetch puts the bytes of r with the given hash into dir, once per
// machine. Processes coordinate through a lock file per hash: renaming
// complete files into place would be safe without it, but every process
// would download the binary; with it, the others wait and then find the
// file. flock(2) is released by the kernel when its holder dies, so a
// crashed fetch never wedges the cache, as a lock file made with O_EXCL
// would.
func fetch(ctx context.Context, dir string, st *blob.Bucket, r ref, hash string) (s *Staged, err error) {
	defer func() {
		// The callers sharing this fetch tell their own context's end
		// from this one's by this exact value.
		if err != nil && ctx.Err() != nil {
			s, err = nil, ctx.Err()
		}
	}()
	path := filepath.Join(dir, hash)
	// A verified copy needs no lock. A copy that fails verification is
	// only removed under the lock, where no other process is renaming a
	// good one into its place.
	if s, err := verify(path, hash); err == nil {
		return s, nil
	}
	unlock, err := lock(ctx, filepath.Join(dir, ".lock-"+hash))
	if err != nil {
		return nil, err
	}
	defer unlock()
	// A mismatch is retried once: the cached copy may be corrupt (it is
	// removed and fetched again), or the download may be. A second
	// mismatch means the published bytes are not the manifest's.
	var mismatch error
	for range 2 {
		s, err := verify(path, hash)
		if err == nil {
			return s, nil
		}
		if unsafe := (*UnsafeCacheError)(nil); errors.As(err, &unsafe) {
			return nil, err
		}
		if !errors.Is(err, fs.ErrNotExist) {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
		rc, err := st.NewReader(ctx, r.binaryKey())
		if err != nil {
			return nil, err
		}
		s, err = install(ctx, dir, rc, hash, st.URI(r.binaryKey()))
		rc.Close()
		var mm *MismatchError
		if !errors.As(err, &mm) {
			return s, err
		}
		mismatch = err
	}
	return nil, mismatch
}

// install copies r into the cache while hashing it, and checks the hash
// before the copy becomes visible under its final name.
func install(ctx context.Context, dir string, r io.Reader, want, source string) (*Staged, error) {
	tmp, err := os.CreateTemp(dir, ".incoming-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), ctxio.Reader(ctx, r))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("binary %s: copy into cache: %w", source, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if want != "" && got != want {
		return nil, &MismatchError{Source: source, Want: want, Got: got}
	}
	sealed, err := sealedCopy(dir, tmp.Name())
	if err != nil {
		return nil, err
	}
	defer os.Remove(sealed) // no-op after the rename
	final := filepath.Join(dir, got)
	if err := refuseSymlink(final); err != nil {
		return nil, err
	}
	if err := os.Rename(sealed, final); err != nil {
		return nil, err
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return nil, err
	}
	return &Staged{Path: final, SHA256: got, Size: n}, nil
}

// sealedCopy copies the file at src to a new file in dir, mode 0500, that
// no process has ever held open for writing but this one, and returns its
// name. Exec of a file that some process holds open for writing fails with
// ETXTBSY, and a child forked by another goroutine inherits the
// descriptors open at the fork until it execs (golang.org/issue/22315).
// The download itself may be slow, so it goes to src unguarded; the copy,
// fast from the page cache, is written while forks wait for
// syscall.ForkLock.
func sealedCopy(dir, src string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	syscall.ForkLock.RLock()
	out, err := os.CreateTemp(dir, ".sealed-*")
	if err != nil {
		syscall.ForkLock.RUnlock()
		return "", err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	syscall.ForkLock.RUnlock()
	if err == nil {
		err = os.Chmod(out.Name(), 0o500)
	}
	if err == nil {
		err = syncFile(out.Name())
	}
	if err != nil {
		os.Remove(out.Name())
		return "", err
	}
	return out.Name(), nil
}

// syncFile flushes a file through a read-only descriptor, which is all
// fsync(2) needs.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// verify hashes the cached copy at path. A copy that is not executable
// counts as corrupt: the runner could not run it.
func verify(path, hash string) (*Staged, error) {
	if err := refuseSymlink(path); err != nil {
		return nil, err
	}
	// O_NOFOLLOW: a link planted after the check above fails to open.
	f, err := openExecutableFlag(path, path, syscall.O_NOFOLLOW)
	if errors.Is(err, syscall.ELOOP) {
		err = refuseSymlink(path)
	}
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

// cacheDir resolves the cache directory to an absolute path: staged paths
// are run from other working directories.
func cacheDir(dir string) (string, error) {
	dir = cmp.Or(dir, os.Getenv("GRIDRUN_CACHE_DIR"))
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", errors.New("no cache directory: set --cache-dir or GRIDRUN_CACHE_DIR")
		}
		dir = filepath.Join(base, "gridrun", "bin")
	}
	return filepath.Abs(dir)
}

func hostPlatform() string { return runtime.GOOS + "/" + runtime.GOARCH }
