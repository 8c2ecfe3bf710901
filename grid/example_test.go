package grid_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/gridrun/gridrun/grid"
)

// Price the demo's trades with the example pricer, quotes joined from a CSV
// table. (The example builds bin/pricer with make first.)
func ExampleRun() {
	if out, err := exec.Command("make", "-s", "-C", "..", "bin/pricer").CombinedOutput(); err != nil {
		log.Fatalf("make bin/pricer: %v\n%s", err, out)
	}
	dir, err := os.MkdirTemp("", "gridrun-example-*")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	m, err := grid.Run(context.Background(), grid.Job{
		Binary:   "../bin/pricer",
		Inputs:   []string{"../testdata/trades.jsonl"},
		Join:     &grid.JoinSpec{Source: "../testdata/quotes.csv", Key: "{underlying}"},
		Output:   filepath.Join(dir, "out"),
		CacheDir: filepath.Join(dir, "cache"),
	}, &grid.Hooks{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Status, m.Elements, m.Results, m.DeadLetters, m.Binary.InputType)
	// Output: ok 1000 1000 0 pricer.Trade
}
