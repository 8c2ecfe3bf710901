// Package procstat reads this process's memory figures from Linux's /proc.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PeakRSS returns this process's peak resident set size (VmHWM), in bytes.
// It is the peak of the process's own address space. getrusage's maxrss is
// not: a process started by Go's os/exec (a vfork) inherits its parent's
// peak there, so a large parent reports a large child.
func PeakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/self/status: VmHWM: %v", err)
			}
			return kib << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/self/status: no VmHWM")
}
