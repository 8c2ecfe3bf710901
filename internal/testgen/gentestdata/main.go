// Command gentestdata writes trades (JSON lines and the same in Parquet)
// and quotes files:
//
//	go run ./internal/testgen/gentestdata -trades 1000 -out testdata
package main

import (
	"flag"
	"log"
	"os"
	"path/filepath"

	"github.com/gridrun/gridrun/internal/testgen"
)

func main() {
	var (
		trades = flag.Int("trades", 1000, "number of trades")
		quotes = flag.Int("quotes", len(testgen.Underlyings), "number of underlyings")
		asian  = flag.Float64("asian", 0.1, "share of Asian (Monte Carlo) trades")
		paths  = flag.Int("paths", 4000, "Monte Carlo paths of an Asian trade")
		seed   = flag.Uint64("seed", 1, "random seed")
		out    = flag.String("out", "testdata", "output directory")
	)
	flag.Parse()
	qs := testgen.Quotes(*quotes, *seed)
	ts := testgen.Trades(*trades, qs, *seed, testgen.TradeOptions{AsianShare: *asian, Paths: *paths})
	write := func(name string, fn func(*os.File) error) {
		f, err := os.Create(filepath.Join(*out, name))
		if err != nil {
			log.Fatal(err)
		}
		if err := fn(f); err != nil {
			log.Fatal(err)
		}
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
	}
	write("trades.jsonl", func(f *os.File) error { return testgen.WriteJSONL(f, ts) })
	write("trades.parquet", func(f *os.File) error { return testgen.WriteParquet(f, ts, 100_000) })
	write("quotes.csv", func(f *os.File) error { return testgen.WriteQuotesCSV(f, qs) })
}
