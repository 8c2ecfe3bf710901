package join

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// store is a Driver over a map that records every read. Its hooks let a
// test fail reads or hold one open.
type store struct {
	rows map[string]Row

	mu    sync.Mutex
	reads [][]string
	// fail, when set, decides the error of each read, by its number from 1.
	fail func(n int) error
	// hold, when set, is called inside each read, unlocked.
	hold func(keys []string)
}

var errTransient = errors.New("transient")

func newStore(keys ...string) *store {
	s := &store{rows: map[string]Row{}}
	for _, k := range keys {
		s.rows[k] = Row{Key: k, Payload: []byte("row-" + k)}
	}
	return s
}

func (s *store) ReadRows(_ context.Context, keys []string) (map[string]Row, error) {
	s.mu.Lock()
	s.reads = append(s.reads, slices.Clone(keys))
	n, fail, hold := len(s.reads), s.fail, s.hold
	s.mu.Unlock()
	if hold != nil {
		hold(keys)
	}
	if fail != nil {
		if err := fail(n); err != nil {
			return nil, err
		}
	}
	out := map[string]Row{}
	for _, k := range keys {
		if r, ok := s.rows[k]; ok {
			out[k] = r
		}
	}
	return out, nil
}

func (s *store) IsTransient(err error) bool { return errors.Is(err, errTransient) }
func (s *store) Describe() string           { return "store" }
func (s *store) Close() error               { return nil }

func (s *store) readLog() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reads)
}

// noSleep records the waits between retries instead of waiting.
type noSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (n *noSleep) sleep(_ context.Context, d time.Duration) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.waits = append(n.waits, d)
	return nil
}

func keysOf(rows map[string]Row) []string {
	var ks []string
	for k := range rows {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestLookupReadsUncachedKeysOnceInOneRead(t *testing.T) {
	t.Parallel()
	s := newStore("a", "b", "c", "d")
	tbl := NewTable(s, nil)
	ctx := t.Context()

	// A batch's keys, as many elements share them.
	rows, err := tbl.Lookup(ctx, []string{"a", "b", "a", "c", "b", "a"})
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(rows); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("rows %v", got)
	}
	if string(rows["b"].Payload) != "row-b" {
		t.Errorf("row b = %q", rows["b"].Payload)
	}
	// The next batch: cached keys are not read again, new ones in one read.
	if _, err := tbl.Lookup(ctx, []string{"c", "d", "a", "d"}); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"a", "b", "c"}, {"d"}}
	if got := s.readLog(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("reads %v, want %v", got, want)
	}
	st := tbl.Stats()
	if st.Reads != 2 || st.Rows != 4 || st.CacheMisses != 4 || st.CacheHits != 2 || st.Missing != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestLookupChunksLargeBatches(t *testing.T) {
	t.Parallel()
	var keys []string
	for i := range 7 {
		keys = append(keys, fmt.Sprint("k", i))
	}
	s := newStore(keys...)
	tbl := NewTable(s, &Options{MaxKeysPerRead: 3})
	rows, err := tbl.Lookup(t.Context(), keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 {
		t.Errorf("%d rows, want 7", len(rows))
	}
	var sizes []int
	for _, r := range s.readLog() {
		sizes = append(sizes, len(r))
	}
	if !slices.Equal(sizes, []int{3, 3, 1}) {
		t.Errorf("read sizes %v, want [3 3 1]", sizes)
	}
}

func TestLookupRemembersMissingKeys(t *testing.T) {
	t.Parallel()
	s := newStore("a")
	tbl := NewTable(s, nil)
	for range 2 {
		rows, err := tbl.Lookup(t.Context(), []string{"a", "nope"})
		if err != nil {
			t.Fatal(err)
		}
		if got := keysOf(rows); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("rows %v", got)
		}
	}
	if n := len(s.readLog()); n != 1 {
		t.Errorf("%d reads, want 1", n)
	}
	if st := tbl.Stats(); st.Missing != 1 || st.CacheHits != 2 {
		t.Errorf("stats %+v", st)
	}
}

