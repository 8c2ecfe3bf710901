package beamgrid_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	// textio reads and writes local files through it.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/gridrun/gridrun/beamgrid"
	"github.com/gridrun/gridrun/grid"
)

func resultLine(r beamgrid.Result) string         { return string(r.JSON) }
func deadLetterLine(d beamgrid.DeadLetter) string { return string(d.JSON) }

func init() {
	register.Function1x1(resultLine)
	register.Function1x1(deadLetterLine)
}

// The grid step in a pipeline of one's own: trades read with textio,
// decoded into the pricer's messages, priced with their quotes joined,
// and the results and dead letters written with textio. (Main programs
// call flag.Parse and beam.Init first; this package's tests do.)
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	step, err := beamgrid.Prepare(ctx, grid.Job{
		Binary:   "../bin/pricer", // make build
		CacheDir: filepath.Join(dir, "cache"),
		Join:     &grid.JoinSpec{Source: "../testdata/quotes.csv", Key: "{underlying}"},
	}, &beamgrid.Options{Shards: 4})
	if err != nil {
		log.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	lines := textio.Read(s, "../testdata/trades.jsonl")
	elements, bad := step.DecodeJSON(s, "trades.jsonl", lines)
	results, dead := beamgrid.Apply(s, elements, step)
	textio.Write(s, filepath.Join(dir, "results.jsonl"), beam.ParDo(s, resultLine, results))
	textio.Write(s, filepath.Join(dir, "dead-letters.jsonl"), beam.ParDo(s, deadLetterLine, beam.Flatten(s, bad, dead)))
	if _, err := prism.Execute(ctx, p); err != nil {
		log.Fatal(err)
	}
	beamgrid.Close()

	count := func(name string) int {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return bytes.Count(b, []byte("\n"))
	}
	fmt.Printf("%d results, %d dead letters\n", count("results.jsonl"), count("dead-letters.jsonl"))
	// Output: 1000 results, 0 dead letters
}
