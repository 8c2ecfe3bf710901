package blob

import (
	"bufio"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gridrun/gridrun/internal/atomicfile"
)

// localDriver keeps objects as files under a directory, with the
// guarantees of Cloud Storage: files appear whole, and a write with
// IfNotExist never replaces one.
type localDriver struct {
	root string
	file bool // opened as a file:// URI, so named as one
}

var errIsDir = errors.New("is a directory")

func (d *localDriver) path(key string) string { return filepath.Join(d.root, filepath.FromSlash(key)) }

func (d *localDriver) uri(key string) string {
	if d.file {
		return "file://" + d.path(key)
	}
	return d.path(key)
}

func (d *localDriver) classify(err error) (ErrorCode, error) { return localCode(err), err }

func (d *localDriver) attributes(_ context.Context, key string) (*Attributes, error) {
	p := d.path(key)
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, &fs.PathError{Op: "stat", Path: p, Err: errIsDir}
	}
	return &Attributes{Size: st.Size(), ModTime: st.ModTime()}, nil
}

func (d *localDriver) newReader(_ context.Context, key string) (driverReader, error) {
	p := d.path(key)
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && st.IsDir() {
		err = &fs.PathError{Op: "open", Path: p, Err: errIsDir}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &localReader{f: f, n: st.Size()}, nil
}

// localReader reads an open file. It needs no pinning: every write
// replaces a file by a rename or a link, and an open file keeps the bytes
// it was opened with.
type localReader struct {
	f *os.File
	n int64
}

func (r *localReader) read(_ context.Context, p []byte) (int, error) { return r.f.Read(p) }
func (r *localReader) readAt(_ context.Context, p []byte, off int64) (int, error) {
	return r.f.ReadAt(p, off)
}
func (r *localReader) close() error { return r.f.Close() }
func (r *localReader) size() int64  { return r.n }

func (d *localDriver) write(ctx context.Context, key string, fill func(io.Writer) error, o WriteOptions) error {
	p := d.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	// A write whose context ends before it is complete is abandoned, as an
	// upload would be.
	fillDone := func(w io.Writer) error {
		if err := fillBuffered(w, fill); err != nil {
			return err
		}
		return ctx.Err()
	}
	if !o.IfNotExist {
		return atomicfile.Write(p, o.Mode, fillDone)
	}
	return linkNew(p, o.Mode, fillDone)
}

// linkNew writes a temporary file and links it to path. O_EXCL on path
// would refuse an existing file too, but would show readers a partial file
// while it is written; link(2) publishes a complete file or fails with
// EEXIST, atomically. The temporary name is atomicfile's, so that readers
// of a directory know it for one.
func linkNew(path string, mode os.FileMode, fill func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // the link, once made, keeps the file
	w := bufio.NewWriterSize(f, bufSize)
	err = fill(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(f.Name(), path); err != nil {
		return err
	}
	return atomicfile.SyncDir(dir)
}

func (d *localDriver) delete(_ context.Context, key string) error {
	if err := os.Remove(d.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (d *localDriver) list(ctx context.Context, prefix string) ([]string, error) {
	// Keys are listed by walking the deepest directory the prefix names.
	start := d.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = d.path(prefix[:i])
	}
	var keys []string
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) && start != d.root {
		return nil, nil // an empty prefix, as in a bucket
	}
	return keys, err
}

func (d *localDriver) close() error { return nil }
