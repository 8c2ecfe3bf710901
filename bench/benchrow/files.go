package benchrow

import (
	"bufio"
	"math"
	"os"
)

// WriteFile creates path and fills it through a buffered writer: the
// benchmarks' generated inputs.
func WriteFile(path string, fill func(*bufio.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := fill(w); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Round rounds a figure to three decimals, as the result tables show it.
func Round(x float64) float64 { return math.Round(x*1000) / 1000 }