// Two workers missing the same key at once read it once: the second waits
// for the first's read.
func TestLookupMergesConcurrentMisses(t *testing.T) {
	t.Parallel()
	s := newStore("a", "b", "c")
	firstIn := make(chan struct{})
	release := make(chan struct{})
	secondRead := make(chan struct{})
	s.hold = func(keys []string) {
		switch {
		case slices.Contains(keys, "a"):
			close(firstIn)
			<-release
		case slices.Equal(keys, []string{"c"}):
			// The second lookup reads its own key only after it has
			// registered as a waiter for a and b.
			close(secondRead)
		}
	}
	tbl := NewTable(s, nil)
	ctx := t.Context()

	first := make(chan error, 1)
	go func() {
		_, err := tbl.Lookup(ctx, []string{"a", "b"})
		first <- err
	}()
	<-firstIn
	second := make(chan map[string]Row, 1)
	go func() {
		rows, err := tbl.Lookup(ctx, []string{"b", "c", "a"})
		if err != nil {
			t.Error(err)
		}
		second <- rows
	}()
	<-secondRead
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got := keysOf(<-second); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("second lookup rows %v", got)
	}
	want := [][]string{{"a", "b"}, {"c"}}
	if got := s.readLog(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("reads %v, want %v", got, want)
	}
	if st := tbl.Stats(); st.CacheMisses != 3 || st.CacheHits != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestLookupCacheIsBoundedInBytes(t *testing.T) {
	t.Parallel()
	s := newStore("a", "b", "c")
	// Room for two of these rows: key 1 byte (counted twice), payload 5.
	per := int64(2*1+5) + entryOverhead
	tbl := NewTable(s, &Options{CacheBytes: 2 * per})
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c", "a"} {
		if _, err := tbl.Lookup(ctx, []string{k}); err != nil {
			t.Fatal(err)
		}
		if tbl.cache.size > 2*per {
			t.Fatalf("cache holds %d bytes, bound %d", tbl.cache.size, 2*per)
		}
	}
	// a was evicted by c, the least recently used, and read again.
	want := [][]string{{"a"}, {"b"}, {"c"}, {"a"}}
	if got := s.readLog(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("reads %v, want %v", got, want)
	}
	if n := tbl.cache.len(); n != 2 {
		t.Errorf("cache holds %d rows, want 2", n)
	}
}

func TestLookupRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	s := newStore("a")
	s.fail = func(n int) error {
		if n <= 2 {
			return errTransient
		}
		return nil
	}
	var ns noSleep
	tbl := NewTable(s, &Options{Retries: 3, Backoff: time.Second, Sleep: ns.sleep})
	rows, err := tbl.Lookup(t.Context(), []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Errorf("rows %v", keysOf(rows))
	}
	if st := tbl.Stats(); st.Reads != 3 || st.Retries != 2 || st.Failures != 0 {
		t.Errorf("stats %+v", st)
	}
	// Full jitter under a doubling cap: (0, 1s], then (0, 2s].
	if len(ns.waits) != 2 || ns.waits[0] <= 0 || ns.waits[0] > time.Second || ns.waits[1] <= 0 || ns.waits[1] > 2*time.Second {
		t.Errorf("waits %v", ns.waits)
	}
}

func TestLookupGivesUpAfterTheBound(t *testing.T) {
	t.Parallel()
	s := newStore("a")
	down := true
	s.fail = func(int) error {
		if down {
			return errTransient
		}
		return nil
	}
	var ns noSleep
	tbl := NewTable(s, &Options{Retries: 2, Sleep: ns.sleep})
	_, err := tbl.Lookup(t.Context(), []string{"a"})
	var ue *UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, errTransient) || ue.Source != "store" {
		t.Fatalf("err %v, want an UnavailableError wrapping the read's", err)
	}
	if st := tbl.Stats(); st.Reads != 3 || st.Retries != 2 || st.Failures != 1 {
		t.Errorf("stats %+v", st)
	}
	// A failure is not cached: once the store is back, the key is read.
	down = false
	if rows, err := tbl.Lookup(t.Context(), []string{"a"}); err != nil || len(rows) != 1 {
		t.Errorf("after the outage: rows %v, err %v", keysOf(rows), err)
	}
}

func TestLookupDoesNotRetryPermanentFailures(t *testing.T) {
	t.Parallel()
	s := newStore("a")
	permanent := errors.New("permission denied")
	s.fail = func(int) error { return permanent }
	tbl := NewTable(s, &Options{Sleep: new(noSleep).sleep})
	_, err := tbl.Lookup(t.Context(), []string{"a"})
	if !errors.Is(err, permanent) {
		t.Fatalf("err %v", err)
	}
	if n := len(s.readLog()); n != 1 {
		t.Errorf("%d reads, want 1", n)
	}
}
