package aggregate

import "math"

// Sum is an exact sum of float64 values: Shewchuk's algorithm, as in
// Python's math.fsum. It keeps the running total as non-overlapping
// partials whose exact sum is the exact sum of the values added, so the
// rounded Value does not depend on the order of the additions or on how
// sums were split and merged. Kahan or Neumaier compensation was rejected:
// it reduces the error but leaves an order-dependent last bit, and the
// engines must agree to the bit whatever the batching.
//
// Infinities and NaNs are kept aside, as fsum does: the partials hold only
// finite values. The zero Sum is an empty sum.
type Sum struct {
	partials []float64
	// special is the sum of the non-finite values (±Inf, NaN): IEEE
	// addition of those is order-independent.
	special float64
	// overflow is the sum of the partials that overflowed, which only
	// values near MaxFloat64 can produce.
	overflow float64
}

// Add adds x.
func (s *Sum) Add(x float64) {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		s.special += x
		return
	}
	i := 0
	for _, y := range s.partials {
		if math.Abs(x) < math.Abs(y) {
			x, y = y, x
		}
		hi := x + y
		lo := y - (hi - x)
		if lo != 0 {
			s.partials[i] = lo
			i++
		}
		x = hi
	}
	s.partials = s.partials[:i]
	if math.IsInf(x, 0) {
		// Two finite partials whose sum overflows: the exact sum is out
		// of range; keep it as the infinity it rounds to.
		s.overflow += x
		x = 0
	}
	s.partials = append(s.partials, x)
}

// Merge adds the values of o.
func (s *Sum) Merge(o *Sum) {
	for _, p := range o.partials {
		s.Add(p)
	}
	s.special += o.special
	s.overflow += o.overflow
}

// Value returns the exact sum correctly rounded to a float64 (round half
// to even), or the IEEE sum of the non-finite values added.
func (s *Sum) Value() float64 {
	if s.special != 0 || math.IsNaN(s.special) {
		return s.special + s.overflow
	}
	if s.overflow != 0 {
		return s.overflow
	}
	p := s.partials
	n := len(p)
	if n == 0 {
		return 0
	}
	// Sum from the top down until the sum is inexact; then fix the last
	// bit by looking at the sign of the next partial (fsum's final step).
	n--
	hi := p[n]
	var lo float64
	for n > 0 {
		x := hi
		n--
		y := p[n]
		hi = x + y
		yr := hi - x
		lo = y - yr
		if lo != 0 {
			break
		}
	}
	if n > 0 && (lo < 0 && p[n-1] < 0 || lo > 0 && p[n-1] > 0) {
		y := lo * 2
		x := hi + y
		yr := x - hi
		if y == yr {
			hi = x
		}
	}
	return hi
}
