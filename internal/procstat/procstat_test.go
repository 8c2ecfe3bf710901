package procstat

import (
	"runtime"
	"testing"
)

// TestPeakRSSSeesAnAllocation touches 64 MiB and checks that the peak rose
// by at least that much.
func TestPeakRSSSeesAnAllocation(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("VmHWM is Linux's")
	}
	before, err := PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 64<<20)
	for i := range b {
		b[i] = 1
	}
	after, err := PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(b)
	if after-before < 64<<20 {
		t.Errorf("peak RSS %d -> %d bytes after touching 64 MiB", before, after)
	}
}
