package resultcache

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/gridrun/gridrun/internal/blob"
)

// Summary describes a cache's contents.
type Summary struct {
	// Packs and Entries count what the indexes list; BadIndexes the
	// indexes that do not check (their entries miss).
	Packs, Entries, BadIndexes int
	// Bytes is the size of the packs and indexes.
	Bytes int64
	// Oldest and Newest are the times the oldest and newest packs were
	// written; zero for an empty cache.
	Oldest, Newest time.Time
}

// Inspect reads every index of the cache at uri and sizes its objects.
func Inspect(ctx context.Context, uri string, opts *blob.Options) (Summary, error) {
	var s Summary
	b, err := blob.OpenBucket(ctx, uri, opts)
	if err != nil {
		return s, err
	}
	defer b.Close()
	packs, err := listPacks(ctx, b)
	if err != nil {
		return s, err
	}
	for _, p := range packs {
		for _, key := range []string{p.pack, p.index} {
			if key == "" {
				continue
			}
			n, err := b.Size(ctx, key)
			if errors.Is(err, fs.ErrNotExist) {
				continue // pruned meanwhile
			}
			if err != nil {
				return s, err
			}
			s.Bytes += n
		}
		if p.index == "" || p.pack == "" {
			continue // a pack whose index was never written, or the reverse
		}
		data, err := b.ReadAll(ctx, p.index)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return s, err
		}
		locs, err := decodeIndex(data)
		if err != nil {
			s.BadIndexes++
			continue
		}
		s.Packs++
		s.Entries += len(locs)
		if s.Oldest.IsZero() || p.time.Before(s.Oldest) {
			s.Oldest = p.time
		}
		if p.time.After(s.Newest) {
			s.Newest = p.time
		}
	}
	return s, nil
}

// Pruned counts what Prune removed.
type Pruned struct {
	Packs int
	Bytes int64
}

// Prune removes the packs of the cache at uri written before cutoff, each
// index before its pack, so that a reader that opens the cache meanwhile
// never finds an index without its pack; one that opened it before reads
// a missing pack as misses. Leftovers of an interrupted write (a pack
// without its index) go too.
func Prune(ctx context.Context, uri string, cutoff time.Time, opts *blob.Options) (Pruned, error) {
	var r Pruned
	b, err := blob.OpenBucket(ctx, uri, opts)
	if err != nil {
		return r, err
	}
	defer b.Close()
	packs, err := listPacks(ctx, b)
	if err != nil {
		return r, err
	}
	for _, p := range packs {
		if !p.time.Before(cutoff) {
			continue
		}
		for _, key := range []string{p.index, p.pack} {
			if key == "" {
				continue
			}
			n, err := b.Size(ctx, key)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return r, err
			}
			if err := b.Delete(ctx, key); err != nil {
				return r, err
			}
			r.Bytes += n
		}
		r.Packs++
	}
	return r, nil
}

// packFiles are the objects of one pack: either may be missing.
type packFiles struct {
	name, pack, index string
	time              time.Time
}

// listPacks lists the cache's packs, oldest first. An absent cache has
// none.
func listPacks(ctx context.Context, b *blob.Bucket) ([]packFiles, error) {
	var out []packFiles
	at := map[string]int{}
	for _, dir := range []struct{ prefix, ext string }{{packDir, packExt}, {indexDir, indexExt}} {
		keys, err := b.List(ctx, dir.prefix)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			name, ok := strings.CutSuffix(strings.TrimPrefix(k, dir.prefix), dir.ext)
			t, valid := packTime(name)
			if !ok || !valid {
				continue // not the cache's
			}
			i, seen := at[name]
			if !seen {
				i = len(out)
				at[name] = i
				out = append(out, packFiles{name: name, time: t})
			}
			if dir.ext == packExt {
				out[i].pack = k
			} else {
				out[i].index = k
			}
		}
	}
	slicesSortByName(out)
	return out, nil
}

func slicesSortByName(p []packFiles) {
	slices.SortFunc(p, func(a, b packFiles) int { return strings.Compare(a.name, b.name) })
}
