package grid

import (
	"context"
	"log/slog"

	"github.com/gridrun/gridrun/outdir"
	"github.com/gridrun/gridrun/resultcache"
)

// OpenResultCache opens the job's result cache, or returns nil when it
// has none. Both engines open it so: the local one once per job, a Beam
// worker once per process.
func OpenResultCache(ctx context.Context, j Job, logger *slog.Logger) (*resultcache.Cache, error) {
	if j.ResultCache == "" {
		return nil, nil
	}
	c, err := resultcache.Open(ctx, j.ResultCache, &resultcache.Options{Mode: resultcache.Mode(j.ResultCacheMode), Logger: logger})
	if err != nil {
		return nil, configErr("result cache %s: %v", j.ResultCache, err)
	}
	return c, nil
}

// CacheJobOf is the job's part of its elements' cache keys, for a binary
// of the given sha256.
func CacheJobOf(j Job, binarySHA256 string) resultcache.Job {
	return resultcache.Job{BinarySHA256: binarySHA256, Args: j.Args, Env: j.Env}
}

// ResultCacheInfo is the manifest's record of a cache's use, from its
// counts; nil without a cache.
func ResultCacheInfo(j Job, c *resultcache.Cache) *outdir.ResultCacheInfo {
	if c == nil {
		return nil
	}
	return ResultCacheInfoOf(j, c.Entries(), c.Stats())
}

// ResultCacheInfoOf is ResultCacheInfo from counts summed elsewhere (over
// a Beam job's workers).
func ResultCacheInfoOf(j Job, entries int, s resultcache.Stats) *outdir.ResultCacheInfo {
	return &outdir.ResultCacheInfo{
		URI: j.ResultCache, Mode: j.ResultCacheMode, IndexEntries: entries,
		Hits: s.Hits, Misses: s.Misses, Lookups: s.Batches, Reads: s.Reads, Corrupt: s.Corrupt,
		Stored: s.Stored, Packs: s.Packs, StoreFailures: s.StoreFailures,
	}
}
