package resultcache

import (
	"math/bits"
	"slices"
)

// index finds an entry by its key's first eight bytes. Keys are sha256
// digests, spread evenly, so the slots are counted into buckets by their
// prefix's top bits, about one slot per bucket: a lookup reads its
// bucket's bounds (a small table, cache-resident) and then one or two
// slots, one cache miss where a search of a million sorted slots takes
// several. The buckets are filled by a counting sort: no comparison sort
// of the whole index when the cache opens.
type index struct {
	slots []slot   // sorted by prefix, one slot per prefix
	start []uint32 // bucket b's slots are slots[start[b]:start[b+1]]
	shift uint     // a prefix's bucket is prefix >> shift
}

// bucketBytes is the memory of the bucket table per slot, at most: there
// are no more buckets than slots.
const bucketBytes = 4

// newIndex builds the index of the locations of packs 0, 1, …, locs[i]
// being pack i's. A prefix in several packs is found in the lowest
// numbered.
func newIndex(locs [][]location) index {
	n := 0
	for _, l := range locs {
		n += len(l)
	}
	b := max(bits.Len(uint(n))-1, 1) // 2^b buckets, n/2 < 2^b <= n
	x := index{start: make([]uint32, 1<<b+1), shift: uint(64 - b)}
	for _, l := range locs {
		for _, e := range l {
			x.start[prefixOf(e.key)>>x.shift+1]++
		}
	}
	for i := 1; i < len(x.start); i++ {
		x.start[i] += x.start[i-1]
	}
	// Placed in pack order, so that within a bucket the slots of one
	// prefix stand lowest pack first; a stable sort keeps them so.
	x.slots = make([]slot, n)
	next := slices.Clone(x.start[:len(x.start)-1])
	for pack, l := range locs {
		for _, e := range l {
			p := prefixOf(e.key)
			i := &next[p>>x.shift]
			x.slots[*i] = slot{prefix: p, pack: uint32(pack), off: e.off, len: e.len}
			*i++
		}
	}
	// Sort each bucket and keep one slot per prefix, moving the buckets
	// down over the slots dropped.
	w := uint32(0)
	for bk := range len(x.start) - 1 {
		lo, hi := x.start[bk], x.start[bk+1]
		s := x.slots[lo:hi]
		slices.SortStableFunc(s, func(a, b slot) int {
			switch {
			case a.prefix < b.prefix:
				return -1
			case a.prefix > b.prefix:
				return 1
			}
			return 0
		})
		x.start[bk] = w
		for i := range s {
			if i == 0 || s[i].prefix != s[i-1].prefix {
				x.slots[w] = s[i]
				w++
			}
		}
	}
	x.start[len(x.start)-1] = w
	x.slots = slices.Clip(x.slots[:w])
	return x
}

func (x *index) len() int { return len(x.slots) }

// find returns the slot of prefix p.
func (x *index) find(p uint64) (slot, bool) {
	if len(x.slots) == 0 {
		return slot{}, false
	}
	b := p >> x.shift
	s := x.slots[x.start[b]:x.start[b+1]]
	lo, hi := 0, len(s)
	for lo < hi { // a bucket holds one or two slots, unless the keys are not digests
		m := int(uint(lo+hi) >> 1)
		if s[m].prefix < p {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(s) || s[lo].prefix != p {
		return slot{}, false
	}
	return s[lo], true
}
