// Command scenarios measures the scenario fan-out (gridrun run
// --scenarios) against doing it by hand, and prints a JSON array of
// benchrow.Row:
//
//   - 10,000 cheap (Black-Scholes) trades under 1,000 scenarios, 10 M
//     pricings, from a 10,000-row input: the runner's peak RSS, and its
//     wall time against the same 10 M pricings given as a materialised
//     10 M-row input (each trade written once per scenario, under an id of
//     its own), run in the same harness with the same flags.
//
// The reference's rows carry no shock (the pricer's Trade has no field
// for one), so both runs do the same work per element: one Black-Scholes
// pricing of a joined quote, one result line. The fan-out's results are a
// little longer (their "scenario" field), and its batches carry the
// scenario besides the elements.
//
// Every job runs the real CLI (bin/gridrun) in a child process. Run from
// the repository root after make build:
//
//	go run ./bench/scenarios [-smoke] [-trades 10000] [-scenarios 1000]
//
// -smoke runs 200 trades under 50 scenarios, to keep the harness working;
// its figures mean nothing.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/gridrun/gridrun/bench/benchrow"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testgen"
)

func main() {
	isSmoke := flag.Bool("smoke", false, "200 trades under 50 scenarios, to check the harness")
	trades := flag.Int("trades", 10_000, "trades of the portfolio")
	scenarios := flag.Int("scenarios", 1_000, "scenarios each trade runs under")
	bin := flag.String("bin", "bin", "directory of gridrun and pricer (make build)")
	work := flag.String("work", "", "scratch directory (default: a new temporary one, removed at the end)")
	flag.Parse()
	log.SetFlags(log.Ltime)
	log.SetPrefix("bench/scenarios: ")
	if *isSmoke {
		*trades, *scenarios = 200, 50
	}
	rows, err := run(*bin, *work, *trades, *scenarios)
	if err != nil {
		log.Fatal(err)
	}
	if err := benchrow.Write(os.Stdout, rows); err != nil {
		log.Fatal(err)
	}
}

func run(bin, work string, nTrades, nScen int) ([]benchrow.Row, error) {
	gridrun, err := filepath.Abs(filepath.Join(bin, "gridrun"))
	if err != nil {
		return nil, err
	}
	pricer, err := filepath.Abs(filepath.Join(bin, "pricer"))
	if err != nil {
		return nil, err
	}
	for _, p := range []string{gridrun, pricer} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%v (run make build first)", err)
		}
	}
	if work == "" {
		if work, err = os.MkdirTemp("", "gridrun-bench-scenarios-*"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(work)
	}
	quotes := testgen.Quotes(len(testgen.Underlyings), 1)
	quotesFile := filepath.Join(work, "quotes.csv")
	if err := benchrow.WriteFile(quotesFile, func(w *bufio.Writer) error { return testgen.WriteQuotesCSV(w, quotes) }); err != nil {
		return nil, err
	}
	trades := testgen.Trades(nTrades, quotes, 16, testgen.TradeOptions{})

	// The portfolio and its scenarios.
	portfolio := filepath.Join(work, "trades.jsonl")
	if err := benchrow.WriteFile(portfolio, func(w *bufio.Writer) error { return testgen.WriteJSONL(w, trades) }); err != nil {
		return nil, err
	}
	scenFile := filepath.Join(work, "scenarios.jsonl")
	if err := benchrow.WriteFile(scenFile, func(w *bufio.Writer) error { return writeScenarios(w, nScen) }); err != nil {
		return nil, err
	}
	// The same pricings by hand: each trade once per scenario.
	materialised := filepath.Join(work, "materialised.jsonl")
	if err := benchrow.WriteFile(materialised, func(w *bufio.Writer) error {
		enc := json.NewEncoder(w)
		for s := range nScen {
			for _, t := range trades {
				t.ID = fmt.Sprintf("%s/S%04d", t.ID, s)
				if err := enc.Encode(t); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}

	job := func(name string, args ...string) (*result, error) {
		return runJob(gridrun, pricer, filepath.Join(work, name), filepath.Join(work, "cache"),
			append([]string{"--join", quotesFile, "--join-key", "{underlying}"}, args...)...)
	}
	// The reference first: its input is the larger file, and the page
	// cache holds both afterwards either way.
	byHand, err := job("materialised-out", "--input", materialised)
	if err != nil {
		return nil, err
	}
	os.Remove(materialised)
	os.RemoveAll(filepath.Join(work, "materialised-out"))
	fanOut, err := job("scenarios-out", "--input", portfolio, "--scenarios", scenFile)
	if err != nil {
		return nil, err
	}
	n := int64(nTrades) * int64(nScen)
	if fanOut.m.Results != n || byHand.m.Results != n {
		return nil, fmt.Errorf("%d and %d results, want %d each", fanOut.m.Results, byHand.m.Results, n)
	}
	label := fmt.Sprintf("%d trades × %d scenarios", nTrades, nScen)
	return []benchrow.Row{
		benchrow.New(label, "peak RSS of the runner, MiB", benchrow.Round(float64(fanOut.m.PeakRSSBytes)/(1<<20)),
			fmt.Sprintf("256 MiB; the materialised run's %.0f MiB", float64(byHand.m.PeakRSSBytes)/(1<<20)), "< 256"),
		benchrow.New(label, "wall time / materialised input's", benchrow.Round(fanOut.wall.Seconds()/byHand.wall.Seconds()),
			fmt.Sprintf("%d-row input, same pricings: %.1f s (fan-out %.1f s, %d and %d calls)",
				n, byHand.wall.Seconds(), fanOut.wall.Seconds(), fanOut.m.Calls, byHand.m.Calls), "<= 1.2"),
	}, nil
}

// writeScenarios writes n scenarios: the base, then random spot, vol and
// rate shocks, small enough that every shocked vol stays positive.
func writeScenarios(w *bufio.Writer, n int) error {
	r := rand.New(rand.NewPCG(16, 16))
	enc := json.NewEncoder(w)
	for i := range n {
		s := map[string]any{"id": fmt.Sprintf("S%04d", i)}
		if i == 0 {
			s["id"] = "base"
		} else {
			s["spot_shift"] = math.Round((r.Float64()*0.4-0.2)*1e4) / 1e4
			s["vol_shift"] = math.Round((r.Float64()*0.1-0.05)*1e4) / 1e4
			s["rate_shift"] = math.Round((r.Float64()*0.02-0.01)*1e5) / 1e5
		}
		if err := enc.Encode(s); err != nil {
			return err
		}
	}
	return nil
}

// result is one gridrun run.
type result struct {
	wall time.Duration
	m    *grid.Manifest
}

// runJob runs gridrun with the pricer into out and checks that every
// element got a result.
func runJob(gridrun, pricer, out, cache string, args ...string) (*result, error) {
	m, wall, err := benchrow.RunGridrun(gridrun, pricer, out, cache, args...)
	if err != nil {
		return nil, err
	}
	return &result{wall: wall, m: m}, nil
}
