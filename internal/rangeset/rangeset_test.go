package rangeset

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestAddMergesAdjacentAndOverlapping(t *testing.T) {
	var s Set
	s.Add(5, 7)
	s.Add(0, 2)
	s.Add(9, 10)
	s.Add(2, 3) // touches [0,2)
	s.Add(6, 9) // bridges [5,7) and [9,10)
	want := []Range{{0, 3}, {5, 10}}
	if !slices.Equal(s.Ranges(), want) {
		t.Fatalf("ranges %v, want %v", s.Ranges(), want)
	}
	if s.Len() != 8 {
		t.Fatalf("len %d", s.Len())
	}
}

// The set agrees with a map of the same values, whatever the order of adds.
func TestAgreesWithAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var s Set
	in := map[int64]bool{}
	for range 2000 {
		lo := r.Int64N(1000)
		hi := lo + r.Int64N(5)
		s.Add(lo, hi)
		for x := lo; x < hi; x++ {
			in[x] = true
		}
	}
	for x := int64(-1); x <= 1005; x++ {
		if s.Contains(x) != in[x] {
			t.Fatalf("Contains(%d) = %v, want %v", x, s.Contains(x), in[x])
		}
	}
	if s.Len() != int64(len(in)) {
		t.Fatalf("Len %d, want %d", s.Len(), len(in))
	}
	rs := s.Ranges()
	for i := 1; i < len(rs); i++ {
		if rs[i-1].Hi >= rs[i].Lo {
			t.Fatalf("ranges %v and %v touch or overlap", rs[i-1], rs[i])
		}
	}
}
