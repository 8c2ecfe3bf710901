package benchrow

import (
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gridrun/gridrun/outdir"
)

// RunGridrun runs `gridrun run --binary BINARY --output OUT ARGS...`
// quietly, with its binary cache in cacheDir, into a fresh out, and
// returns the job's manifest and its wall time. A non-zero exit, or an
// element without a result, is an error: a benchmark times correct runs
// only. The run is logged with the runner's own peak RSS (rusage's would
// include the harness's, through the vfork that started the runner).
func RunGridrun(gridrun, binary, out, cacheDir string, args ...string) (*outdir.Manifest, time.Duration, error) {
	os.RemoveAll(out)
	cmd := exec.Command(gridrun, append([]string{"run", "--binary", binary, "--output", out, "--progress", "none", "--log-level", "warn"}, args...)...)
	cmd.Env = append(os.Environ(), "GRIDRUN_CACHE_DIR="+cacheDir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return nil, 0, fmt.Errorf("gridrun %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	m, err := outdir.ReadManifest(out)
	if err != nil {
		return nil, 0, err
	}
	if m.Results != m.Elements || m.DeadLetters != 0 {
		return nil, 0, fmt.Errorf("gridrun %s: %d results, %d dead letters", strings.Join(args, " "), m.Results, m.DeadLetters)
	}
	log.Printf("%s: %d elements in %.2f s, %d calls, %.0f MiB", filepath.Base(out), m.Elements, wall.Seconds(), m.Calls, float64(m.PeakRSSBytes)/(1<<20))
	return m, wall, nil
}
