package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/gridrun/gridrun/bench/benchrow"
	"github.com/gridrun/gridrun/grid"
)

// The slow tail's job: batches of a fixed size on two slots, in both
// engines, so that the slow rows are the last elements of one batch.
const (
	tailBatch       = 200
	tailParallelism = 2
	tailInput       = "slow-tail.jsonl"
)

// slowTailJob is the slow tail's job for one engine, over input in dir.
func slowTailJob(engine, faulty, dir, input string) grid.Job {
	return grid.Job{
		Binary: faulty, CacheDir: filepath.Join(dir, "cache-tail-"+engine),
		Inputs:      []string{filepath.Join(dir, input)},
		Output:      filepath.Join(dir, engine+"-"+"tail"),
		Parallelism: tailParallelism, BatchSize: tailBatch, FixedBatchSize: true,
	}
}

// runSlowTail runs the slow tail on both engines and returns its rows:
// rows cheap rows of which the last slow sleep ms each, and two that
// fail (element errors), so that dead letters are compared too.
func runSlowTail(faulty string, rows, slow, ms int, profile string) ([]benchrow.Row, error) {
	if _, err := os.Stat(faulty); err != nil {
		return nil, fmt.Errorf("%v (run make test-binaries first)", err)
	}
	faulty, _ = filepath.Abs(faulty)
	dir, err := os.MkdirTemp("", "bench-beam-tail-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	err = writeFile(filepath.Join(dir, tailInput), func(f *os.File) error {
		w := bufio.NewWriter(f)
		enc := json.NewEncoder(w)
		for i := range rows {
			task := map[string]any{"id": fmt.Sprintf("e%05d", i), "x": i}
			switch {
			case i >= rows-slow:
				task["fault"], task["arg"] = "sleep", ms
			case i == rows/10 || i == rows/2:
				task["fault"] = "throw"
			}
			if err := enc.Encode(task); err != nil {
				return err
			}
		}
		return w.Flush()
	})
	if err != nil {
		return nil, err
	}
	loc, err := child("local", "", faulty, dir, tailInput, profile)
	if err != nil {
		return nil, err
	}
	pri, err := child("prism", "", faulty, dir, tailInput, profile)
	if err != nil {
		return nil, err
	}
	same, err := sameResults(filepath.Join(dir, "local-tail"), filepath.Join(dir, "prism-tail"))
	if err != nil {
		return nil, err
	}
	sameDead, err := sameDeadLetters(filepath.Join(dir, "local-tail"), filepath.Join(dir, "prism-tail"))
	if err != nil {
		return nil, err
	}
	once := same && sameDead && pri.Results+pri.DeadLetters == int64(rows)

	c := fmt.Sprintf("%d rows of the faulty binary in batches of %d, parallelism %d; the last %d sleep %d ms: prism against the local engine",
		rows, tailBatch, tailParallelism, slow, ms)
	return []benchrow.Row{
		benchrow.New(c, "wall-clock seconds, local engine", round(loc.WallSeconds, 2),
			fmt.Sprintf("%d calls, %d splits of a straggling call", loc.Calls, loc.Splits), "reported"),
		benchrow.New(c, "wall-clock seconds, prism", round(pri.WallSeconds, 2),
			fmt.Sprintf("%d calls, %d result files", pri.Calls, pri.ResultFiles), "reported"),
		benchrow.New(c, "splits prism asked for that stopped a running call", float64(pri.RunnerCallSplits),
			fmt.Sprintf("%d runner splits in all", pri.RunnerSplits), ">= 1"),
		benchrow.New(c, "wall-clock ratio prism/local", round(pri.WallSeconds/loc.WallSeconds, 2),
			fmt.Sprintf("%.2f s on the local engine", loc.WallSeconds), fmt.Sprintf("<= %g", maxTailRatio)),
		benchrow.New(c, "results and dead letters exactly once, the local engine's (1 = yes)", b2f(once),
			fmt.Sprintf("prism %d results and %d dead letters, local %d and %d", pri.Results, pri.DeadLetters, loc.Results, loc.DeadLetters), "== 1"),
	}, nil
}

// sameDeadLetters reports whether two outputs hold the same dead letters,
// compared by id and kind, each once.
func sameDeadLetters(a, b string) (bool, error) {
	la, err := deadLetters(a)
	if err != nil {
		return false, err
	}
	lb, err := deadLetters(b)
	return slices.Equal(la, lb), err
}

// deadLetters returns the id and kind of each dead letter in dir, sorted.
func deadLetters(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "dead-letters-*.jsonl"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var d grid.DeadLetter
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				fh.Close()
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			out = append(out, d.ID+" "+d.Kind)
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	slices.Sort(out)
	return out, nil
}
