package resultcache

import (
	"math/bits"
	"slices"
)

// index finds an entry by its key's first eight bytes. Keys are sha256
// digests, spread evenly, so the slots are counted into buckets by their
// prefix's top bits, about one slot per bucket: a lookup reads its
// bucket's bounds (a small table) and then one or two slots, where a
// search of a million sorted slots takes several cache misses. The
// buckets are filled by a counting sort: no comparison sort of the whole
// index when the cache opens.
//
// The index also keeps each pack's entries in the order they were
// written, a call's results in its batch's order. A rerun batched as the
// run that stored them asks for the entries of one pack one after
// another: next finds each from the one before in the pack, reading
// memory in order, and only the first of a batch is searched for.
type index struct {
	slots []slot   // sorted by prefix, one slot per prefix
	start []uint32 // bucket b's slots are slots[start[b]:start[b+1]]
	shift uint     // a prefix's bucket is prefix >> shift
	packs [][]entry
}

// slot is the place of the entry whose key starts with prefix: the
// ord-th of its pack. Eight bytes of a sha256 tell a million entries apart
// all but once in 10^7 caches; the full key in the entry settles the
// rest, as a miss.
type slot struct {
	prefix    uint64
	pack, ord uint32
}

// entry is where an entry lies in its pack. An entry whose prefix a newer
// pack also holds has len 0: the newer is the one served.
type entry struct {
	prefix   uint64
	off, len uint32
}

// entryBytes is the memory of the index per entry: a slot, an entry and
// at most one bucket bound (there are no more buckets than slots).
const entryBytes = 16 + 16 + 4

// newIndex builds the index of the locations of packs 0, 1, …, locs[i]
// being pack i's. A prefix in several packs is found in the lowest
// numbered.
func newIndex(locs [][]location) index {
	n := 0
	for _, l := range locs {
		n += len(l)
	}
	b := max(bits.Len(uint(n))-1, 1) // 2^b buckets, n/2 < 2^b <= n
	x := index{start: make([]uint32, 1<<b+1), shift: uint(64 - b), packs: make([][]entry, len(locs))}
	for pack, l := range locs {
		x.packs[pack] = make([]entry, len(l))
		for i, e := range l {
			p := prefixOf(e.key)
			x.packs[pack][i] = entry{prefix: p, off: e.off, len: e.len}
			x.start[p>>x.shift+1]++
		}
	}
	for i := 1; i < len(x.start); i++ {
		x.start[i] += x.start[i-1]
	}
	// Placed in pack order, so that within a bucket the slots of one
	// prefix stand lowest pack first; a stable sort keeps them so.
	x.slots = make([]slot, n)
	next := slices.Clone(x.start[:len(x.start)-1])
	for pack, es := range x.packs {
		for ord, e := range es {
			i := &next[e.prefix>>x.shift]
			x.slots[*i] = slot{prefix: e.prefix, pack: uint32(pack), ord: uint32(ord)}
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
			if i > 0 && s[i].prefix == s[i-1].prefix {
				x.packs[s[i].pack][s[i].ord].len = 0 // superseded
				continue
			}
			x.slots[w] = s[i]
			w++
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

// next returns the slot of prefix p if it is the entry after after in
// after's pack: what find(p) returns, without the search.
func (x *index) next(after slot, p uint64) (slot, bool) {
	es := x.packs[after.pack]
	ord := after.ord + 1
	if int(ord) >= len(es) || es[ord].prefix != p || es[ord].len == 0 {
		return slot{}, false
	}
	return slot{prefix: p, pack: after.pack, ord: ord}, true
}

// entry returns the place of the entry at s.
func (x *index) entry(s slot) entry { return x.packs[s.pack][s.ord] }
