package resultcache

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gridrun/gridrun/internal/blob"
)

// Mode says whether a Cache serves entries, stores them, or both.
type Mode string

// The modes.
const (
	// ModeReadWrite serves hits and stores the misses' results.
	ModeReadWrite Mode = "readwrite"
	// ModeRead serves hits and stores nothing: a shared cache that only a
	// trusted job fills.
	ModeRead Mode = "read"
	// ModeWrite stores every result and serves none: to refill a cache,
	// or to check that cached results still agree with computed ones.
	ModeWrite Mode = "write"
)

// ParseMode checks a mode; "" is ModeReadWrite.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(cmp.Or(s, string(ModeReadWrite))); m {
	case ModeReadWrite, ModeRead, ModeWrite:
		return m, nil
	}
	return "", fmt.Errorf("result cache mode %q: want read, write or readwrite", s)
}

func (m Mode) reads() bool  { return m != ModeWrite }
func (m Mode) writes() bool { return m != ModeRead }

// DefaultIndexBytes is the default of Options.IndexBytes: about seven
// million entries.
const DefaultIndexBytes = 256 << 20

// indexConcurrency bounds the index reads in flight while a Cache opens.
const indexConcurrency = 16

// Options configure a Cache. A nil *Options means the zero value.
type Options struct {
	// Mode defaults to ModeReadWrite.
	Mode Mode
	// IndexBytes bounds the memory of the index a reading Cache loads
	// when it opens, at 36 bytes per entry: the newest packs' entries are
	// loaded first, older ones beyond the bound miss. Defaults to
	// DefaultIndexBytes.
	IndexBytes int64
	// Logger receives the warnings: corrupt entries and indexes, packs
	// gone. Defaults to slog.Default().
	Logger *slog.Logger
	// Store configures access to the cache's storage.
	Store *blob.Options
	// Now stamps the packs written. Defaults to time.Now.
	Now func() time.Time
}

// Stats count what a Cache did.
type Stats struct {
	// Hits and Misses count the elements looked up: served from the
	// cache, or to compute. In ModeWrite every element is a miss.
	Hits, Misses int64
	// Batches counts the lookups of a batch's elements; Reads the pack
	// reads they made (at most one per pack holding some of a batch's
	// hits).
	Batches, Reads int64
	// Corrupt counts the entries found truncated or altered, recomputed.
	Corrupt int64
	// Stored counts the entries written, in Packs packs; StoreFailures the
	// packs that could not be written (their elements were committed all
	// the same).
	Stored, Packs, StoreFailures int64
}

// Cache is a result cache in a directory or a gs:// prefix. It is safe for
// concurrent use.
type Cache struct {
	b    *blob.Bucket
	mode Mode
	log  *slog.Logger
	now  func() time.Time

	// packs are the names of the packs the index points into, index's
	// pack i being packs[i]; the index holds one slot per prefix, the
	// newest entry's. Both are fixed once Open returns: entries stored
	// later are for later runs.
	packs []string
	index index

	hits, misses, batches, reads, corrupt, stored, written, failed atomic.Int64
}

const (
	packDir  = "v1/packs/"
	indexDir = "v1/index/"
	packExt  = ".pack"
	indexExt = ".idx"
)

// Open opens the cache at uri, a directory (created on the first write) or
// gs://BUCKET/PREFIX, and, unless it only writes, loads its index.
func Open(ctx context.Context, uri string, opts *Options) (*Cache, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	mode, err := ParseMode(string(o.Mode))
	if err != nil {
		return nil, err
	}
	b, err := blob.OpenBucket(ctx, uri, o.Store)
	if err != nil {
		return nil, err
	}
	c := &Cache{b: b, mode: mode, log: cmp.Or(o.Logger, slog.Default()), now: o.Now}
	if c.now == nil {
		c.now = time.Now
	}
	if mode.reads() {
		if err := c.load(ctx, cmp.Or(o.IndexBytes, DefaultIndexBytes)); err != nil {
			b.Close()
			return nil, err
		}
	}
	return c, nil
}

// Close releases the cache's storage client.
func (c *Cache) Close() error { return c.b.Close() }

// URI names the cache's key in messages.
func (c *Cache) URI(key string) string { return c.b.URI(key) }

// Mode is the cache's mode.
func (c *Cache) Mode() Mode { return c.mode }

// Entries is the number of entries the index holds.
func (c *Cache) Entries() int { return c.index.len() }

// Stats returns the counts so far.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Batches: c.batches.Load(), Reads: c.reads.Load(),
		Corrupt: c.corrupt.Load(), Stored: c.stored.Load(), Packs: c.written.Load(), StoreFailures: c.failed.Load(),
	}
}

