package aggregate_test

import (
	"fmt"

	"github.com/gridrun/gridrun/aggregate"
)

func ExampleParse() {
	s, err := aggregate.Parse("quantile(0.99, value) over scenario by underlying")
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Func, s.Q, s.Fields, s.Over, s.By)
	_, err = aggregate.Parse("sum(value) group underlying")
	fmt.Println(err)
	// Output:
	// quantile 0.99 [value] scenario [underlying]
	// --aggregate "sum(value) group underlying": column 12: want over or by, or the end of the spec
}

// A Sum is exact: the order of the additions, and how partial sums are
// split and merged, do not change its value.
func ExampleSum() {
	var a, b aggregate.Sum
	a.Add(1e100)
	a.Add(1)
	b.Add(-1e100)
	b.Add(0.001)
	a.Merge(&b)
	big, one := 1e100, 1.0
	fmt.Println(a.Value(), big+one-big+0.001) // the float64 sum in order loses the 1
	// Output: 1.001 0.001
}
