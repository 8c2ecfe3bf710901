// Command beam measures what the local Beam path costs: the same job (the
// demo's shape, 100,000 European trades priced by the example pricer with
// their quotes joined from a CSV table) run by the local engine and as a
// Beam pipeline on prism, in this machine's one process each. It prints a
// JSON array of benchrow rows:
// wall-clock seconds and peak RSS (VmHWM) of each, their ratios
// prism/local, and whether both wrote the same results.
//
// The Beam path makes batches of --batch-size (100) and no more, where the
// local engine, by default, grows them until a call lasts about 2s (a
// cheap pricer's whole input fits in a few calls). The ratio that measures
// the Beam path itself is therefore against the local engine at the same
// fixed batch size; the one against the local engine's defaults says what
// a user sees.
//
// Each job runs in a child process (this program, re-executed), so that
// its peak RSS is its own. Run it from the repository root after make
// build (about a minute on 2 cores):
//
//	go run ./bench/beam
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/gridrun/gridrun/beamgrid"
	"github.com/gridrun/gridrun/bench/benchrow"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/procstat"
	"github.com/gridrun/gridrun/internal/testgen"
)

const trades = 100_000

// Targets: the Beam path on one machine is for trying a pipeline before
// Dataflow, not for production runs, so it may cost more than the local
// engine, within bounds a user can live with: at most three times its time
// at the same batch size, and memory that fits a laptop. Prism holds every
// PCollection in memory, so its peak RSS grows with the input (the local
// engine's does not); it is reported against the local engine's, with no
// target on the ratio.
const (
	maxWallRatio = 3.0
	maxPrismMiB  = 1024.0
)

// report is what a child prints.
type report struct {
	WallSeconds float64 `json:"wall_seconds"`
	VmHWMKiB    int64   `json:"vmhwm_kib"`
	Results     int64   `json:"results"`
	DeadLetters int64   `json:"dead_letters"`
	Calls       int64   `json:"calls"`
}

func main() {
	child := flag.String("child", "", "run the job on this engine, local, local-fixed or prism, and report (internal)")
	pricer := flag.String("pricer", "bin/pricer", "the example pricer, built by make build")
	dir := flag.String("dir", "", "child: the directory of the inputs and outputs")
	flag.Parse()
	beam.Init()
	log.SetFlags(0)
	log.SetPrefix("bench/beam: ")
	if *child != "" {
		rep, err := runChild(*child, *pricer, *dir)
		if err != nil {
			log.Fatal(err)
		}
		if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
			log.Fatal(err)
		}
		return
	}
	rows, err := runBench(*pricer)
	if err != nil {
		log.Fatal(err)
	}
	if err := benchrow.Write(os.Stdout, rows); err != nil {
		log.Fatal(err)
	}
}

func runBench(pricer string) ([]benchrow.Row, error) {
	if _, err := os.Stat(pricer); err != nil {
		return nil, fmt.Errorf("%v (run make build first)", err)
	}
	pricer, _ = filepath.Abs(pricer)
	dir, err := os.MkdirTemp("", "bench-beam-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// What go run ./internal/testgen/gentestdata -trades 100000 -asian 0
	// writes.
	qs := testgen.Quotes(len(testgen.Underlyings), 1)
	ts := testgen.Trades(trades, qs, 1, testgen.TradeOptions{AsianShare: 0, Paths: 4000})
	if err := writeFile(filepath.Join(dir, "trades.jsonl"), func(f *os.File) error { return testgen.WriteJSONL(f, ts) }); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, "quotes.csv"), func(f *os.File) error { return testgen.WriteQuotesCSV(f, qs) }); err != nil {
		return nil, err
	}

	loc, err := child("local", pricer, dir)
	if err != nil {
		return nil, err
	}
	fix, err := child("local-fixed", pricer, dir)
	if err != nil {
		return nil, err
	}
	pri, err := child("prism", pricer, dir)
	if err != nil {
		return nil, err
	}
	same, err := sameResults(filepath.Join(dir, "local"), filepath.Join(dir, "prism"))
	if err != nil {
		return nil, err
	}

	c := fmt.Sprintf("%d trades, parallelism %d: prism against the local engine", trades, runtime.NumCPU())
	wall := pri.WallSeconds / fix.WallSeconds
	rss := float64(pri.VmHWMKiB) / float64(loc.VmHWMKiB)
	return []benchrow.Row{
		benchrow.New(c, "wall-clock seconds, local engine (defaults: adaptive batches)", round(loc.WallSeconds, 2), fmt.Sprintf("%d calls", loc.Calls), "reported"),
		benchrow.New(c, "wall-clock seconds, local engine, batches of 100", round(fix.WallSeconds, 2), fmt.Sprintf("%d calls", fix.Calls), "reported"),
		benchrow.New(c, "wall-clock seconds, prism, batches of 100 at most", round(pri.WallSeconds, 2), fmt.Sprintf("%d calls", pri.Calls), "reported"),
		benchrow.New(c, "wall-clock ratio prism/local, same batch size", round(wall, 2), fmt.Sprintf("%.2f s on the local engine", fix.WallSeconds),
			fmt.Sprintf("<= %g", maxWallRatio)),
		benchrow.New(c, "wall-clock ratio prism/local, each engine's defaults", round(pri.WallSeconds/loc.WallSeconds, 2),
			fmt.Sprintf("%.2f s on the local engine", loc.WallSeconds), "reported"),
		benchrow.New(c, "peak RSS (MiB), local engine (defaults)", mib(loc.VmHWMKiB), "", "reported"),
		benchrow.New(c, "peak RSS (MiB), local engine, batches of 100", mib(fix.VmHWMKiB), "", "reported"),
		benchrow.New(c, "peak RSS (MiB), prism", mib(pri.VmHWMKiB), "", fmt.Sprintf("<= %g", maxPrismMiB)),
		benchrow.New(c, "peak RSS ratio prism/local, each engine's defaults", round(rss, 2), fmt.Sprintf("%.1f MiB on the local engine", mib(loc.VmHWMKiB)), "reported"),
		benchrow.New(c, "results, fewest of the three runs", float64(min(loc.Results, fix.Results, pri.Results)),
			fmt.Sprintf("prism %d, local %d and %d", pri.Results, loc.Results, fix.Results), fmt.Sprintf("== %d", trades)),
		benchrow.New(c, "dead letters, all three runs", float64(loc.DeadLetters+fix.DeadLetters+pri.DeadLetters),
			fmt.Sprintf("prism %d, local %d and %d", pri.DeadLetters, loc.DeadLetters, fix.DeadLetters), "== 0"),
		benchrow.New(c, "results identical (1 = yes)", b2f(same), "the local engine's results", "== 1"),
	}, nil
}

