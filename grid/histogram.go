package grid

import (
	"math"
	"sync"
)

// Histogram counts durations in buckets a quarter of an octave wide (each
// bound 19% above the last), from a microsecond to days: enough resolution
// to read quantiles for straggler detection, in constant memory.
type Histogram struct {
	mu     sync.Mutex
	counts [histBuckets]int64
	n      int64
	sum    float64
	min    float64
	max    float64
}

const (
	histBuckets = 160 // 40 octaves above 1µs
	histBase    = 1e-6
)

// bucketOf returns the bucket of a duration in seconds: bucket i holds
// values up to histBase * 2^((i+1)/4).
func bucketOf(sec float64) int {
	if sec <= histBase {
		return 0
	}
	i := int(math.Ceil(4*math.Log2(sec/histBase))) - 1
	return min(max(i, 0), histBuckets-1)
}

func bucketUpper(i int) float64 { return histBase * math.Exp2(float64(i+1)/4) }

// Add records one duration, in seconds.
func (h *Histogram) Add(sec float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[bucketOf(sec)]++
	if h.n == 0 || sec < h.min {
		h.min = sec
	}
	h.max = max(h.max, sec)
	h.n++
	h.sum += sec
}

// Quantile returns an upper bound of the q-quantile (0 < q <= 1), or 0 when
// empty.
func (h *Histogram) Quantile(q float64) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(bucketUpper(i), h.max)
		}
	}
	return h.max
}

// Mean returns the mean duration, or 0 when empty.
func (h *Histogram) Mean() float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Max returns the longest duration recorded, or 0 when empty.
func (h *Histogram) Max() float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.max
}

// Count returns the number of durations recorded.
func (h *Histogram) Count() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// Summary returns the histogram for the manifest.
func (h *Histogram) Summary() HistogramSummary {
	p50, p99 := h.Quantile(0.5), h.Quantile(0.99)
	h.mu.Lock()
	defer h.mu.Unlock()
	s := HistogramSummary{Count: h.n, Sum: h.sum, Min: h.min, Max: h.max, P50: p50, P99: p99, Buckets: []Bucket{}}
	for i, c := range h.counts {
		if c > 0 {
			s.Buckets = append(s.Buckets, Bucket{LE: bucketUpper(i), Count: c})
		}
	}
	return s
}
