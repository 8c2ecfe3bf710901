package join_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridrun/gridrun/join"
)

func TestLookupReadsMissesOnceAndCaches(t *testing.T) {
	t.Parallel()
	d := newFake("a", "b", "c")
	tab := join.NewTable(d, nil)
	if tab.Source() != "fake://store" {
		t.Fatalf("Source %q", tab.Source())
	}
	wantRows(t, d, lookup(t, tab, "a", "b"), "a", "b")
	wantReads(t, d, []string{"a", "b"})
	wantStats(t, tab.Stats(), join.Stats{Reads: 1, Rows: 2, CacheMisses: 2})

	// One read for the keys not cached, in the order given.
	wantRows(t, d, lookup(t, tab, "b", "c", "a", "x"), "a", "b", "c")
	wantReads(t, d, []string{"a", "b"}, []string{"c", "x"})
	wantStats(t, tab.Stats(), join.Stats{Reads: 2, Rows: 3, CacheHits: 2, CacheMisses: 4, Missing: 1})

	// All cached, the missing key too: no read.
	wantRows(t, d, lookup(t, tab, "x", "c", "a"), "a", "c")
	wantReads(t, d, []string{"a", "b"}, []string{"c", "x"})
	wantStats(t, tab.Stats(), join.Stats{Reads: 2, Rows: 3, CacheHits: 5, CacheMisses: 4, Missing: 1})
}

func TestLookupNothing(t *testing.T) {
	t.Parallel()
	d := newFake("a")
	tab := join.NewTable(d, nil)
	if rows := lookup(t, tab); len(rows) != 0 {
		t.Fatalf("rows %v", rows)
	}
	wantReads(t, d)
}

func TestLookupDuplicateKeysReadOnce(t *testing.T) {
	t.Parallel()
	d := newFake("a", "b")
	tab := join.NewTable(d, nil)
	wantRows(t, d, lookup(t, tab, "a", "a", "b", "x", "a", "x", "b"), "a", "b")
	wantReads(t, d, []string{"a", "b", "x"})
	wantStats(t, tab.Stats(), join.Stats{Reads: 1, Rows: 2, CacheMisses: 3, Missing: 1})
}

func TestLookupNegativeCaching(t *testing.T) {
	t.Parallel()
	d := newFake()
	tab := join.NewTable(d, nil)
	for range 3 {
		if rows := lookup(t, tab, "gone"); len(rows) != 0 {
			t.Fatalf("rows %v for a key with none", rows)
		}
	}
	wantReads(t, d, []string{"gone"})
	wantStats(t, tab.Stats(), join.Stats{Reads: 1, CacheHits: 2, CacheMisses: 1, Missing: 1})
}

func TestLookupChunksLargeReads(t *testing.T) {
	t.Parallel()
	d := newFake("k0", "k3", "k6")
	tab := join.NewTable(d, &join.Options{MaxKeysPerRead: 3})
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6"}
	wantRows(t, d, lookup(t, tab, keys...), "k0", "k3", "k6")
	wantReads(t, d, keys[0:3], keys[3:6], keys[6:7])
	wantStats(t, tab.Stats(), join.Stats{Reads: 3, Rows: 3, CacheMisses: 7, Missing: 4})
}

func TestLookupDefaultChunkIsAThousandKeys(t *testing.T) {
	t.Parallel()
	d := newFake()
	tab := join.NewTable(d, nil)
	keys := make([]string, 2500)
	for i := range keys {
		keys[i] = fmt.Sprint(i)
	}
	lookup(t, tab, keys...)
	var sizes []int
	for _, r := range d.Reads() {
		sizes = append(sizes, len(r))
	}
	if !slices.Equal(sizes, []int{1000, 1000, 500}) {
		t.Fatalf("read sizes %v", sizes)
	}
}

// payloadRows makes rows of about size bytes each.
func payloadRows(size int, keys ...string) *fakeDriver {
	d := newFake()
	for _, k := range keys {
		d.rows[k] = join.Row{Key: k, Payload: []byte(strings.Repeat("p", size))}
	}
	return d
}