// child runs one engine's job in a child process.
func child(engine, pricer, dir string) (*report, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-child", engine, "-pricer", pricer, "-dir", dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s job: %w", engine, err)
	}
	rep := new(report)
	if err := json.Unmarshal(out, rep); err != nil {
		return nil, fmt.Errorf("%s job: %w", engine, err)
	}
	return rep, nil
}

func runChild(engine, pricer, dir string) (*report, error) {
	ctx := context.Background()
	job := grid.Job{
		Binary: pricer, CacheDir: filepath.Join(dir, "cache-"+engine),
		Inputs: []string{filepath.Join(dir, "trades.jsonl")},
		Join:   &grid.JoinSpec{Source: filepath.Join(dir, "quotes.csv"), Key: "{underlying}"},
		Output: filepath.Join(dir, engine),
	}
	start := time.Now()
	var m *grid.Manifest
	switch engine {
	case "local", "local-fixed":
		if engine == "local-fixed" {
			job.BatchSize, job.FixedBatchSize = 100, true
		}
		var err error
		if m, err = grid.Run(ctx, job, &grid.Hooks{Logger: slog.New(slog.DiscardHandler)}); err != nil {
			return nil, err
		}
	case "prism":
		slog.SetDefault(slog.New(slog.DiscardHandler)) // prism's own lines
		p, s := beam.NewPipelineWithRoot()
		if _, err := beamgrid.Build(ctx, s, job, &beamgrid.BuildOptions{Runner: "prism"}); err != nil {
			return nil, err
		}
		if _, err := prism.Execute(ctx, p); err != nil {
			return nil, err
		}
		var err error
		m, err = beamgrid.ReadManifest(ctx, job.Output)
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("engine %q: want local, local-fixed or prism", engine)
	}
	wall := time.Since(start).Seconds()
	hwm, err := procstat.PeakRSS()
	if err != nil {
		return nil, err
	}
	return &report{WallSeconds: wall, VmHWMKiB: hwm >> 10, Results: m.Results, DeadLetters: m.DeadLetters, Calls: m.Calls}, nil
}

// sameResults reports whether two outputs hold the same result lines.
func sameResults(a, b string) (bool, error) {
	ha, err := resultsHash(a)
	if err != nil {
		return false, err
	}
	hb, err := resultsHash(b)
	return ha == hb, err
}

func resultsHash(dir string) (string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "results-*.jsonl"))
	if err != nil {
		return "", err
	}
	var lines []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return "", err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return "", err
		}
	}
	slices.Sort(lines)
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func writeFile(path string, fill func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func mib(kib int64) float64 { return round(float64(kib)/1024, 1) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func round(x float64, places int) float64 {
	p := 1.0
	for range places {
		p *= 10
	}
	return float64(int64(x*p+0.5)) / p
}
