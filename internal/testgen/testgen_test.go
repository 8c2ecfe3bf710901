package testgen_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/gridrun/gridrun/internal/testgen"
)

// testdata/trades.parquet holds the trades of testdata/trades.jsonl, as
// gentestdata writes them.
func TestTradesParquetIsCurrent(t *testing.T) {
	f, err := os.Open("../../testdata/trades.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var trades []testgen.Trade
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var tr testgen.Trade
		if err := json.Unmarshal(sc.Bytes(), &tr); err != nil {
			t.Fatal(err)
		}
		trades = append(trades, tr)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := testgen.WriteParquet(&want, trades, 100_000); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../testdata/trades.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("testdata/trades.parquet is stale: run go run ./internal/testgen/gentestdata -out testdata")
	}
}