func TestCacheEvictsLeastRecentlyUsedByBytes(t *testing.T) {
	t.Parallel()
	// Two 10 kB rows fit in 25 kB with room for any per-entry overhead;
	// three do not.
	d := payloadRows(10_000, "k1", "k2", "k3")
	tab := join.NewTable(d, &join.Options{CacheBytes: 25_000})
	lookup(t, tab, "k1")
	lookup(t, tab, "k2")
	lookup(t, tab, "k1") // k1 is now the most recent
	lookup(t, tab, "k3") // evicts k2
	wantReads(t, d, []string{"k1"}, []string{"k2"}, []string{"k3"})
	wantRows(t, d, lookup(t, tab, "k1", "k3"), "k1", "k3")
	wantReads(t, d, []string{"k1"}, []string{"k2"}, []string{"k3"})
	wantRows(t, d, lookup(t, tab, "k2"), "k2") // read again
	wantReads(t, d, []string{"k1"}, []string{"k2"}, []string{"k3"}, []string{"k2"})
	wantStats(t, tab.Stats(), join.Stats{Reads: 4, Rows: 4, CacheHits: 3, CacheMisses: 4})
}

func TestCacheSmallerThanARowRereads(t *testing.T) {
	t.Parallel()
	for _, bytes := range []int64{5_000, -1} {
		d := payloadRows(10_000, "big")
		tab := join.NewTable(d, &join.Options{CacheBytes: bytes})
		for range 3 {
			wantRows(t, d, lookup(t, tab, "big"), "big")
		}
		if n := len(d.Reads()); n != 3 {
			t.Fatalf("CacheBytes %d: %d reads, want 3", bytes, n)
		}
		wantStats(t, tab.Stats(), join.Stats{Reads: 3, Rows: 3, CacheMisses: 3})
	}
}

func TestDisabledCacheRereadsMissingKeys(t *testing.T) {
	t.Parallel()
	d := newFake()
	tab := join.NewTable(d, &join.Options{CacheBytes: -1})
	lookup(t, tab, "gone")
	lookup(t, tab, "gone")
	wantReads(t, d, []string{"gone"}, []string{"gone"})
}

// Many small rows: the cache keeps the most recent, within its bound.
func TestCacheKeepsTheMostRecentRows(t *testing.T) {
	t.Parallel()
	var keys []string
	for i := range 100 {
		keys = append(keys, fmt.Sprintf("key%03d", i))
	}
	d := payloadRows(1_000, keys...)
	tab := join.NewTable(d, &join.Options{CacheBytes: 20_000})
	for _, k := range keys {
		lookup(t, tab, k)
	}
	before := len(d.Reads())
	lookup(t, tab, keys[len(keys)-10:]...) // the ten most recent are cached
	if n := len(d.Reads()); n != before {
		t.Fatalf("the most recent rows were read again: %q", d.Reads()[before:])
	}
	lookup(t, tab, keys[:10]...) // the ten oldest are not
	if got := d.Reads()[before:]; len(got) != 1 || !slices.Equal(got[0], keys[:10]) {
		t.Fatalf("reads %q, want the ten oldest keys in one read", got)
	}
}

// sleeps records the delays a Table asks for.
type sleeps struct {
	mu sync.Mutex
	ds []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ds = append(s.ds, d)
	return ctx.Err()
}

func (s *sleeps) get() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ds)
}

// failFirst fails the first n reads with err.
func failFirst(n int, err error) func(context.Context, int, []string) error {
	return func(_ context.Context, call int, _ []string) error {
		if call <= n {
			return fmt.Errorf("read %d: %w", call, err)
		}
		return nil
	}
}

func TestTransientErrorsAreRetried(t *testing.T) {
	t.Parallel()
	d := newFake("a")
	d.hook = failFirst(3, errTransient)
	var s sleeps
	tab := join.NewTable(d, &join.Options{Backoff: time.Second, Sleep: s.sleep})
	wantRows(t, d, lookup(t, tab, "a"), "a")
	wantReads(t, d, []string{"a"}, []string{"a"}, []string{"a"}, []string{"a"})
	if n := len(s.get()); n != 3 {
		t.Fatalf("%d sleeps, want 3", n)
	}
	wantStats(t, tab.Stats(), join.Stats{Reads: 4, Rows: 1, CacheMisses: 1, Retries: 3})
}

