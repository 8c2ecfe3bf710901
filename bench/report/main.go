// Command report gathers the rows the benchmark programs wrote into DIR
// (grid.json, join.json, ...) and writes DIR/results.json (every row) and
// DIR/results.md (a table per program), with the machine they ran on.
//
//	go run ./bench/report bench/results
package main

import (
	"bufio"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gridrun/gridrun/bench/benchrow"
)

// sources are the programs' outputs, in the order of the report.
var sources = []struct{ file, title string }{
	{"grid.json", "Engine: scheduling, overhead, memory (`bench/grid`)"},
	{"join.json", "Bigtable join (`bench/join`)"},
	{"parquet.json", "Parquet input (`bench/parquet`)"},
	{"count.json", "Counting the inputs for progress (`bench/count`)"},
	{"beam.json", "Beam on prism against the local engine (`bench/beam`)"},
	{"scenarios.json", "Scenario fan-out against a materialised input (`bench/scenarios`)"},
	{"cache.json", "Reruns from the result cache (`bench/cache`)"},
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("bench/report: ")
	if len(os.Args) != 2 {
		log.Fatal("usage: report DIR")
	}
	dir := os.Args[1]
	var all []benchrow.Row
	var md strings.Builder
	fmt.Fprintf(&md, "# Benchmark results\n\n%s, %d cores, %s, %s.\n", cpuModel(), runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&md, "Every figure is gridrun against a reference measured in the same run; `make bench` regenerates this file.\n")
	for _, src := range sources {
		f, err := os.Open(filepath.Join(dir, src.file))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			log.Fatal(err)
		}
		rows, err := benchrow.Read(f)
		f.Close()
		if err != nil {
			log.Fatalf("%s: %v", src.file, err)
		}
		all = append(all, rows...)
		fmt.Fprintf(&md, "\n## %s\n\n| case | measure | value | target | met | reference |\n|---|---|---|---|---|---|\n", src.title)
		for _, r := range rows {
			met := "—" // reported: no target to meet
			if r.Met != nil {
				met = "yes"
				if r.Missed() {
					met = "**no**"
				}
			}
			fmt.Fprintf(&md, "| %s | %s | %s | %s | %s | %s |\n", cell(r.Case), cell(r.Measure), strconv.FormatFloat(r.Value, 'g', 6, 64), cell(r.Target), met, cell(r.Reference))
		}
	}
	if len(all) == 0 {
		log.Fatalf("no results in %s", dir)
	}
	out, err := os.Create(filepath.Join(dir, "results.json"))
	if err != nil {
		log.Fatal(err)
	}
	if err := benchrow.Write(out, all); err != nil {
		log.Fatal(err)
	}
	if err := out.Close(); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md.String()), 0o644); err != nil {
		log.Fatal(err)
	}
	missed := slices.IndexFunc(all, benchrow.Row.Missed)
	fmt.Printf("%d rows in %s/results.md", len(all), dir)
	if missed >= 0 {
		fmt.Printf("; targets missed, first: %s: %s = %g (%s)", all[missed].Case, all[missed].Measure, all[missed].Value, all[missed].Target)
	}
	fmt.Println()
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
