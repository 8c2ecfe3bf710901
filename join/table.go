package join

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Row is one joined row: the key it was found under and the side message,
// serialized.
type Row struct {
	Key     string
	Payload []byte
	// Err says the row exists but cannot become the side message (a
	// cell that does not convert to its field), naming the row and the
	// column. It costs the elements of its key, not the batch, and is
	// cached like a row: reading it again gives the same answer.
	Err error
}

// Driver reads rows from one kind of store.
type Driver interface {
	// ReadRows reads the rows of keys, in one round trip where the store
	// allows. Keys without a row are absent from the result.
	ReadRows(ctx context.Context, keys []string) (map[string]Row, error)
	// IsTransient reports whether a failed read is worth retrying.
	IsTransient(err error) bool
	// Describe names the store for messages and the manifest.
	Describe() string
	Close() error
}

// DefaultCacheBytes is the memory cached rows may use unless
// Options.CacheBytes says otherwise.
const DefaultCacheBytes = 256 << 20

// Options configure a Table. The zero value is usable.
type Options struct {
	// CacheBytes bounds the memory the cached rows may use. Defaults to
	// DefaultCacheBytes; negative disables the cache.
	CacheBytes int64
	// MaxKeysPerRead splits the reads of very large batches. Defaults to
	// 1000 when not positive.
	MaxKeysPerRead int
	// Retries is how many times a transient read failure is retried, with
	// exponential backoff and jitter. Defaults to 5; negative means none.
	Retries int
	// Backoff is the first retry's delay. Defaults to 100ms when not
	// positive.
	Backoff time.Duration
	// Sleep waits between retries; tests make it instant. Defaults to a
	// context-aware time.Sleep.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Stats counts what a Table did.
type Stats struct {
	// Reads is the number of reads sent to the store, retries included:
	// one ReadRows RPC each for Bigtable, whose client may resend a call
	// that failed transiently within the read's timeout without it being
	// counted again.
	Reads int64 `json:"reads"`
	// Rows is the number of rows the store returned.
	Rows int64 `json:"rows"`
	// CacheHits and CacheMisses count key lookups; a key two workers miss
	// at once is one miss, read once.
	CacheHits   int64 `json:"cache_hits"`
	CacheMisses int64 `json:"cache_misses"`
	// Missing counts the keys read that have no row; a key is read once
	// while the cache remembers it has none.
	Missing int64 `json:"missing"`
	// BadRows counts the rows read that cannot become the side message.
	BadRows int64 `json:"bad_rows"`
	// Retries counts retried reads; Failures reads that failed for good.
	Retries  int64 `json:"retries"`
	Failures int64 `json:"failures"`
}

// UnavailableError reports that the store could not be read within the
// retry bound. The elements of the batch concerned fail with kind
// join_unavailable; the job goes on.
type UnavailableError struct {
	Source string
	Err    error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("join source %s unavailable: %v", e.Source, e.Err)
}
func (e *UnavailableError) Unwrap() error { return e.Err }

// Table looks rows up by key. It is safe for concurrent use.
type Table struct {
	d    Driver
	opts Options

	mu       sync.Mutex
	cache    *lru
	inflight map[string]*flight
	stats    Stats
	// cover checks the columns against the side message; nil for a Table
	// made by NewTable, which knows no Spec.
	cover *coverage
}

// flight is one key being read; others wanting it wait on done.
type flight struct {
	done chan struct{}
	row  Row
	ok   bool
	err  error
	// abandoned reports that the reader's own context ended the read: err
	// says nothing of the store, and a waiter reads the key itself.
	abandoned bool
}

// NewTable puts a cache over a driver.
func NewTable(d Driver, opts *Options) *Table {
	t := &Table{d: d, inflight: map[string]*flight{}}
	if opts != nil {
		t.opts = *opts
	}
	t.opts.CacheBytes = cmp.Or(t.opts.CacheBytes, DefaultCacheBytes)
	if t.opts.MaxKeysPerRead <= 0 { // slices.Chunk panics on less than 1
		t.opts.MaxKeysPerRead = 1000
	}
	t.opts.Retries = cmp.Or(t.opts.Retries, 5)
	if t.opts.Backoff <= 0 { // rand.Int64N panics on less than 1
		t.opts.Backoff = 100 * time.Millisecond
	}
	if t.opts.Sleep == nil {
		t.opts.Sleep = sleep
	}
	t.cache = newLRU(max(t.opts.CacheBytes, 0))
	return t
}

func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// Source names the store, for messages and the manifest.
func (t *Table) Source() string { return t.d.Describe() }

// Stats returns the counts so far.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}

// Close closes the driver.
func (t *Table) Close() error { return t.d.Close() }

// Lookup returns the rows of keys, by key; a key with no row is absent. The
// keys not in the cache are read together. A store that stays unreachable
// past the retry bound yields an *UnavailableError; a table whose columns
// leave a field of the side message unfilled, a *CoverageError (from the
// first read that shows the columns on).
func (t *Table) Lookup(ctx context.Context, keys []string) (map[string]Row, error) {
	rows, err := t.lookup(ctx, keys)
	if err != nil {
		return nil, err
	}
	if err := t.checkCoverage(); err != nil {
		return nil, err
	}
	return rows, nil
}

func (t *Table) lookup(ctx context.Context, keys []string) (map[string]Row, error) {
	out := make(map[string]Row, len(keys))
	var mine []string             // keys this call reads
	waits := map[string]*flight{} // keys another call is reading
	seen := make(map[string]bool, len(keys))
	t.mu.Lock()
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		if row, ok, hit := t.cache.get(k); hit {
			t.stats.CacheHits++
			if ok {
				out[k] = row
			}
			continue
		}
		if f := t.inflight[k]; f != nil {
			t.stats.CacheHits++ // read once, by the other caller
			waits[k] = f
			continue
		}
		t.stats.CacheMisses++
		t.inflight[k] = &flight{done: make(chan struct{})}
		mine = append(mine, k)
	}
	t.mu.Unlock()

	var firstErr error
	for chunk := range slices.Chunk(mine, t.opts.MaxKeysPerRead) {
		rows, err := t.read(ctx, chunk)
		t.mu.Lock()
		for _, k := range chunk {
			f := t.inflight[k]
			delete(t.inflight, k)
			f.err = err
			f.abandoned = err != nil && ctx.Err() != nil
			if err == nil {
				f.row, f.ok = rows[k]
				t.cache.put(k, f.row, f.ok)
				if !f.ok {
					t.stats.Missing++
				} else {
					if f.row.Err != nil {
						t.stats.BadRows++
					}
					out[k] = f.row
				}
			}
			close(f.done)
		}
		t.mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	for _, f := range waits {
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var again []string
	for k, f := range waits {
		if f.abandoned {
			again = append(again, k)
			continue
		}
		if f.err != nil && firstErr == nil {
			firstErr = f.err
		}
		if f.ok {
			out[k] = f.row
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if len(again) > 0 {
		rows, err := t.lookup(ctx, again)
		if err != nil {
			return nil, err
		}
		maps.Copy(out, rows)
	}
	return out, nil
}

// read reads one chunk of keys, retrying transient failures.
func (t *Table) read(ctx context.Context, keys []string) (map[string]Row, error) {
	backoff := t.opts.Backoff
	for attempt := 0; ; attempt++ {
		t.mu.Lock()
		t.stats.Reads++
		t.mu.Unlock()
		rows, err := t.d.ReadRows(ctx, keys)
		if err == nil {
			t.mu.Lock()
			t.stats.Rows += int64(len(rows))
			t.mu.Unlock()
			return rows, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !t.d.IsTransient(err) || attempt >= max(t.opts.Retries, 0) {
			t.mu.Lock()
			t.stats.Failures++
			t.mu.Unlock()
			return nil, &UnavailableError{Source: t.d.Describe(), Err: err}
		}
		t.mu.Lock()
		t.stats.Retries++
		t.mu.Unlock()
		// Full jitter: many workers retrying an outage must not beat in step.
		if err := t.opts.Sleep(ctx, time.Duration(rand.Int64N(int64(backoff))+1)); err != nil {
			return nil, err
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}