// load reads the indexes, newest first, within budget bytes of slots.
func (c *Cache) load(ctx context.Context, budget int64) error {
	names, err := c.b.List(ctx, indexDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a new cache
	}
	if err != nil {
		return err
	}
	names = slices.DeleteFunc(names, func(n string) bool { return !strings.HasSuffix(n, indexExt) })
	slices.Reverse(names) // newest first
	locs := make([][]location, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(indexConcurrency)
	for i, name := range names {
		g.Go(func() error {
			b, err := c.b.ReadAll(gctx, name)
			if errors.Is(err, fs.ErrNotExist) {
				return nil // pruned since listed
			}
			if err != nil {
				return err
			}
			if locs[i], err = decodeIndex(b); err != nil {
				c.log.Warn("result cache: an index that does not check is ignored; its entries are recomputed", "object", c.b.URI(name), "err", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	entries := 0
	for i, name := range names {
		if int64(entries+len(locs[i]))*entryBytes > budget {
			c.log.Warn("result cache: the index exceeds its memory; older entries miss", "cache", c.b.URI(""), "loaded", entries, "bytes", budget)
			locs = locs[:i]
			break
		}
		entries += len(locs[i])
		c.packs = append(c.packs, strings.TrimSuffix(strings.TrimPrefix(name, indexDir), indexExt))
	}
	// Packs are numbered newest first: a key stored again (after its
	// entry was found corrupt) is found in its newest pack.
	c.index = newIndex(locs)
	return nil
}

func prefixOf(k Key) uint64 { return binary.BigEndian.Uint64(k[:8]) }

// Lookup returns the cached payloads of keys, nil for a miss, in one
// ranged read per pack that holds some of them. A payload is valid until
// the next Lookup's caller drops it: it is not shared. An entry that does
// not check, or a pack that cannot be read, is a miss with a warning; the
// error is ctx's only.
func (c *Cache) Lookup(ctx context.Context, keys []Key) ([][]byte, error) {
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	if !c.mode.reads() {
		c.misses.Add(int64(len(keys)))
		return out, nil
	}
	c.batches.Add(1)
	byPack := map[uint32][]int{}
	slots := make([]slot, len(keys))
	var prev slot
	found := false
	for i, k := range keys {
		p := prefixOf(k)
		var s slot
		ok := false
		if found {
			s, ok = c.index.next(prev, p)
		}
		if !ok {
			s, ok = c.index.find(p)
		}
		if prev, found = s, ok; ok {
			slots[i] = s
			byPack[s.pack] = append(byPack[s.pack], i)
		}
	}
	var hits int64
	for _, pack := range slices.Sorted(maps.Keys(byPack)) {
		if err := c.readPack(ctx, pack, keys, slots, byPack[pack], out); err != nil {
			return nil, err
		}
	}
	for _, p := range out {
		if p != nil {
			hits++
		}
	}
	c.hits.Add(hits)
	c.misses.Add(int64(len(keys)) - hits)
	return out, nil
}

// readPack reads the entries of keys[want...], at slots[want...], from one
// pack in one ranged read, into out.
func (c *Cache) readPack(ctx context.Context, pack uint32, keys []Key, slots []slot, want []int, out [][]byte) error {
	name := packDir + c.packs[pack] + packExt
	lo, hi := uint64(maxPackBytes), uint64(0)
	for _, i := range want {
		e := c.index.entry(slots[i])
		lo, hi = min(lo, uint64(e.off)), max(hi, uint64(e.off)+uint64(e.len))
	}
	c.reads.Add(1)
	buf, err := c.readRange(ctx, name, int64(lo), int64(hi-lo))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Warn("result cache: a pack cannot be read; its elements are recomputed", "object", c.b.URI(name), "elements", len(want), "err", err)
		return nil
	}
	for _, i := range want {
		s := c.index.entry(slots[i])
		start, end := uint64(s.off)-lo, uint64(s.off)+uint64(s.len)-lo
		p, err := decodeEntry(buf[min(start, uint64(len(buf))):min(end, uint64(len(buf)))], keys[i])
		if err != nil {
			c.corrupt.Add(1)
			c.log.Warn("result cache: a corrupt entry is recomputed", "object", c.b.URI(name), "offset", s.off, "key", keys[i].String(), "err", err)
			continue
		}
		out[i] = p
	}
	return nil
}

// readRange reads n bytes at off of key, or fewer if the object ends
// first.
func (c *Cache) readRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	r, err := c.b.NewReader(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if off >= r.Size() {
		return nil, nil
	}
	buf := make([]byte, min(n, r.Size()-off))
	m, err := r.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:m], nil
}

// Store writes entries as one pack, unless the cache only reads. Two
// writers never share a name, and nothing is replaced.
func (c *Cache) Store(ctx context.Context, entries []Entry) error {
	if !c.mode.writes() || len(entries) == 0 {
		return nil
	}
	err := c.store(ctx, entries)
	if err != nil {
		c.failed.Add(1)
		return err
	}
	c.stored.Add(int64(len(entries)))
	c.written.Add(1)
	return nil
}

func (c *Cache) store(ctx context.Context, entries []Entry) error {
	pack, index, err := encodePack(entries)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(pack)
	name := packName(c.now(), hex.EncodeToString(sum[:8]))
	create := &blob.WriteOptions{IfNotExist: true, ContentType: "application/octet-stream"}
	for _, f := range []struct {
		key  string
		data []byte
	}{{packDir + name + packExt, pack}, {indexDir + name + indexExt, index}} {
		err := c.b.Write(ctx, f.key, func(w io.Writer) error {
			_, err := w.Write(f.data)
			return err
		}, create)
		// The same name is the same nanosecond and the same bytes: the
		// object there is this one.
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}

// packName names a pack written at t with content hash h, so that names
// sort by age.
func packName(t time.Time, h string) string { return fmt.Sprintf("%020d-%s", t.UnixNano(), h) }

// packTime returns the time a pack's name says it was written.
func packTime(name string) (time.Time, bool) {
	var ns int64
	if len(name) < 20 {
		return time.Time{}, false
	}
	if _, err := fmt.Sscanf(name[:20], "%d", &ns); err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}
