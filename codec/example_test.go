package codec_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/gridrun/gridrun/codec"
)

// Open reads any registered format; the name tells the format, and a
// source with ReadAt and Size would serve a format read by ranges too.
func ExampleOpen() {
	name := "quotes.csv"
	format, gzipped, err := codec.FormatOf(name)
	if err != nil {
		panic(err)
	}
	r, err := codec.Open(strings.NewReader("underlying,spot\nAAPL,101.5\nMSFT,410\n"), name, format, gzipped)
	if err != nil {
		panic(err)
	}
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		fmt.Println(row.Line, row.Header, row.Cells)
	}
	// Output:
	// 2 [underlying spot] [AAPL 101.5]
	// 3 [underlying spot] [MSFT 410]
}
