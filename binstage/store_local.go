package binstage

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gridrun/gridrun/internal/ctxio"
)

// localStore publishes into a directory, for machines and tests without
// Cloud Storage. It keeps the guarantees of the Cloud Storage store:
// objects appear whole, and none is ever replaced.
type localStore struct {
	root string
}

func (s *localStore) path(key string) string { return filepath.Join(s.root, filepath.FromSlash(key)) }

func (s *localStore) uri(key string) string { return "file://" + s.path(key) }

func (s *localStore) stat(ctx context.Context, key string) (int64, error) {
	st, err := os.Stat(s.path(key))
	if err != nil {
		return 0, s.error(ctx, key, err)
	}
	return st.Size(), nil
}

func (s *localStore) read(ctx context.Context, key string) (io.ReadCloser, error) {
	f, err := os.Open(s.path(key))
	if err != nil {
		return nil, s.error(ctx, key, err)
	}
	return f, nil
}

// create writes a temporary file and hard-links it to its name. O_EXCL
// on the final name would refuse overwrites too, but would show readers
// a partial object while it is written; link(2) publishes a complete file
// or fails with EEXIST, atomically.
func (s *localStore) create(ctx context.Context, key string, r io.Reader) error {
	final := s.path(key)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return s.error(ctx, key, err)
	}
	tmp, err := os.CreateTemp(dir, ".push-*")
	if err != nil {
		return s.error(ctx, key, err)
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, ctxio.Reader(ctx, r))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Published objects are read-only: a version is immutable.
		err = os.Chmod(tmp.Name(), 0o444)
	}
	if err == nil {
		err = os.Link(tmp.Name(), final)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return s.error(ctx, key, err)
	}
	return nil
}

func (s *localStore) list(ctx context.Context, prefix string) ([]string, error) {
	// Keys are listed by walking the deepest directory the prefix names.
	start := s.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = s.path(prefix[:i])
	}
	var keys []string
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(s.root, p)
			if err != nil {
				return err
			}
			if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
				keys = append(keys, key)
			}
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) && start != s.root {
		return nil, nil // an empty prefix, as in a bucket
	}
	if err != nil {
		return nil, s.error(ctx, prefix, err)
	}
	return keys, nil
}

func (s *localStore) close() error { return nil }

func (s *localStore) error(ctx context.Context, key string, err error) error {
	code := Unknown
	switch {
	case errors.Is(err, fs.ErrNotExist):
		code = NotFound
	case errors.Is(err, fs.ErrExist):
		code = AlreadyExists
	case errors.Is(err, fs.ErrPermission):
		code = PermissionDenied
	}
	return storeError(ctx, s.uri(key), code, err)
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