// Full jitter: each delay is at most the backoff of its attempt, which
// doubles from Backoff up to a bound of ten seconds.
func TestBackoffGrowsAndIsBounded(t *testing.T) {
	t.Parallel()
	const retries = 30
	d := newFake("a")
	d.hook = failFirst(retries, errTransient)
	var s sleeps
	tab := join.NewTable(d, &join.Options{Retries: retries, Backoff: time.Second, Sleep: s.sleep})
	lookup(t, tab, "a")
	ds := s.get()
	if len(ds) != retries {
		t.Fatalf("%d sleeps, want %d", len(ds), retries)
	}
	ceiling := time.Second
	var later time.Duration
	for i, d := range ds {
		if d <= 0 || d > ceiling {
			t.Fatalf("sleep %d: %v, want in (0, %v]", i, d, ceiling)
		}
		if i > 0 {
			later = max(later, d)
		}
		ceiling = min(2*ceiling, 10*time.Second)
	}
	// 29 delays drawn up to 2 s, 4 s, 8 s, then 10 s: that none passes the
	// first attempt's 1 s would take luck of odds below 1e-25.
	if later <= time.Second {
		t.Fatalf("no delay after the first exceeds the first backoff: %v", ds)
	}
}

func TestRetriesExhausted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		retries, reads int
	}{{0, 6}, {2, 3}, {-1, 1}} {
		d := newFake("a")
		d.hook = failFirst(100, errTransient)
		var s sleeps
		tab := join.NewTable(d, &join.Options{Retries: tc.retries, Sleep: s.sleep})
		_, err := tab.Lookup(context.Background(), []string{"a"})
		var ue *join.UnavailableError
		if !errors.As(err, &ue) || ue.Source != "fake://store" {
			t.Fatalf("Retries %d: error %v (%T), want an *UnavailableError from fake://store", tc.retries, err, err)
		}
		if !errors.Is(err, errTransient) {
			t.Fatalf("Retries %d: %v does not unwrap to the driver's error", tc.retries, err)
		}
		contains(t, err, "fake://store", "store busy")
		if n := len(d.Reads()); n != tc.reads {
			t.Fatalf("Retries %d: %d reads, want %d", tc.retries, n, tc.reads)
		}
		if n := len(s.get()); n != tc.reads-1 {
			t.Fatalf("Retries %d: %d sleeps, want %d", tc.retries, n, tc.reads-1)
		}
		wantStats(t, tab.Stats(), join.Stats{Reads: int64(tc.reads), CacheMisses: 1, Retries: int64(tc.reads - 1), Failures: 1})
	}
}

func TestNonTransientErrorsAreNotRetried(t *testing.T) {
	t.Parallel()
	boom := errors.New("permission denied")
	d := newFake("a")
	d.hook = failFirst(1, boom)
	var s sleeps
	tab := join.NewTable(d, &join.Options{Sleep: s.sleep})
	_, err := tab.Lookup(context.Background(), []string{"a"})
	var ue *join.UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, boom) {
		t.Fatalf("error %v, want an *UnavailableError wrapping the driver's", err)
	}
	if len(d.Reads()) != 1 || len(s.get()) != 0 {
		t.Fatalf("%d reads and %d sleeps, want 1 and none", len(d.Reads()), len(s.get()))
	}
	wantStats(t, tab.Stats(), join.Stats{Reads: 1, CacheMisses: 1, Failures: 1})

	// A failed read caches nothing: the next lookup reads again, and works.
	wantRows(t, d, lookup(t, tab, "a"), "a")
	wantStats(t, tab.Stats(), join.Stats{Reads: 2, Rows: 1, CacheMisses: 2, Failures: 1})
}

