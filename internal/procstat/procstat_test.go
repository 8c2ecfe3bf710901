package procstat

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// TestPeakRSSSeesAnAllocation touches 64 MiB and checks that the peak rose
// by at least that much. It measures in a fresh process: in this one, pages
// freed by an earlier run (-count) can still be resident and hold the
// allocation under the old peak.
func TestPeakRSSSeesAnAllocation(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("VmHWM is Linux's")
	}
	if os.Getenv("PROCSTAT_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPeakRSSSeesAnAllocation$", "-test.count=1")
		cmd.Env = append(os.Environ(), "PROCSTAT_CHILD=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
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
