package resultcache

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// find's search from an even spread must answer as a plain binary search
// does, whether the prefixes are spread evenly (sha256) or crowded at one
// end, and for keys present, absent, below the first and above the last.
func TestFindAnswersAsABinarySearch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	spreads := map[string]func() uint64{
		"even":    r.Uint64,
		"crowded": func() uint64 { return r.Uint64N(1 << 20) },
		"top":     func() uint64 { return ^r.Uint64N(1 << 20) },
	}
	for name, draw := range spreads {
		for _, n := range []int{0, 1, 2, 3, 100, 10000} {
			c := &Cache{}
			for range n {
				c.index = append(c.index, slot{prefix: draw()})
			}
			slices.SortFunc(c.index, func(a, b slot) int {
				if a.prefix < b.prefix {
					return -1
				}
				if a.prefix > b.prefix {
					return 1
				}
				return 0
			})
			probes := []uint64{0, ^uint64(0), draw(), draw()}
			for _, s := range c.index {
				probes = append(probes, s.prefix, s.prefix+1, s.prefix-1)
			}
			for _, p := range probes {
				var k Key
				binary.BigEndian.PutUint64(k[:8], p)
				i := sort.Search(len(c.index), func(i int) bool { return c.index[i].prefix >= p })
				want := i < len(c.index) && c.index[i].prefix == p
				got, ok := c.find(k)
				if ok != want || (ok && got.prefix != p) {
					t.Fatalf("%s, %d entries: find(%#x) = %v, %v; a binary search says %v", name, n, p, got, ok, want)
				}
			}
		}
	}
}
