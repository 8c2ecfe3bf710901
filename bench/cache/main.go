// Command cache measures incremental reruns from the result cache and
// prints a JSON array of {case, measure, value, reference, target, met}
// rows:
//
//   - a job of cheap trades (European, priced in closed form, joined with
//     20 quotes) run twice with the same --result-cache: the second run's
//     wall time against the first's (target at most 0.5), the pack reads
//     per batch of the second run (target at most 1), its subprocess calls
//     (target 0) and its hits (target every trade).
//
// Both runs use fixed batches (--fixed-batch-size), as a rerun that wants
// one read per batch does: the second run's batches are the first run's
// calls, each stored as one pack. Run it from the repository root after
// make build:
//
//	go run ./bench/cache              # 1,000,000 trades
//	go run ./bench/cache -trades 50000
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/gridrun/gridrun/bench/benchrow"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testgen"
)

func main() {
	trades := flag.Int("trades", 1_000_000, "trades in the job")
	batch := flag.Int("batch-size", 5000, "elements per batch")
	pricer := flag.String("pricer", "bin/pricer", "the example pricer, built by make build")
	profile := flag.String("cpuprofile", "", "write the second run's CPU profile here")
	flag.Parse()
	cpuProfile = *profile
	log.SetFlags(0)
	log.SetPrefix("bench/cache: ")
	rows, err := run(*pricer, *trades, *batch)
	if err != nil {
		log.Fatal(err)
	}
	if err := benchrow.Write(os.Stdout, rows); err != nil {
		log.Fatal(err)
	}
}

// cpuProfile, when set, receives the second run's CPU profile.
var cpuProfile string

func run(pricer string, n, batch int) ([]benchrow.Row, error) {
	if _, err := os.Stat(pricer); err != nil {
		return nil, fmt.Errorf("%v (run make build first)", err)
	}
	dir, err := os.MkdirTemp("", "bench-cache-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	quotes := testgen.Quotes(len(testgen.Underlyings), 1)
	quotesFile := filepath.Join(dir, "quotes.csv")
	tradesFile := filepath.Join(dir, "trades.jsonl")
	if err := benchrow.WriteFile(quotesFile, func(w *bufio.Writer) error { return testgen.WriteQuotesCSV(w, quotes) }); err != nil {
		return nil, err
	}
	if err := benchrow.WriteFile(tradesFile, func(w *bufio.Writer) error {
		return testgen.EachTrade(n, quotes, 7, testgen.TradeOptions{}, func(t testgen.Trade) error {
			return testgen.WriteJSONL(w, []testgen.Trade{t})
		})
	}); err != nil {
		return nil, err
	}
	job := func(out string) grid.Job {
		return grid.Job{
			Binary:         pricer,
			CacheDir:       filepath.Join(dir, "bin-cache"),
			Inputs:         []string{tradesFile},
			Join:           &grid.JoinSpec{Source: quotesFile, Key: "{underlying}"},
			Output:         filepath.Join(dir, out),
			BatchSize:      batch,
			FixedBatchSize: true,
			Persistent:     true,
			ResultCache:    filepath.Join(dir, "result-cache"),
		}
	}
	hooks := &grid.Hooks{Logger: slog.New(slog.DiscardHandler)}
	ctx := context.Background()

	start := time.Now()
	first, err := grid.Run(ctx, job("first"), hooks)
	if err != nil {
		return nil, err
	}
	firstWall := time.Since(start).Seconds()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
	}
	start = time.Now()
	second, err := grid.Run(ctx, job("second"), hooks)
	pprof.StopCPUProfile()
	if err != nil {
		return nil, err
	}
	secondWall := time.Since(start).Seconds()
	log.Printf("%d trades in batches of %d: first run %.2fs (%d calls), second %.2fs (%d calls)", n, batch, firstWall, first.Calls, secondWall, second.Calls)
	if first.Results != int64(n) || second.Results != int64(n) {
		return nil, fmt.Errorf("%d and %d results, want %d each", first.Results, second.Results, n)
	}

	c := second.ResultCache
	name := fmt.Sprintf("%d cheap trades, rerun from the result cache", n)
	perBatch := float64(c.Reads) / float64(max(c.Lookups, 1))
	return []benchrow.Row{
		benchrow.New(name, "second run wall / first run wall", secondWall/firstWall,
			fmt.Sprintf("first run, computed and stored: %.2fs; second: %.2fs", firstWall, secondWall), "<= 0.5"),
		benchrow.New(name, "cache reads per batch, second run", perBatch,
			fmt.Sprintf("%d pack reads for %d batches looked up", c.Reads, c.Lookups), "<= 1"),
		benchrow.New(name, "subprocess calls, second run", float64(second.Calls),
			fmt.Sprintf("first run: %d calls", first.Calls), "== 0"),
		benchrow.New(name, "elements served from the cache, second run", float64(c.Hits),
			fmt.Sprintf("%d trades", n), fmt.Sprintf("== %d", n)),
	}, nil
}
