package codec_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/internal/testgen"
)

// BenchmarkDecodeParquet reads and decodes the benchmark's trades from
// Parquet, a row per iteration, the fast path on.
func BenchmarkDecodeParquet(b *testing.B) { benchmarkParquet(b, false) }

// BenchmarkDecodeParquetGeneral is BenchmarkDecodeParquet through the
// general path, the reference.
func BenchmarkDecodeParquetGeneral(b *testing.B) { benchmarkParquet(b, true) }

func benchmarkParquet(b *testing.B, general bool) {
	trades := testgen.Trades(200_000, testgen.Quotes(500, 1), 1, testgen.TradeOptions{AsianShare: 0.1, Paths: 4000})
	file := tradesParquet(b, trades, 100_000)
	key, _ := codec.ParseTemplate("{underlying}")
	open := func() (codec.Reader, *codec.Decoder) {
		r, d := parquetInput(b, tradeDesc(b), file, codec.DecoderOptions{Key: key})
		if general {
			sr, err := codec.NewSlowParquetReader(bytes.NewReader(file), int64(len(file)), "in.parquet")
			if err != nil {
				b.Fatal(err)
			}
			if d, err = codec.NewDecoder(tradeDesc(b), sr, codec.Parquet, codec.DecoderOptions{Key: key}); err != nil {
				b.Fatal(err)
			}
			r = sr
		}
		return r, d
	}
	r, d := open()
	b.ReportAllocs()
	for b.Loop() {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			r, d = open()
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.Decode(row); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteParquetResults writes the pricer's results from their
// wire bytes, a result per iteration.
func BenchmarkWriteParquetResults(b *testing.B) {
	desc := priceDesc(b)
	r := rand.New(rand.NewPCG(1, 2))
	payloads := make([][]byte, 4096)
	for i := range payloads {
		m := msg(b, desc, "price", r.NormFloat64(), "value", r.NormFloat64(), "delta", r.NormFloat64(),
			"gamma", r.NormFloat64(), "vega", r.NormFloat64(), "method", "black-scholes")
		p, err := proto.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		payloads[i] = p
	}
	pw, err := codec.NewParquetWriter(io.Discard, desc)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := pw.WritePayload("T00000001", payloads[i%len(payloads)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := pw.Close(); err != nil {
		b.Fatal(err)
	}
}
