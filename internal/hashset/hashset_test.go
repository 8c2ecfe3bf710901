package hashset

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// TestMatchesAMap adds the same hashes to a Set and a map, duplicates
// included, and checks that both agree on every answer.
func TestMatchesAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s, m := New(), map[uint64]bool{}
	var added []uint64
	for range 200_000 {
		h := r.Uint64()
		if len(added) > 0 && r.IntN(4) == 0 {
			h = added[r.IntN(len(added))] // a duplicate
		}
		if got, want := s.Add(h), !m[h]; got != want {
			t.Fatalf("Add(%#x) = %v, want %v", h, got, want)
		}
		m[h] = true
		added = append(added, h)
	}
	if s.Len() != len(m) {
		t.Errorf("Len() = %d, want %d", s.Len(), len(m))
	}
	for range 10_000 {
		h := r.Uint64()
		if s.Contains(h) != m[h] {
			t.Fatalf("Contains(%#x) = %v, want %v", h, !m[h], m[h])
		}
	}
}

// TestOneCrowdedBucket holds hashes that share their top bits, and the
// extremes, which a bucket's boundaries could mishandle.
func TestOneCrowdedBucket(t *testing.T) {
	s := New()
	// The packed value's bit 32 and bit 47 sit at its two parts' edges.
	hs := []uint64{0, math.MaxUint64, 1, math.MaxUint64 - 1, 0xabcd<<48 | 1<<47, 0xabcd<<48 | 1<<32}
	for i := range uint64(5000) {
		hs = append(hs, 0xabcd<<48|i*7919%5000)
	}
	for _, h := range hs {
		if !s.Add(h) {
			t.Fatalf("Add(%#x) = false on first add", h)
		}
	}
	for _, h := range hs {
		if s.Add(h) {
			t.Fatalf("Add(%#x) = true on second add", h)
		}
		if !s.Contains(h) {
			t.Fatalf("Contains(%#x) = false", h)
		}
	}
	if s.Contains(0xabcd<<48 | 5000) {
		t.Error("Contains reports a hash never added")
	}
	if s.Len() != len(hs) {
		t.Errorf("Len() = %d, want %d", s.Len(), len(hs))
	}
}

// BenchmarkAdd reports the heap a Set and a map hold per hash.
func BenchmarkAdd(b *testing.B) {
	const n = 1_000_000
	for _, c := range []struct {
		name string
		add  func() any
	}{
		{"hashset", func() any {
			s := New()
			r := rand.New(rand.NewPCG(3, 4))
			for range n {
				s.Add(r.Uint64())
			}
			return s
		}},
		{"map", func() any {
			m := map[uint64]struct{}{}
			r := rand.New(rand.NewPCG(3, 4))
			for range n {
				m[r.Uint64()] = struct{}{}
			}
			return m
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var perEntry float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				kept := c.add()
				runtime.GC()
				runtime.ReadMemStats(&after)
				perEntry = float64(after.HeapAlloc-before.HeapAlloc) / n
				runtime.KeepAlive(kept)
			}
			b.ReportMetric(perEntry, "heap-B/hash")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/add")
		})
	}
}

// TestSearchMatchesBisection holds search, which starts from a guess and
// gallops, to a plain binary search, on runs that are uniform (as a
// bucket's are), crowded at one end, or all one value, for values in the
// run, between its values and beyond its ends.
func TestSearchMatchesBisection(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const top = 1 << (64 - bucketBits)
	for trial := range 3000 {
		n := r.IntN(300)
		vals := make([]uint64, n)
		for i := range vals {
			switch trial % 3 {
			case 0:
				vals[i] = r.Uint64N(top)
			case 1:
				vals[i] = r.Uint64N(1000) // all near 0: every guess is far off
			case 2:
				vals[i] = top - 1 - r.Uint64N(3) // at the top, repeated
			}
		}
		slices.Sort(vals)
		b := make([]byte, n*width)
		for i, v := range vals {
			put(b[i*width:], v)
		}
		probes := []uint64{0, 1, top - 1, top / 2, r.Uint64N(top)}
		for _, v := range vals {
			probes = append(probes, v, v+1, v-1)
		}
		for _, v := range probes {
			v &= top - 1
			want, wantFound := slices.BinarySearch(vals, v)
			got, found := search(b, v)
			if got != want || found != wantFound {
				t.Fatalf("trial %d: search(%d values, %#x) = %d, %v; want %d, %v", trial, n, v, got, found, want, wantFound)
			}
		}
	}
}

// TestTouchChangesNothing adds hashes in chunks, touched first, and holds
// the answers to a map's.
func TestTouchChangesNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	s, m := New(), map[uint64]bool{}
	var added []uint64
	for range 400 {
		chunk := make([]uint64, r.IntN(300))
		for i := range chunk {
			chunk[i] = r.Uint64()
			if len(added) > 0 && r.IntN(5) == 0 {
				chunk[i] = added[r.IntN(len(added))]
			}
		}
		s.Touch(chunk)
		for _, h := range chunk {
			if got, want := s.Add(h), !m[h]; got != want {
				t.Fatalf("Add(%#x) = %v, want %v", h, got, want)
			}
			m[h] = true
			added = append(added, h)
		}
	}
	if s.Len() != len(m) {
		t.Errorf("Len() = %d, want %d", s.Len(), len(m))
	}
}
