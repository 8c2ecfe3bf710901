package blob

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Glob returns the files that pattern matches, sorted: local paths
// (file:// removed) through filepath.Glob, or the URIs of the objects of
// gs://BUCKET/PATTERN. A pattern's wildcards are path.Match's: *, ? and
// [...] match within one path segment, never across a slash, as a shell's
// do. A pattern without them names one file, returned as is: whether it
// exists is for its open to say. In Cloud Storage one listing serves the
// whole pattern: its prefix up to the first wildcard.
func Glob(ctx context.Context, pattern string, opts *Options) ([]string, error) {
	if p, ok := localPath(pattern); ok {
		if !strings.ContainsAny(p, "*?[") {
			return []string{p}, nil
		}
		return filepath.Glob(p)
	}
	dir, key, err := splitObject(pattern)
	if err != nil {
		return nil, err
	}
	i := strings.IndexAny(key, "*?[\\")
	if i < 0 {
		return []string{pattern}, nil
	}
	if _, err := path.Match(key, ""); err != nil {
		return nil, fmt.Errorf("%s: %w", pattern, err)
	}
	b, err := OpenBucket(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	keys, err := b.List(ctx, key[:i])
	if err != nil {
		return nil, err
	}
	keys = slices.DeleteFunc(keys, func(k string) bool {
		ok, _ := path.Match(key, k)
		return !ok
	})
	for i, k := range keys {
		keys[i] = b.URI(k)
	}
	return keys, nil
}
