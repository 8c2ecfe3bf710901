// Package hashset is a set of 64-bit hashes at about 7 bytes an entry, a
// quarter of what a map[uint64]struct{} costs. The runner keeps the hash
// of every id it has read, to catch duplicates, and a job of ten million
// elements must still fit in a small, fixed memory budget.
package hashset

import (
	"encoding/binary"
	"math/bits"
)

// bucketBits picks the bucket by a hash's top bits: 65,536 buckets keep
// the sorted runs short (about 150 hashes at ten million), so an insert
// moves a few hundred bytes, while the bucket headers cost 1.5 MiB.
const bucketBits = 16

// width is the bytes a bucket stores per hash: the 48 bits below the
// bucket index.
const width = (64 - bucketBits) / 8

// lowMask keeps the bits of a hash a bucket stores.
const lowMask = 1<<(64-bucketBits) - 1

// Set is a set of uint64. Hashes are assumed uniform: a bucket is a sorted
// run of packed 48-bit values, searched and shifted in place, grown by a
// quarter at a time rather than doubled. Packing and the slow growth are
// where the saving over a map comes from.
type Set struct {
	buckets [][]byte
	n       int
	touched int // keeps Touch's loads from being optimised away
}

// New returns an empty set.
func New() *Set { return &Set{buckets: make([][]byte, 1<<bucketBits)} }

// Add adds h and reports whether it was new.
func (s *Set) Add(h uint64) bool {
	b := &s.buckets[h>>(64-bucketBits)]
	low := h & lowMask
	i, found := search(*b, low)
	if found {
		return false
	}
	n := len(*b)
	if n == cap(*b) {
		// A quarter more, at least four hashes, rounded up to the
		// allocator's size class (append from nil rounds the capacity
		// and nothing more): the rounding is memory the allocator hands
		// out anyway, and using it saves copies.
		grown := append([]byte(nil), make([]byte, n+(n/width/4+4)*width)...)
		copy(grown, *b)
		*b = grown[: n : cap(grown)/width*width]
	}
	*b = (*b)[:n+width]
	copy((*b)[(i+1)*width:], (*b)[i*width:n])
	put((*b)[i*width:], low)
	s.n++
	return true
}

// Contains reports whether h is in the set.
func (s *Set) Contains(h uint64) bool {
	_, found := search(s.buckets[h>>(64-bucketBits)], h&lowMask)
	return found
}

// Len returns the number of hashes in the set.
func (s *Set) Len() int { return s.n }

// search returns the index of the first value in b at or above v, and
// whether it equals v.
//
// The values of a bucket are uniform, so v's rank is close to
// v/2^48 of the run: search starts there and gallops outwards, which
// touches a cache line or two where a binary search of a long run (about
// 150 hashes at ten million) touches five, each likely a miss. A run that
// is not uniform costs a logarithm more, no worse.
func search(b []byte, v uint64) (int, bool) {
	n := len(b) / width
	if n == 0 {
		return 0, false
	}
	hi, _ := bits.Mul64(v<<bucketBits, uint64(n)) // v/2^48 of n
	g := int(hi)
	var lo int
	if get(b[g*width:]) < v {
		// The answer is above g: gallop up to a value at or above v.
		lo, hi := g+1, g+1
		for step := 1; hi < n && get(b[hi*width:]) < v; step *= 2 {
			lo, hi = hi+1, min(hi+step, n)
		}
		return bisect(b, v, lo, hi)
	}
	// The answer is g or below: gallop down to a value below v.
	lo, top := g, g
	for step := 1; lo > 0 && get(b[(lo-1)*width:]) >= v; step *= 2 {
		top, lo = lo-1, max(lo-1-step, 0)
	}
	return bisect(b, v, lo, top)
}

// bisect is search within [lo, hi], where the answer lies.
func bisect(b []byte, v uint64, lo, hi int) (int, bool) {
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if get(b[m*width:]) < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(b)/width && get(b[lo*width:]) == v
}

func get(p []byte) uint64 {
	return uint64(binary.LittleEndian.Uint32(p)) | uint64(binary.LittleEndian.Uint16(p[4:]))<<32
}

func put(p []byte, v uint64) {
	binary.LittleEndian.PutUint32(p, uint32(v))
	binary.LittleEndian.PutUint16(p[4:], uint16(v>>32))
}

// Touch reads the memory Add and Contains will read for each of hs, with
// no branch between the loads, so that the processor fetches them side by
// side: the set's memory is far larger than the caches, and a hash's
// bucket is a miss the processor would otherwise wait for one at a time.
// Calling it on a few hundred hashes before adding them is a hint; the
// answers are the same without it.
func (s *Set) Touch(hs []uint64) {
	var sink int
	for _, h := range hs {
		sink += len(s.buckets[h>>(64-bucketBits)])
	}
	for _, h := range hs {
		b := s.buckets[h>>(64-bucketBits)]
		if len(b) > 0 {
			hi, _ := bits.Mul64((h&lowMask)<<bucketBits, uint64(len(b)/width))
			sink += int(b[int(hi)*width])
		}
	}
	s.touched = sink
}
