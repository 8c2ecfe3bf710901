package binstage

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gridrun/gridrun/wrapper"
)

// UnsafeCacheError reports a cache that others could change under the
// runner: a directory that is group- or world-writable, or a cached
// binary that is a symbolic link. Nothing is executed from it.
type UnsafeCacheError struct {
	// Path is the directory or the cached file.
	Path string
	// Problem says what is wrong, Fix what to do about it.
	Problem, Fix string
}

func (e *UnsafeCacheError) Error() string {
	return fmt.Sprintf("binary cache %s: %s; %s", e.Path, e.Problem, e.Fix)
}

// checkCacheDir refuses a cache directory that a user other than the
// runner's could write: they could replace a binary between its check and
// its copy, or plant a link in it. The directories MkdirAll creates are
// 0755 at most, so only one that already existed can fail.
func checkCacheDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if mode := st.Mode(); mode.Perm()&0o022 != 0 {
		return &UnsafeCacheError{
			Path:    dir,
			Problem: fmt.Sprintf("the directory is group- or world-writable (mode %v), so another user could replace a binary in it", mode),
			Fix:     fmt.Sprintf("run chmod go-w %s, or pass --cache-dir (or set GRIDRUN_CACHE_DIR) naming a directory only you can write", dir),
		}
	}
	return nil
}

// refuseSymlink refuses a cache entry that is a symbolic link: a cached
// binary is a file this package wrote, and a link in its place was put
// there by someone else, to point it at bytes that may change.
func refuseSymlink(path string) error {
	st, err := os.Lstat(path)
	if err != nil || st.Mode()&fs.ModeSymlink == 0 {
		return nil
	}
	target, _ := os.Readlink(path)
	return &UnsafeCacheError{
		Path:    path,
		Problem: fmt.Sprintf("the cached binary is a symbolic link (to %s), which gridrun never runs", target),
		Fix:     fmt.Sprintf("remove it (rm %s), check who can write %s, and run again", path, filepath.Dir(path)),
	}
}

// Name is the binary's own name, without a directory or version: what ps
// shows for it. The cached copy is named by its hash.
func (s *Staged) Name() string {
	if r, err := parseRef(s.Source); err == nil {
		if r.versioned() {
			return r.name
		}
		if b := filepath.Base(r.file); b != "." && b != "/" && b != "" {
			return b
		}
	}
	return "binary"
}

// Open copies the staged bytes into a sealed Image and checks the copy's
// hash against s.SHA256: the bytes every call then runs, whatever happens
// to the cache afterwards. The caller closes the image when its last
// process has started.
func (s *Staged) Open() (*wrapper.Image, error) {
	if err := refuseSymlink(s.Path); err != nil {
		return nil, err
	}
	// OpenImage opens without following links: one planted after the
	// check above fails there.
	im, err := wrapper.OpenImage(s.Path, &wrapper.ImageOptions{Name: s.Name()})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Source, err)
	}
	if im.SHA256() != s.SHA256 {
		im.Close()
		// The cached copy changed since it was staged: both names say
		// which binary, and which file to look at.
		return nil, &MismatchError{Source: fmt.Sprintf("%s (cached copy %s)", s.Source, s.Path), Want: s.SHA256, Got: im.SHA256()}
	}
	return im, nil
}
