package report_test

import (
	"fmt"
	"log"

	"github.com/gridrun/gridrun/report"
)

// Write the report of a finished job next to its results.
func ExampleWrite() {
	path, err := report.Write("out/demo", &report.Options{MaxCalls: 5000})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("open", path)
}
