package beamgrid

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/gridrun/gridrun/binstage"
)

// store is a directory of the output, local or in Cloud Storage (gs://).
// Its writes are atomic: a reader sees a whole file or none, and two
// attempts writing one name leave one of them, whole. Locally that is a
// temporary file renamed into place; in Cloud Storage it is what an upload
// is.
type store struct {
	root  string // a local directory, or gs://BUCKET/PREFIX
	local bool
	// bucket and prefix (without its slash) of a gs:// root.
	bucket, prefix string
}

func openStore(_ context.Context, root string) (*store, error) {
	if local, ok := localPath(root); ok {
		return &store{root: local, local: true}, nil
	}
	bucket, prefix, err := parseGS(strings.TrimSuffix(root, "/"))
	if err != nil {
		return nil, err
	}
	return &store{root: strings.TrimSuffix(root, "/"), bucket: bucket, prefix: prefix}, nil
}

// localPath returns the file path of a local URI (a path or file://).
func localPath(uri string) (string, bool) {
	if p, ok := strings.CutPrefix(uri, "file://"); ok {
		return p, true
	}
	return uri, !strings.Contains(uri, "://")
}

func parseGS(uri string) (bucket, object string, err error) {
	rest, ok := strings.CutPrefix(uri, "gs://")
	if !ok {
		scheme, _, _ := strings.Cut(uri, "://")
		return "", "", fmt.Errorf("%s: %s:// is not a file system gridrun knows (local paths, file:// and gs://)", uri, scheme)
	}
	bucket, object, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%s: no bucket", uri)
	}
	return bucket, object, nil
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

func (s *store) object(ctx context.Context, name string) (*storage.ObjectHandle, error) {
	c, err := gcs(ctx)
	if err != nil {
		return nil, err
	}
	key := name
	if s.prefix != "" {
		key = s.prefix + "/" + name
	}
	// Every write replaces a whole object with the same bytes on every
	// attempt, so retrying any of them is safe.
	return c.Bucket(s.bucket).Object(key).Retryer(storage.WithPolicy(storage.RetryAlways), storage.WithMaxAttempts(6)), nil
}

var (
	gcsMu     sync.Mutex
	gcsClient *storage.Client
)

// gcs returns the process's Cloud Storage client: one for every read and
// write, as connections are worth keeping. Reads go through the JSON API,
// as binstage's do: the client's default XML reads go to a host that
// emulators (STORAGE_EMULATOR_HOST) do not serve.
func gcs(ctx context.Context) (*storage.Client, error) {
	gcsMu.Lock()
	defer gcsMu.Unlock()
	if gcsClient != nil {
		return gcsClient, nil
	}
	c, err := storage.NewClient(context.WithoutCancel(ctx), storage.WithJSONReads())
	if err != nil {
		return nil, err
	}
	gcsClient = c
	return c, nil
}

func closeGCS() {
	gcsMu.Lock()
	defer gcsMu.Unlock()
	if gcsClient != nil {
		gcsClient.Close()
		gcsClient = nil
	}
}

type bufWriter = bufio.Writer

// write writes the file name through fill, atomically.
func (s *store) write(ctx context.Context, name string, fill func(*bufWriter) error) error {
	if s.local {
		return writeLocal(s.path(name), fill)
	}
	obj, err := s.object(ctx, name)
	if err != nil {
		return err
	}
	// An object appears when its upload completes; cancelling the context
	// abandons it, so a failed fill leaves no object.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wc := obj.NewWriter(wctx)
	w := bufio.NewWriterSize(wc, 256<<10)
	err = fill(w)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
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
	if s.local {
		if err := os.Remove(s.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	obj, err := s.object(ctx, name)
	if err != nil {
		return err
	}
	if err := obj.Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("remove %s: %w", s.path(name), err)
	}
	return nil
}

// read returns the file's bytes; a missing file is fs.ErrNotExist.
func (s *store) read(ctx context.Context, name string) ([]byte, error) {
	rc, err := openRead(ctx, s.path(name))
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
	prefix := s.prefix + "/"
	keys, err := listGS(ctx, s.bucket, prefix)
	for i, k := range keys {
		keys[i] = strings.TrimPrefix(k, prefix)
	}
	return keys, err
}

func listGS(ctx context.Context, bucket, prefix string) ([]string, error) {
	c, err := gcs(ctx)
	if err != nil {
		return nil, err
	}
	var keys []string
	it := c.Bucket(bucket).Objects(ctx, &storage.Query{Prefix: prefix})
	for {
		a, err := it.Next()
		if err == iterator.Done {
			return keys, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list gs://%s/%s: %w", bucket, prefix, err)
		}
		keys = append(keys, a.Name)
	}
}

// openRead opens an input: a local path or file:// URI, or a gs:// object.
// A missing file is fs.ErrNotExist.
func openRead(ctx context.Context, uri string) (io.ReadCloser, error) {
	if p, ok := localPath(uri); ok {
		return os.Open(p)
	}
	bucket, key, err := parseGS(uri)
	if err != nil {
		return nil, err
	}
	c, err := gcs(ctx)
	if err != nil {
		return nil, err
	}
	r, err := c.Bucket(bucket).Object(key).NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, &fs.PathError{Op: "open", Path: uri, Err: fs.ErrNotExist}
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", uri, err)
	}
	return r, nil
}

// expand resolves an input pattern into files: a glob of local paths, as
// the local engine does, or of gs:// objects, as binstage matches them.
func expand(ctx context.Context, pattern string) ([]string, error) {
	if p, ok := localPath(pattern); ok {
		if !strings.ContainsAny(p, "*?[") {
			return []string{p}, nil
		}
		return filepath.Glob(p)
	}
	if _, _, err := parseGS(pattern); err != nil {
		return nil, err
	}
	return binstage.Glob(ctx, pattern, nil)
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
	bucket, key, err := parseGS(uri)
	if err != nil {
		return 0, err
	}
	c, err := gcs(ctx)
	if err != nil {
		return 0, err
	}
	a, err := c.Bucket(bucket).Object(key).Attrs(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return 0, &fs.PathError{Op: "stat", Path: uri, Err: fs.ErrNotExist}
	}
	if err != nil {
		return 0, err
	}
	return a.Size, nil
}
