// Package testgen writes deterministic trade and quote files for the demo,
// the tests and the benchmarks.
package testgen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/parquet-go/parquet-go"
)

// Underlyings are the names quotes are generated for.
var Underlyings = []string{
	"AAPL", "AMZN", "ASML", "BABA", "BAC", "CVX", "GOOG", "JNJ", "JPM", "KO",
	"META", "MSFT", "NESN", "NVDA", "PFE", "SAP", "SHEL", "TSLA", "V", "XOM",
}

// Quote is one row of a quotes table.
type Quote struct {
	Underlying string  `json:"underlying"`
	Spot       float64 `json:"spot"`
	Vol        float64 `json:"vol"`
	Rate       float64 `json:"rate"`
	Dividend   float64 `json:"dividend"`
}

// Trade is one row of a trades file, in the pricer's JSON mapping.
type Trade struct {
	ID         string  `json:"id"`
	Underlying string  `json:"underlying"`
	Type       string  `json:"type"`
	Style      string  `json:"style"`
	Strike     float64 `json:"strike"`
	Expiry     float64 `json:"expiry"`
	Quantity   float64 `json:"quantity"`
	Paths      int     `json:"paths,omitempty"`
	Fixings    int     `json:"fixings,omitempty"`
}

// Quotes returns a quote for each of n underlyings: Underlyings first, then
// generated names.
func Quotes(n int, seed uint64) []Quote {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	out := make([]Quote, n)
	for i := range out {
		name := fmt.Sprintf("U%05d", i)
		if i < len(Underlyings) {
			name = Underlyings[i]
		}
		out[i] = Quote{
			Underlying: name,
			Spot:       round(20+r.Float64()*480, 2),
			Vol:        round(0.1+r.Float64()*0.5, 4),
			Rate:       round(0.01+r.Float64()*0.04, 4),
			Dividend:   round(r.Float64()*0.03, 4),
		}
	}
	return out
}

// TradeOptions shape generated trades.
type TradeOptions struct {
	// AsianShare is the fraction of Asian (Monte Carlo) trades.
	AsianShare float64
	// Paths is the Monte Carlo path count of Asian trades.
	Paths int
}

// Trades returns n trades on the given quotes.
func Trades(n int, quotes []Quote, seed uint64, o TradeOptions) []Trade {
	out := make([]Trade, 0, n)
	EachTrade(n, quotes, seed, o, func(t Trade) error {
		out = append(out, t)
		return nil
	})
	return out
}

// EachTrade generates the same trades as Trades, one at a time, for inputs
// too large to hold.
func EachTrade(n int, quotes []Quote, seed uint64, o TradeOptions, fn func(Trade) error) error {
	r := rand.New(rand.NewPCG(seed, 0xbf58476d1ce4e5b9))
	for i := range n {
		q := quotes[r.IntN(len(quotes))]
		t := Trade{
			ID:         fmt.Sprintf("T%07d", i+1),
			Underlying: q.Underlying,
			Type:       []string{"CALL", "PUT"}[r.IntN(2)],
			Style:      "EUROPEAN",
			Strike:     round(q.Spot*(0.7+0.6*r.Float64()), 2),
			Expiry:     round(0.1+2.9*r.Float64(), 4),
			Quantity:   float64(1 + r.IntN(100)*10),
		}
		if r.Float64() < o.AsianShare {
			t.Style, t.Paths, t.Fixings = "ASIAN", o.Paths, 12
		}
		if err := fn(t); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSONL writes one JSON object per line.
func WriteJSONL[T any](w io.Writer, rows []T) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteQuotesCSV writes quotes as CSV with a header.
func WriteQuotesCSV(w io.Writer, quotes []Quote) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "underlying,spot,vol,rate,dividend")
	for _, q := range quotes {
		fmt.Fprintf(bw, "%s,%g,%g,%g,%g\n", q.Underlying, q.Spot, q.Vol, q.Rate, q.Dividend)
	}
	return bw.Flush()
}

// parquetTrade is a trade as a Parquet file holds it: the JSON file's
// fields as columns, enums as strings, the Monte Carlo counts null for
// trades that have none (the JSON leaves them out).
type parquetTrade struct {
	ID         string  `parquet:"id"`
	Underlying string  `parquet:"underlying,dict"`
	Type       string  `parquet:"type,dict"`
	Style      string  `parquet:"style,dict"`
	Strike     float64 `parquet:"strike"`
	Expiry     float64 `parquet:"expiry"`
	Quantity   float64 `parquet:"quantity"`
	Paths      *int32  `parquet:"paths,optional"`
	Fixings    *int32  `parquet:"fixings,optional"`
}

// WriteParquet writes trades as a Parquet file (Snappy-compressed) of row
// groups of rowsPerGroup trades, written a group at a time.
func WriteParquet(w io.Writer, trades []Trade, rowsPerGroup int) error {
	pw := parquet.NewGenericWriter[parquetTrade](w, parquet.Compression(&parquet.Snappy),
		parquet.MaxRowsPerRowGroup(int64(rowsPerGroup)), parquet.CreatedBy("gridrun testgen", "", ""))
	rows := make([]parquetTrade, 0, min(rowsPerGroup, len(trades)))
	for start := 0; start < len(trades); start += rowsPerGroup {
		rows = rows[:0]
		for _, t := range trades[start:min(start+rowsPerGroup, len(trades))] {
			r := parquetTrade{ID: t.ID, Underlying: t.Underlying, Type: t.Type, Style: t.Style, Strike: t.Strike, Expiry: t.Expiry, Quantity: t.Quantity}
			if t.Paths != 0 {
				p, f := int32(t.Paths), int32(t.Fixings)
				r.Paths, r.Fixings = &p, &f
			}
			rows = append(rows, r)
		}
		if _, err := pw.Write(rows); err != nil {
			return err
		}
		if err := pw.Flush(); err != nil {
			return err
		}
	}
	return pw.Close()
}

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}
