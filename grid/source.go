package grid

import (
	"context"
	"os"
	"strings"

	"github.com/gridrun/gridrun/binstage"
)

// source is an open input file: read as a stream, or at offsets (Parquet).
type source interface {
	Read(p []byte) (int, error)
	ReadAt(p []byte, off int64) (int, error)
	Close() error
	// Size is the file's size in bytes.
	Size() int64
}

func isGCS(path string) bool { return strings.HasPrefix(path, "gs://") }

// openSource opens a local file, or an object in Cloud Storage (found as
// binstage finds published binaries: STORAGE_EMULATOR_HOST, else
// Application Default Credentials).
func openSource(ctx context.Context, path string) (source, error) {
	if isGCS(path) {
		return binstage.OpenObject(ctx, path, nil)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return localFile{f, st.Size()}, nil
}

type localFile struct {
	*os.File
	size int64
}

func (f localFile) Size() int64 { return f.size }