// One failing chunk fails the lookup; the chunks that were read are cached.
func TestFailedChunkFailsTheLookup(t *testing.T) {
	t.Parallel()
	d := newFake("a", "b", "c")
	d.hook = func(_ context.Context, call int, _ []string) error {
		if call == 2 {
			return errors.New("bad chunk")
		}
		return nil
	}
	tab := join.NewTable(d, &join.Options{MaxKeysPerRead: 1})
	if _, err := tab.Lookup(context.Background(), []string{"a", "b", "c"}); err == nil {
		t.Fatal("no error")
	}
	wantReads(t, d, []string{"a"}, []string{"b"}, []string{"c"})
	wantRows(t, d, lookup(t, tab, "a", "b", "c"), "a", "b", "c")
	wantReads(t, d, []string{"a"}, []string{"b"}, []string{"c"}, []string{"b"})
}

func TestContextErrorsAreReturnedUntouched(t *testing.T) {
	t.Parallel()
	t.Run("during a read", func(t *testing.T) {
		t.Parallel()
		d := newFake("a")
		ctx, cancel := context.WithCancel(context.Background())
		d.hook = func(ctx context.Context, _ int, _ []string) error {
			cancel()
			return fmt.Errorf("read: %w", errTransient)
		}
		_, err := join.NewTable(d, nil).Lookup(ctx, []string{"a"})
		if err != context.Canceled {
			t.Fatalf("error %v, want context.Canceled itself", err)
		}
		if len(d.Reads()) != 1 {
			t.Fatalf("%d reads: retried a cancelled read", len(d.Reads()))
		}
	})
	t.Run("during a backoff", func(t *testing.T) {
		t.Parallel()
		d := newFake("a")
		d.hook = failFirst(100, errTransient)
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		tab := join.NewTable(d, &join.Options{Sleep: func(context.Context, time.Duration) error {
			return context.DeadlineExceeded
		}})
		_, err := tab.Lookup(ctx, []string{"a"})
		if err != context.DeadlineExceeded {
			t.Fatalf("error %v, want the sleep's own", err)
		}
	})
	t.Run("the default sleep", func(t *testing.T) {
		t.Parallel()
		d := newFake("a")
		d.hook = failFirst(2, errTransient)
		tab := join.NewTable(d, &join.Options{Backoff: time.Nanosecond})
		wantRows(t, d, lookup(t, tab, "a"), "a")
		wantStats(t, tab.Stats(), join.Stats{Reads: 3, Rows: 1, CacheMisses: 1, Retries: 2})
	})
	t.Run("the default sleep cancelled", func(t *testing.T) {
		t.Parallel()
		d := newFake("a")
		ctx, cancel := context.WithCancel(context.Background())
		d.hook = func(context.Context, int, []string) error {
			go cancel() // before the retry, or during its hour of backoff
			return errTransient
		}
		tab := join.NewTable(d, &join.Options{Backoff: time.Hour})
		_, err := tab.Lookup(ctx, []string{"a"})
		if err != context.Canceled {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})
}

// hold makes the first read of key wait: entered receives its keys when it
// starts, and it returns when release is closed or its context ends.
func hold(key string, entered chan<- []string, release <-chan struct{}) func(context.Context, int, []string) error {
	var once sync.Once
	return func(ctx context.Context, _ int, keys []string) error {
		held := false
		if slices.Contains(keys, key) {
			once.Do(func() { held = true })
		}
		entered <- keys
		if !held {
			return nil
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type result struct {
	rows map[string]join.Row
	err  error
}

func goLookup(ctx context.Context, tab *join.Table, keys ...string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		rows, err := tab.Lookup(ctx, keys)
		ch <- result{rows, err}
	}()
	return ch
}

// A key two callers miss at once is read once. The second caller's read of
// its other key shows it has already found the first caller's read of the
// shared key: a Lookup takes stock of all its keys before it reads.
func TestConcurrentMissesReadOnce(t *testing.T) {
	t.Parallel()
	for _, present := range []bool{true, false} {
		d := newFake("other")
		if present {
			d.rows["shared"] = join.Row{Key: "shared", Payload: []byte("x")}
		}
		entered, release := make(chan []string, 2), make(chan struct{})
		d.hook = hold("shared", entered, release)
		tab := join.NewTable(d, nil)
		ctx := context.Background()

		a := goLookup(ctx, tab, "shared")
		recv(t, entered) // a is reading shared
		b := goLookup(ctx, tab, "shared", "other")
		recv(t, entered) // b is reading other, and waits for shared
		close(release)
		ra, rb := recv(t, a), recv(t, b)
		if ra.err != nil || rb.err != nil {
			t.Fatal(ra.err, rb.err)
		}
		if present {
			wantRows(t, d, ra.rows, "shared")
			wantRows(t, d, rb.rows, "shared", "other")
		} else {
			wantRows(t, d, ra.rows)
			wantRows(t, d, rb.rows, "other")
		}
		wantReads(t, d, []string{"shared"}, []string{"other"})
		missing := int64(1)
		if present {
			missing = 0
		}
		wantStats(t, tab.Stats(), join.Stats{Reads: 2, Rows: 2 - missing, CacheHits: 1, CacheMisses: 2, Missing: missing})
	}
}

// A caller waiting for another's read of a key gets that read's error.
func TestConcurrentMissShareTheReadError(t *testing.T) {
	t.Parallel()
	d := newFake("shared", "other")
	entered, release := make(chan []string, 2), make(chan struct{})
	held := hold("shared", entered, release)
	boom := errors.New("store down")
	d.hook = func(ctx context.Context, call int, keys []string) error {
		if err := held(ctx, call, keys); err != nil {
			return err
		}
		if slices.Contains(keys, "shared") {
			return boom
		}
		return nil
	}
	tab := join.NewTable(d, nil)
	a := goLookup(context.Background(), tab, "shared")
	recv(t, entered)
	b := goLookup(context.Background(), tab, "shared", "other")
	recv(t, entered)
	close(release)
	for _, r := range []result{recv(t, a), recv(t, b)} {
		if !errors.Is(r.err, boom) {
			t.Fatalf("error %v, want the read's", r.err)
		}
	}
	if n := d.timesRead()["shared"]; n != 1 {
		t.Fatalf("shared read %d times", n)
	}
}

// A caller that gives up waiting for another's read returns its own
// context's error; the read goes on for the other caller.
func TestWaiterCancelled(t *testing.T) {
	t.Parallel()
	d := newFake("shared", "other")
	entered, release := make(chan []string, 2), make(chan struct{})
	d.hook = hold("shared", entered, release)
	tab := join.NewTable(d, nil)
	a := goLookup(context.Background(), tab, "shared")
	recv(t, entered)
	ctx, cancel := context.WithCancel(context.Background())
	b := goLookup(ctx, tab, "shared", "other")
	recv(t, entered)
	cancel()
	if r := recv(t, b); r.err != context.Canceled {
		t.Fatalf("waiter: %v, want context.Canceled", r.err)
	}
	close(release)
	ra := recv(t, a)
	if ra.err != nil {
		t.Fatal(ra.err)
	}
	wantRows(t, d, ra.rows, "shared")
}

// The caller reading a key is cancelled while another waits for the key:
// the other caller, whose context is live, must not fail with the first
// caller's cancellation. It reads the key itself.
func TestReaderCancelledWhileOthersWait(t *testing.T) {
	t.Parallel()
	d := newFake("shared", "other")
	entered, release := make(chan []string, 3), make(chan struct{})
	d.hook = hold("shared", entered, release)
	tab := join.NewTable(d, nil)
	ctx, cancel := context.WithCancel(context.Background())
	a := goLookup(ctx, tab, "shared")
	recv(t, entered)
	b := goLookup(context.Background(), tab, "shared", "other")
	recv(t, entered)
	cancel()
	if r := recv(t, a); r.err != context.Canceled {
		t.Fatalf("cancelled reader: %v, want context.Canceled", r.err)
	}
	rb := recv(t, b)
	if rb.err != nil {
		t.Fatalf("waiter with a live context failed: %v", rb.err)
	}
	wantRows(t, d, rb.rows, "shared", "other")
	if n := d.timesRead()["shared"]; n != 2 {
		t.Fatalf("shared read %d times, want 2", n)
	}
	close(release)
}

// Many workers looking up overlapping keys: every answer is right, and with
// a cache that holds everything no key is read twice.
func TestConcurrentLookupsReadEachKeyOnce(t *testing.T) {
	t.Parallel()
	var keys []string
	for i := range 200 {
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	d := newFake(keys[:150]...) // the last 50 have no row
	tab := join.NewTable(d, &join.Options{MaxKeysPerRead: 7})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 1))
			for range 200 {
				batch := make([]string, 1+rnd.IntN(20))
				for i := range batch {
					batch[i] = keys[rnd.IntN(len(keys))]
				}
				rows, err := tab.Lookup(context.Background(), batch)
				if err != nil {
					errs <- err
					return
				}
				for _, k := range batch {
					_, want := d.rows[k]
					if r, got := rows[k]; got != want || got && r.Key != k {
						errs <- fmt.Errorf("key %s: row %+v, found %v, want found %v", k, r, got, want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for k, n := range d.timesRead() {
		if n != 1 {
			t.Fatalf("key %s read %d times", k, n)
		}
	}
	s := tab.Stats()
	reads := d.Reads()
	var rows int64
	for _, r := range reads {
		for _, k := range r {
			if _, ok := d.rows[k]; ok {
				rows++
			}
		}
	}
	if s.Reads != int64(len(reads)) || s.Rows != rows || s.CacheMisses != int64(len(d.timesRead())) ||
		s.Missing != s.CacheMisses-s.Rows || s.Retries != 0 || s.Failures != 0 {
		t.Fatalf("stats %+v inconsistent with %d reads of %d rows", s, len(reads), rows)
	}
}

// Stats add up over a random sequence of lookups, compared with counts
// kept by the test.
func TestStatsAddUp(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(7, 7))
	var keys []string
	for i := range 60 {
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	d := payloadRows(1_000, keys[:40]...)
	tab := join.NewTable(d, &join.Options{CacheBytes: 12_000, MaxKeysPerRead: 4})
	var lookups int64
	for range 300 {
		batch := make([]string, 1+rnd.IntN(8))
		for i := range batch {
			batch[i] = keys[rnd.IntN(len(keys))]
		}
		slices.Sort(batch)
		lookups += int64(len(slices.Compact(slices.Clone(batch))))
		rows := lookup(t, tab, batch...)
		for _, k := range batch {
			if _, ok := rows[k]; ok != (slices.Index(keys, k) < 40) {
				t.Fatalf("key %s found %v", k, ok)
			}
		}
	}
	s := tab.Stats()
	reads := d.Reads()
	var read, found int64
	for _, r := range reads {
		read += int64(len(r))
		for _, k := range r {
			if _, ok := d.rows[k]; ok {
				found++
			}
		}
	}
	want := join.Stats{Reads: int64(len(reads)), Rows: found, CacheMisses: read, CacheHits: lookups - read, Missing: read - found}
	wantStats(t, s, want)
	if s.CacheHits == 0 || s.CacheMisses <= 60 {
		t.Fatalf("the workload did not exercise both hits and evictions: %+v", s)
	}
}

func TestCloseClosesTheDriver(t *testing.T) {
	t.Parallel()
	d := newFake()
	if err := join.NewTable(d, nil).Close(); err != nil || d.closed != 1 {
		t.Fatalf("Close = %v, driver closed %d times", err, d.closed)
	}
}

func TestUnavailableErrorText(t *testing.T) {
	t.Parallel()
	err := &join.UnavailableError{Source: "bigtable://p/i/t", Err: errTransient}
	if err.Error() != "join source bigtable://p/i/t unavailable: store busy" || err.Unwrap() != errTransient {
		t.Fatalf("%q", err)
	}
}

// Options out of range fall back to the defaults rather than crash a read.
func TestNonPositiveOptionsMeanDefaults(t *testing.T) {
	t.Parallel()
	d := newFake("a", "b")
	d.hook = failFirst(1, errTransient)
	var s sleeps
	tab := join.NewTable(d, &join.Options{MaxKeysPerRead: -1, Backoff: -time.Second, Sleep: s.sleep})
	wantRows(t, d, lookup(t, tab, "a", "b"), "a", "b")
	wantReads(t, d, []string{"a", "b"}, []string{"a", "b"})
	if ds := s.get(); len(ds) != 1 || ds[0] <= 0 || ds[0] > 100*time.Millisecond {
		t.Fatalf("sleeps %v, want one within the default backoff", ds)
	}
}
