package grid

import (
	"context"
	"strings"

	"github.com/gridrun/gridrun/internal/blob"
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
// published binaries are: STORAGE_EMULATOR_HOST, else Application Default
// Credentials).
func openSource(ctx context.Context, path string) (source, error) {
	return blob.Open(ctx, path, nil)
}
