package codec

import (
	"bytes"
	"strings"
	"testing"
)

// Copies share blocks, but each is capped at its own length: appending to
// one reallocates instead of writing over the next.
func TestSlabCopiesAreIsolated(t *testing.T) {
	t.Parallel()
	var s slab
	var copies [][]byte
	var want []string
	for i := range 3000 { // several blocks
		text := strings.Repeat(string(rune('a'+i%26)), i%50)
		copies = append(copies, s.copy([]byte(text)))
		want = append(want, text)
	}
	wide := bytes.Repeat([]byte("w"), slabMax+1)
	copies, want = append(copies, s.copy(wide)), append(want, string(wide))
	for i := range copies {
		if len(copies[i]) <= slabMax && cap(copies[i]) != len(copies[i]) { // a wider one is its own allocation
			t.Fatalf("copy %d: cap %d, len %d", i, cap(copies[i]), len(copies[i]))
		}
		_ = append(copies[i], "XYZ"...)
	}
	for i := range copies {
		if string(copies[i]) != want[i] {
			t.Fatalf("copy %d = %q, want %q", i, copies[i], want[i])
		}
	}
}
