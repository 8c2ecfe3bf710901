package beamgrid

import (
	"bufio"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	// Local paths and gs:// URIs, for inputs, outputs and logs.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
)

// store is a directory of the output: local, or any scheme Beam's
// filesystem package knows (gs://). Its writes are atomic: a reader sees a
// whole file or none, and two attempts writing one name leave one of them,
// whole. Locally that is a temporary file renamed into place; in an object
// store it is what an upload is.
type store struct {
	root  string
	local bool
}

func openStore(_ context.Context, root string) (*store, error) {
	if local, ok := localPath(root); ok {
		return &store{root: local, local: true}, nil
	}
	return &store{root: strings.TrimSuffix(root, "/")}, nil
}

// localPath returns the file path of a local URI (a path or file://).
func localPath(uri string) (string, bool) {
	if p, ok := strings.CutPrefix(uri, "file://"); ok {
		return p, true
	}
	return uri, !strings.Contains(uri, "://")
}

func joinPath(dir, name string) string {
	if _, ok := localPath(dir); ok {
		return filepath.Join(dir, name)
	}
	return strings.TrimSuffix(dir, "/") + "/" + name
}

func (s *store) path(name string) string {
	if s.local {
		return filepath.Join(s.root, filepath.FromSlash(name))
	}
	return s.root + "/" + name
}

type bufWriter = bufio.Writer

// write writes the file name through fill, atomically.
func (s *store) write(ctx context.Context, name string, fill func(*bufWriter) error) error {
	dst := s.path(name)
	if s.local {
		return writeLocal(dst, fill)
	}
	fsys, err := filesystem.New(ctx, dst)
	if err != nil {
		return err
	}
	defer fsys.Close()
	// An object appears when its upload completes; cancelling the context
	// abandons it, so a failed fill leaves no object.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wc, err := fsys.OpenWrite(wctx, dst)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(wc, 256<<10)
	if err := fill(w); err != nil {
		cancel()
		wc.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		cancel()
		wc.Close()
		return err
	}
	return wc.Close()
}

func writeLocal(dst string, fill func(*bufWriter) error) (err error) {
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// A name of its own per attempt: two attempts at one file (a retry
	// and a straggler of the first) never write into each other.
	f, err := os.CreateTemp(dir, filepath.Base(dst)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 256<<10)
	if err := fill(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// remove deletes the file name if it exists.
func (s *store) remove(ctx context.Context, name string) error {
	p := s.path(name)
	if s.local {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	fsys, err := filesystem.New(ctx, p)
	if err != nil {
		return err
	}
	defer fsys.Close()
	found, err := fsys.List(ctx, p)
	if err != nil || len(found) == 0 {
		return err
	}
	r, ok := fsys.(filesystem.Remover)
	if !ok {
		return errors.New(p + ": the file system cannot remove files")
	}
	return r.Remove(ctx, p)
}

// read returns the file's bytes; a missing file is fs.ErrNotExist.
func (s *store) read(ctx context.Context, name string) ([]byte, error) {
	p := s.path(name)
	if s.local {
		return os.ReadFile(p)
	}
	fsys, err := filesystem.New(ctx, p)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	found, err := fsys.List(ctx, p)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, &fs.PathError{Op: "read", Path: p, Err: fs.ErrNotExist}
	}
	rc, err := fsys.OpenRead(ctx, p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// list returns the names under the store, relative to it, at any depth.
func (s *store) list(ctx context.Context) ([]string, error) {
	if s.local {
		var names []string
		err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && p == s.root {
					return fs.SkipAll
				}
				return err
			}
			if !d.IsDir() {
				rel, _ := filepath.Rel(s.root, p)
				names = append(names, filepath.ToSlash(rel))
			}
			return nil
		})
		return names, err
	}
	fsys, err := filesystem.New(ctx, s.root)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	found, err := fsys.List(ctx, s.root+"/**")
	if err != nil {
		return nil, err
	}
	names := make([]string, len(found))
	for i, f := range found {
		names[i] = strings.TrimPrefix(f, s.root+"/")
	}
	return names, nil
}

// openRead opens an input: a local path or file:// URI, or a URI of a
// Beam file system.
func openRead(ctx context.Context, uri string) (io.ReadCloser, error) {
	if p, ok := localPath(uri); ok {
		return os.Open(p)
	}
	fsys, err := filesystem.New(ctx, uri)
	if err != nil {
		return nil, err
	}
	rc, err := fsys.OpenRead(ctx, uri)
	if err != nil {
		fsys.Close()
		return nil, err
	}
	return closeBoth{rc, fsys}, nil
}

type closeBoth struct {
	io.ReadCloser
	fsys io.Closer
}

func (c closeBoth) Close() error {
	err := c.ReadCloser.Close()
	c.fsys.Close()
	return err
}

// expand resolves an input pattern into files: a glob of local paths, as
// the local engine does, or of a Beam file system.
func expand(ctx context.Context, pattern string) ([]string, error) {
	if p, ok := localPath(pattern); ok {
		if !strings.ContainsAny(p, "*?[") {
			return []string{p}, nil
		}
		return filepath.Glob(p)
	}
	fsys, err := filesystem.New(ctx, pattern)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	return fsys.List(ctx, pattern)
}

// size returns an input's size in bytes.
func size(ctx context.Context, uri string) (int64, error) {
	if p, ok := localPath(uri); ok {
		st, err := os.Stat(p)
		if err != nil {
			return 0, err
		}
		if st.IsDir() {
			return 0, errors.New("is a directory")
		}
		return st.Size(), nil
	}
	fsys, err := filesystem.New(ctx, uri)
	if err != nil {
		return 0, err
	}
	defer fsys.Close()
	return fsys.Size(ctx, uri)
}
