// Package hashset is a set of 64-bit hashes at about 7 bytes an entry, a
// quarter of what a map[uint64]struct{} costs. The runner keeps the hash
// of every id it has read, to catch duplicates, and a job of ten million
// elements must still fit in a small, fixed memory budget.
package hashset

import "encoding/binary"

// bucketBits picks the bucket by a hash's top bits: 65,536 buckets keep
// the sorted runs short (about 150 hashes at ten million), so an insert
// moves a few hundred bytes, while the bucket headers cost 1.5 MiB.
const bucketBits = 16

// width is the bytes a bucket stores per hash: the 48 bits below the
// bucket index.
const width = (64 - bucketBits) / 8

// Set is a set of uint64. Hashes are assumed uniform: a bucket is a sorted
// run of packed 48-bit values, searched and shifted in place, grown by a
// quarter at a time rather than doubled. Packing and the slow growth are
// where the saving over a map comes from.
type Set struct {
	buckets [][]byte
	n       int
}

// New returns an empty set.
func New() *Set { return &Set{buckets: make([][]byte, 1<<bucketBits)} }

// Add adds h and reports whether it was new.
func (s *Set) Add(h uint64) bool {
	b := &s.buckets[h>>(64-bucketBits)]
	low := h & (1<<(64-bucketBits) - 1)
	i, found := search(*b, low)
	if found {
		return false
	}
	n := len(*b)
	if n == cap(*b) {
		grown := make([]byte, n, n+(n/width/4+4)*width)
		copy(grown, *b)
		*b = grown
	}
	*b = (*b)[:n+width]
	copy((*b)[(i+1)*width:], (*b)[i*width:n])
	put((*b)[i*width:], low)
	s.n++
	return true
}

// Contains reports whether h is in the set.
func (s *Set) Contains(h uint64) bool {
	_, found := search(s.buckets[h>>(64-bucketBits)], h&(1<<(64-bucketBits)-1))
	return found
}

// Len returns the number of hashes in the set.
func (s *Set) Len() int { return s.n }

// search returns the index of the first value in b at or above v, and
// whether it equals v.
func search(b []byte, v uint64) (int, bool) {
	lo, hi := 0, len(b)/width
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
