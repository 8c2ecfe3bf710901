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
	"sync"
	"time"

	"cloud.google.com/go/storage"

	"github.com/gridrun/gridrun/internal/blob"
)

// store is a directory of the output, local or in Cloud Storage (gs://):
// a blob.Bucket, whose writes are atomic: a reader sees a whole file or
// none, and two attempts writing one name leave one of them, whole.
type store struct {
	b     *blob.Bucket
	local bool
}

func openStore(ctx context.Context, root string) (*store, error) {
	// A local root is opened as a path, so that files are named by their
	// paths in messages and in dead letters.
	if blob.IsLocal(root) {
		root = strings.TrimPrefix(root, "file://")
	}
	opts, err := storeOptions(ctx, root)
	if err != nil {
		return nil, err
	}
	b, err := blob.OpenBucket(ctx, strings.TrimSuffix(root, "/"), opts)
	if err != nil {
		return nil, err
	}
	return &store{b: b, local: blob.IsLocal(root)}, nil
}

// storeOptions are the options of every bucket, file and pattern the
// pipeline reads or writes: the process's client, and retries of any
// request, writes included, as every write replaces a whole object with
// the same bytes on every attempt. Requests are bounded by the bundle's
// context alone, as a worker has no one to report a timeout to sooner.
func storeOptions(ctx context.Context, uri string) (*blob.Options, error) {
	o := &blob.Options{Retry: storage.RetryAlways, Attempts: 6, Backoff: time.Second, Timeout: -1}
	if !strings.HasPrefix(uri, "gs://") {
		return o, nil // blob refuses a scheme it does not know
	}
	c, err := gcs(ctx)
	if err != nil {
		return nil, err
	}
	o.Client = c
	return o, nil
}

var (
	gcsMu sync.Mutex
	// gcsClients holds the process's Cloud Storage client: one for every
	// read and write, as connections are worth keeping. It is keyed by
	// STORAGE_EMULATOR_HOST, so that a process that runs pipelines against
	// several emulators (tests, one each) reaches the one it names.
	gcsClients = map[string]*storage.Client{}
)

func gcs(ctx context.Context) (*storage.Client, error) {
	host := os.Getenv("STORAGE_EMULATOR_HOST")
	gcsMu.Lock()
	defer gcsMu.Unlock()
	if c := gcsClients[host]; c != nil {
		return c, nil
	}
	c, err := blob.NewClient(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	gcsClients[host] = c
	return c, nil
}

func closeGCS() {
	gcsMu.Lock()
	defer gcsMu.Unlock()
	for host, c := range gcsClients {
		c.Close()
		delete(gcsClients, host)
	}
}

func joinPath(dir, name string) string {
	if blob.IsLocal(dir) {
		return filepath.Join(dir, name)
	}
	return strings.TrimSuffix(dir, "/") + "/" + name
}

// path names the file name in messages: a local path, or a gs:// URI.
func (s *store) path(name string) string { return s.b.URI(name) }

type bufWriter = bufio.Writer

// write writes the file name through fill, atomically.
func (s *store) write(ctx context.Context, name string, fill func(*bufWriter) error) error {
	return s.b.Write(ctx, name, func(w io.Writer) error {
		// The bucket's own buffer, given back as it is when its size
		// is this one.
		bw := bufio.NewWriterSize(w, 256<<10)
		if err := fill(bw); err != nil {
			return err
		}
		return bw.Flush()
	}, nil)
}

// remove deletes the file name if it exists.
func (s *store) remove(ctx context.Context, name string) error {
	return s.b.Delete(ctx, name)
}

// read returns the file's bytes; a missing file is fs.ErrNotExist.
func (s *store) read(ctx context.Context, name string) ([]byte, error) {
	return s.b.ReadAll(ctx, name)
}

// list returns the names under the store, relative to it, at any depth.
// A local directory not made yet holds none.
func (s *store) list(ctx context.Context) ([]string, error) {
	names, err := s.b.List(ctx, "")
	if errors.Is(err, fs.ErrNotExist) && s.local {
		return nil, nil
	}
	return names, err
}

// openRead opens an input: a local path or file:// URI, or a gs:// object.
// A missing file is fs.ErrNotExist.
func openRead(ctx context.Context, uri string) (*blob.Reader, error) {
	opts, err := storeOptions(ctx, uri)
	if err != nil {
		return nil, err
	}
	return blob.Open(ctx, uri, opts)
}

// size returns an input's size in bytes.
func size(ctx context.Context, uri string) (int64, error) {
	r, err := openRead(ctx, uri)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return r.Size(), nil
}
