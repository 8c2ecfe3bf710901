package join

import (
	"strings"
	"testing"
)

func cost(key string, payload int) int64 { return int64(2*len(key)+payload) + entryOverhead }

// check fails unless the cache holds exactly keys, most recent first, and
// its size is theirs.
func (c *lru) check(t *testing.T, keys ...string) {
	t.Helper()
	var got []string
	var size int64
	for el := c.order.Front(); el != nil; el = el.Next() {
		e := el.Value.(*entry)
		got = append(got, e.key)
		size += cost(e.key, len(e.row.Payload))
	}
	if strings.Join(got, ",") != strings.Join(keys, ",") || c.len() != len(keys) || c.size != size || c.size > c.max {
		t.Fatalf("cache %v (len %d, size %d of %d), want %v (size %d)", got, c.len(), c.size, c.max, keys, size)
	}
}

func row(key string, n int) Row { return Row{Key: key, Payload: make([]byte, n)} }

func TestLRUEvictsLeastRecent(t *testing.T) {
	t.Parallel()
	c := newLRU(cost("a", 100) * 3)
	c.put("a", row("a", 100), true)
	c.put("b", row("b", 100), true)
	c.put("c", Row{}, false) // known to have no row: cheaper
	c.check(t, "c", "b", "a")
	if _, _, hit := c.get("a"); !hit {
		t.Fatal("a not cached")
	}
	c.check(t, "a", "c", "b")
	c.put("d", row("d", 100), true) // b is the least recent
	c.check(t, "d", "a", "c")
	if _, ok, hit := c.get("c"); !hit || ok {
		t.Fatalf("c: ok %v hit %v, want a cached absence", ok, hit)
	}
	if _, _, hit := c.get("b"); hit {
		t.Fatal("b still cached")
	}
	c.put("big", row("big", 250), true) // evicts all but one
	c.check(t, "big", "c")
}

func TestLRUReplacesAKey(t *testing.T) {
	t.Parallel()
	c := newLRU(1 << 20)
	c.put("a", row("a", 10), true)
	c.put("b", row("b", 10), true)
	c.put("a", row("a", 500), true)
	c.check(t, "a", "b")
	r, ok, hit := c.get("a")
	if !hit || !ok || len(r.Payload) != 500 {
		t.Fatalf("a: %d bytes ok %v hit %v", len(r.Payload), ok, hit)
	}
}

func TestLRUSkipsWhatCannotFit(t *testing.T) {
	t.Parallel()
	c := newLRU(cost("a", 100))
	c.put("a", row("a", 100), true) // exactly fits
	c.check(t, "a")
	c.put("b", row("b", 101), true) // never fits: leaves the cache alone
	c.check(t, "a")
	z := newLRU(0)
	z.put("a", Row{}, false)
	z.check(t)
}
