package codec_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/gridrun/gridrun/codec"
)

// BenchmarkDecodeJSONL decodes the demo trades, flat messages on the fast
// path, with the id and the join key the demo job uses.
func BenchmarkDecodeJSONL(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "trades.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	key, _ := codec.ParseTemplate("{underlying}")
	_, d := input(b, tradeDesc(b), "trades.jsonl", codec.JSONL, "", codec.DecoderOptions{IDField: "id", Key: key})
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	b.SetBytes(int64(len(data)) / int64(len(lines)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		row := codec.Row{Line: int64(i%len(lines)) + 1, Data: lines[i%len(lines)]}
		if _, err := d.Decode(row); err != nil {
			b.Fatal(err)
		}
	}
}
