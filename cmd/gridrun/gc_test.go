package main

import "testing"

func TestGCPercentGivesAFixedHeadroom(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},                // nothing measured yet: Go's default
		{heapHeadroom / 4, 100}, // a small heap grows by no more than itself
		{heapHeadroom, 100},     // the headroom equals the live heap
		{2 * heapHeadroom, 50},  // a large heap grows by the headroom only
		{8 * heapHeadroom, 25},  // and never collects more often than at 25%
		{heapHeadroom * 400, 25},
	} {
		if got := gcPercent(c.live); got != c.want {
			t.Errorf("gcPercent(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}
