// Package rangeset is a set of int64 kept as sorted, disjoint, half-open
// ranges. It records which input rows a job has finished: rows finish
// nearly in order, so a million finished rows are a handful of ranges.
package rangeset

import "sort"

// Range is the half-open interval [Lo, Hi).
type Range struct{ Lo, Hi int64 }

// Set is a set of int64. The zero value is empty and ready to use.
type Set struct {
	r []Range
}

// Add adds [lo, hi).
func (s *Set) Add(lo, hi int64) {
	if lo >= hi {
		return
	}
	// First range that ends at or after lo: the first that can merge.
	i := sort.Search(len(s.r), func(i int) bool { return s.r[i].Hi >= lo })
	j := i
	for j < len(s.r) && s.r[j].Lo <= hi {
		lo = min(lo, s.r[j].Lo)
		hi = max(hi, s.r[j].Hi)
		j++
	}
	if i == j {
		s.r = append(s.r, Range{})
		copy(s.r[i+1:], s.r[i:])
		s.r[i] = Range{lo, hi}
		return
	}
	s.r[i] = Range{lo, hi}
	s.r = append(s.r[:i+1], s.r[j:]...)
}

// Contains reports whether x is in the set.
func (s *Set) Contains(x int64) bool {
	i := sort.Search(len(s.r), func(i int) bool { return s.r[i].Hi > x })
	return i < len(s.r) && s.r[i].Lo <= x
}

// Ranges returns the ranges in order. The caller must not modify them.
func (s *Set) Ranges() []Range { return s.r }

// Len returns the number of values in the set.
func (s *Set) Len() int64 {
	var n int64
	for _, r := range s.r {
		n += r.Hi - r.Lo
	}
	return n
}
