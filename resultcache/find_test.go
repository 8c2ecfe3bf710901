package resultcache

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// The index must answer as a scan of every pack does, newest (lowest
// numbered) pack first, whether the prefixes are spread evenly (sha256)
// or crowded into one bucket, searched for or found from the entry before
// in its pack, and for prefixes present in one pack or several (or twice
// in one), absent, below the first and above the last.
func TestIndexAnswersAsAScanOfThePacks(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	spreads := map[string]func() uint64{
		"even":    r.Uint64,
		"crowded": func() uint64 { return r.Uint64N(1 << 20) },
		"top":     func() uint64 { return ^r.Uint64N(1 << 20) },
	}
	for name, draw := range spreads {
		for _, n := range []int{0, 1, 2, 3, 100, 10000} {
			// Three packs; the second repeats some prefixes of the first,
			// the third some of both.
			locs := make([][]location, 3)
			var drawn []uint64
			for i := range n {
				pack := i % 3
				p := draw()
				if pack > 0 && i%5 == 0 && len(drawn) > 0 {
					p = drawn[r.IntN(len(drawn))]
				}
				drawn = append(drawn, p)
				var k Key
				binary.BigEndian.PutUint64(k[:8], p)
				locs[pack] = append(locs[pack], location{key: k, off: uint32(i), len: entryOverhead})
			}
			x := newIndex(locs)
			want := map[uint64]slot{}
			for pack := len(locs) - 1; pack >= 0; pack-- { // the first written wins
				for i := len(locs[pack]) - 1; i >= 0; i-- {
					l := locs[pack][i]
					want[prefixOf(l.key)] = slot{prefix: prefixOf(l.key), pack: uint32(pack), ord: uint32(i)}
				}
			}
			if x.len() != len(want) {
				t.Fatalf("%s, %d entries: the index holds %d slots, want one per prefix, %d", name, n, x.len(), len(want))
			}
			probes := []uint64{0, ^uint64(0), draw(), draw()}
			for _, p := range drawn {
				probes = append(probes, p, p+1, p-1)
			}
			for _, p := range probes {
				w, present := want[p]
				got, ok := x.find(p)
				if ok != present || got != w {
					t.Fatalf("%s, %d entries: find(%#x) = %+v, %v; want %+v, %v", name, n, p, got, ok, w, present)
				}
			}
			// next, from each entry of a pack, finds the one after it
			// exactly when find would answer with it.
			for pack, l := range locs {
				for i := 0; i+1 < len(l); i++ {
					p := prefixOf(l[i+1].key)
					after := slot{prefix: prefixOf(l[i].key), pack: uint32(pack), ord: uint32(i)}
					w := want[p]
					present := w.pack == uint32(pack) && w.ord == uint32(i+1)
					got, ok := x.next(after, p)
					if ok != present || ok && got != w {
						t.Fatalf("%s, %d entries: next(%+v, %#x) = %+v, %v; find gives %+v", name, n, after, p, got, ok, w)
					}
					if ok && x.entry(got).off != l[i+1].off {
						t.Fatalf("%s, %d entries: the entry after %+v lies at %d, want %d", name, n, after, x.entry(got).off, l[i+1].off)
					}
				}
			}
		}
	}
}
