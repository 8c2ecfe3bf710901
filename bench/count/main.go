// Command count measures counting an input's rows up front, which the
// progress display does beside the job for its total, against reading the
// same rows, and prints a JSON array of {case, measure, value, reference,
// target, met} rows:
//
//   - speed: rows counted per second against rows read and decoded per
//     second on one goroutine, as the job's feeder does them, in the same
//     run: for JSON lines, and for gzipped JSON lines (reported: gunzip
//     costs both);
//   - agreement: the count equals the rows read.
//
// Run it from the repository root:
//
//	go run ./bench/count [-trades N]
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/gridrun/gridrun/bench/benchrow"
	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/internal/testgen"
	"github.com/gridrun/gridrun/wrapper"
)

func main() {
	n := flag.Int("trades", 1_000_000, "number of trades")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench/count: ")
	rows, err := run(*n)
	if err != nil {
		log.Fatal(err)
	}
	if err := benchrow.Write(os.Stdout, rows); err != nil {
		log.Fatal(err)
	}
}

// countTarget is how much faster than reading and decoding the rows on
// one goroutine a count must be: the feeder decodes on every core, and a
// count that ended with the feeder would give the total too late.
const countTarget = 10

func run(n int) ([]benchrow.Row, error) {
	schema, err := wrapper.SchemaFromProtoFiles(context.Background(),
		[]string{"native/examples/pricer/pricer.proto"}, nil, "pricer.Trade", "pricer.Price", "pricer.Quote")
	if err != nil {
		return nil, fmt.Errorf("%v (run from the repository root)", err)
	}
	trades := testgen.Trades(n, testgen.Quotes(500, 1), 1, testgen.TradeOptions{AsianShare: 0.1, Paths: 4000})
	var plain bytes.Buffer
	if err := testgen.WriteJSONL(&plain, trades); err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain.Bytes())
	if err := zw.Close(); err != nil {
		return nil, err
	}
	var rows []benchrow.Row
	for _, c := range []struct {
		name string
		data []byte
		gz   bool
	}{{"JSON lines", plain.Bytes(), false}, {"gzipped JSON lines", gz.Bytes(), true}} {
		// Best of three: the machine is shared.
		var counted, read int64
		var countTook, readTook time.Duration
		for range 3 {
			start := time.Now()
			k, err := codec.Count(bytes.NewReader(c.data), "trades", codec.JSONL, c.gz)
			if err != nil {
				return nil, err
			}
			countTook = best(countTook, time.Since(start))
			start = time.Now()
			r, err := decodeRows(c.data, c.gz, schema)
			if err != nil {
				return nil, err
			}
			readTook = best(readTook, time.Since(start))
			counted, read = k, r
		}
		name := fmt.Sprintf("%d trades, %s (%.0f MiB)", n, c.name, float64(len(c.data))/(1<<20))
		ratio := readTook.Seconds() / countTook.Seconds()
		target := fmt.Sprintf(">= %d", countTarget)
		if c.gz {
			target = "reported" // gunzip costs the count as much as the read
		}
		rows = append(rows,
			benchrow.New(name, "rows counted per second / rows read and decoded per second", float64(int(ratio*100))/100,
				fmt.Sprintf("reading and decoding: %.0f rows per second; the count: %.0f", float64(read)/readTook.Seconds(), float64(counted)/countTook.Seconds()),
				target),
			benchrow.New(name, "rows counted = rows read", b2f(counted == read), fmt.Sprintf("%d rows read", read), "1"),
		)
	}
	return rows, nil
}

// decodeRows reads and decodes every row, as the job's feeder does, on one
// goroutine.
func decodeRows(data []byte, gz bool, schema *wrapper.Schema) (int64, error) {
	rd, err := codec.Open(bytes.NewReader(data), "trades", codec.JSONL, gz)
	if err != nil {
		return 0, err
	}
	key, _ := codec.ParseTemplate("{underlying}")
	d, err := codec.NewDecoder(schema.Input, rd, codec.JSONL, codec.DecoderOptions{Key: key})
	if err != nil {
		return 0, err
	}
	var n int64
	for {
		row, err := rd.Read()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if _, err := d.Decode(row); err != nil {
			return n, err
		}
		n++
	}
}

func best(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
