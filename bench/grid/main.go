// Command grid measures the engine's scheduling and overhead against the
// references the project holds itself to, each measured in the same run on
// the same input, and prints a JSON array of benchrow.Row:
//
//   - uniform 10 ms elements (the pricer's Monte Carlo, path counts
//     calibrated here): makespan against the sum of element times / cores;
//   - heavy-tailed elements (lognormal, mean 10 ms, sigma 1.5) plus one 2 s
//     "dark matter" element: makespan against max(sum / cores, slowest
//     element), and against GNU parallel --pipe -N 100 over the same binary
//     (its line mode) on the same input;
//   - cheap elements (Black-Scholes, 1,000,000 trades): throughput against
//     GNU parallel, and wall time against the pricer's own single pass over
//     the same batch file, per core, from JSON lines and from delimited
//     protobuf (to Parquet and to JSON lines) and from Parquet to Parquet;
//   - sleeping elements at --parallelism 64 on however many cores: makespan
//     against its lower bound;
//   - 10,000,000 cheap elements: the runner's peak RSS.
//
// Every job runs the real CLI (bin/gridrun) in a child process; element
// times are the ones the SDK reports per element. Run from the repository
// root after make build test-binaries, with GNU parallel installed:
//
//	go run ./bench/grid [-smoke] [-cases cheap,...] [-cheap 200000] [-no-parallel]
//
// -smoke runs every case on a few elements, to keep the harness working;
// its figures mean nothing.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/gridrun/gridrun/bench/benchrow"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/testgen"
	gridrunv1 "github.com/gridrun/gridrun/proto/gridrun/v1"
)

// sizes are the number of elements of each case.
type sizes struct {
	uniform, heavy, cheap, sleep, rss, persistent int
	elementMS, sleepMS                            float64
	darkMatter                                    time.Duration
	// noParallel leaves out the cheap case's row against GNU parallel.
	noParallel bool
}

var (
	full  = sizes{uniform: 4000, heavy: 2000, cheap: 1_000_000, sleep: 6400, rss: 10_000_000, persistent: 200_000, elementMS: 10, sleepMS: 100, darkMatter: 2 * time.Second}
	smoke = sizes{uniform: 40, heavy: 40, cheap: 2000, sleep: 128, rss: 5000, persistent: 2000, elementMS: 2, sleepMS: 10, darkMatter: 100 * time.Millisecond}
)

func main() {
	isSmoke := flag.Bool("smoke", false, "a few elements per case, to check the harness")
	bin := flag.String("bin", "bin", "directory of gridrun, pricer and faulty (make build test-binaries)")
	work := flag.String("work", "", "scratch directory (default: a new temporary one, removed at the end)")
	only := flag.String("cases", "", "comma-separated cases to run (uniform, heavy, cheap, slots, persistent, memory); default all")
	cheap := flag.Int("cheap", 0, "trades of the cheap case (default 1,000,000, or the smoke size)")
	noParallel := flag.Bool("no-parallel", false, "leave GNU parallel out of the cheap case: its rows against the pricer alone, without the minutes GNU parallel takes")
	flag.Parse()
	log.SetFlags(log.Ltime)
	log.SetPrefix("bench/grid: ")
	s := full
	if *isSmoke {
		s = smoke
	}
	if *cheap > 0 {
		s.cheap = *cheap
	}
	s.noParallel = *noParallel
	rows, err := run(*bin, *work, s, *only)
	if err != nil {
		log.Fatal(err)
	}
	if err := benchrow.Write(os.Stdout, rows); err != nil {
		log.Fatal(err)
	}
}

// run runs the cases named in only (all when empty) and returns their rows.
func run(bin, work string, s sizes, only string) ([]benchrow.Row, error) {
	b, err := newBench(bin, work, s)
	if err != nil {
		return nil, err
	}
	defer b.close()
	var rows []benchrow.Row
	for _, c := range []struct {
		name string
		run  func() ([]benchrow.Row, error)
	}{{"uniform", b.uniform}, {"heavy", b.heavyTailed}, {"cheap", b.cheap}, {"slots", b.manySlots}, {"persistent", b.persistent}, {"memory", b.memory}} {
		if only != "" && !slices.Contains(strings.Split(only, ","), c.name) {
			continue
		}
		r, err := c.run()
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

type bench struct {
	s                       sizes
	dir                     string
	temporary               bool
	gridrun, pricer, faulty string
	cores                   int
	quotes                  []testgen.Quote
	quotesFile              string
	secondsPerPath          float64
}

func newBench(bin, work string, s sizes) (*bench, error) {
	b := &bench{s: s, cores: runtime.NumCPU(), dir: work}
	for name, dst := range map[string]*string{"gridrun": &b.gridrun, "pricer": &b.pricer, "faulty": &b.faulty} {
		p, err := filepath.Abs(filepath.Join(bin, name))
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%v (run make build test-binaries first)", err)
		}
		*dst = p
	}
	if _, err := exec.LookPath("parallel"); err != nil {
		return nil, errors.New("GNU parallel is not installed (Debian package parallel; make bench installs it)")
	}
	if b.dir == "" {
		d, err := os.MkdirTemp("", "gridrun-bench-*")
		if err != nil {
			return nil, err
		}
		b.dir, b.temporary = d, true
	}
	b.quotes = testgen.Quotes(len(testgen.Underlyings), 1)
	b.quotesFile = filepath.Join(b.dir, "quotes.csv")
	if err := benchrow.WriteFile(b.quotesFile, func(w *bufio.Writer) error { return testgen.WriteQuotesCSV(w, b.quotes) }); err != nil {
		return nil, err
	}
	return b, b.calibrate()
}

func (b *bench) close() {
	if b.temporary {
		os.RemoveAll(b.dir)
	}
}

// calibrate measures the pricer's time per Monte Carlo path on this
// machine, from the element times it reports, so that trades can be given
// a cost in seconds.
func (b *bench) calibrate() error {
	const n, paths = 40, 20_000
	trades := b.trades("calibrate", n, func(int) float64 { return 0 })
	for i := range trades {
		trades[i].Paths = paths
	}
	in, err := b.writeTrades("calibrate", trades)
	if err != nil {
		return err
	}
	res, err := b.job("calibrate", in, "--parallelism", "1")
	if err != nil {
		return err
	}
	b.secondsPerPath = res.m.ElementTimes.Sum / (n * paths)
	log.Printf("calibrated: %.1f ns per Monte Carlo path", b.secondsPerPath*1e9)
	return nil
}

// trades returns n Asian trades whose i-th costs about cost(i) seconds; a
// cost of 0 leaves the paths to the caller.
func (b *bench) trades(name string, n int, cost func(i int) float64) []testgen.Trade {
	ts := testgen.Trades(n, b.quotes, uint64(len(name)), testgen.TradeOptions{AsianShare: 1, Paths: 1})
	for i := range ts {
		if c := cost(i); c > 0 {
			ts[i].Paths = max(1, int(math.Round(c/b.secondsPerPath)))
		}
	}
	return ts
}

func (b *bench) uniform() ([]benchrow.Row, error) {
	n, cost := b.s.uniform, b.s.elementMS/1000
	in, err := b.writeTrades("uniform", b.trades("uniform", n, func(int) float64 { return cost }))
	if err != nil {
		return nil, err
	}
	res, err := b.job("uniform", in)
	if err != nil {
		return nil, err
	}
	bound := res.m.ElementTimes.Sum / float64(b.cores)
	ratio := res.wall.Seconds() / bound
	return []benchrow.Row{{
		Case:      fmt.Sprintf("uniform %g ms elements (Monte Carlo), %d trades, parallelism %d", b.s.elementMS, n, b.cores),
		Measure:   "makespan / (sum of element times / cores)",
		Value:     benchrow.Round(ratio),
		Reference: fmt.Sprintf("%.2f s = %.2f s of element time / %d cores; makespan %.2f s", bound, res.m.ElementTimes.Sum, b.cores, res.wall.Seconds()),
		Target:    "<= 1.05",
	}}, nil
}

func (b *bench) heavyTailed() ([]benchrow.Row, error) {
	n := b.s.heavy
	mean, sigma := b.s.elementMS/1000, 1.5
	mu := math.Log(mean) - sigma*sigma/2 // so that the mean is mean
	r := rand.New(rand.NewPCG(2, 3))
	dark := n * 9 / 10 // late, where nothing predicts it
	trades := b.trades("heavy", n, func(i int) float64 {
		if i == dark {
			return b.s.darkMatter.Seconds()
		}
		return math.Exp(mu + sigma*r.NormFloat64())
	})
	in, err := b.writeTrades("heavy", trades)
	if err != nil {
		return nil, err
	}
	lines, err := b.writeLines("heavy", trades)
	if err != nil {
		return nil, err
	}
	res, par, err := fasterOfTwo(func() (*result, error) { return b.job("heavy", in) },
		func() (time.Duration, error) { return b.parallel(lines, n) })
	if err != nil {
		return nil, err
	}
	sum, slowest := res.m.ElementTimes.Sum, res.m.ElementTimes.Max
	bound := math.Max(sum/float64(b.cores), slowest)
	name := fmt.Sprintf("heavy-tailed elements (lognormal, mean %g ms, sigma 1.5) and one %v element, %d trades", b.s.elementMS, b.s.darkMatter, n)
	rows := []benchrow.Row{{
		Case:    name,
		Measure: "makespan / max(sum of element times / cores, slowest element)",
		Value:   benchrow.Round(res.wall.Seconds() / bound),
		Reference: fmt.Sprintf("%.2f s = max(%.2f s / %d cores, %.2f s); makespan %.2f s, %d splits, %d backups, %d calls",
			bound, sum, b.cores, slowest, res.wall.Seconds(), res.m.Splits, res.m.Backups, res.m.Calls),
		Target: "<= 1.10",
	}}
	ratio := res.wall.Seconds() / par.Seconds()
	return append(rows, benchrow.Row{
		Case:    name + ", GNU parallel on the same input",
		Measure: "gridrun makespan / GNU parallel makespan",
		Value:   benchrow.Round(ratio),
		Reference: fmt.Sprintf("parallel --pipe -N 100 -j %d pricer --gridrun-lines: %.2f s; gridrun %.2f s; the lower bound above is %.2f of GNU parallel's makespan, the best any scheduler could reach",
			b.cores, par.Seconds(), res.wall.Seconds(), bound/par.Seconds()),
		Target: "reported; expect < 0.7",
	}), nil
}

func (b *bench) cheap() ([]benchrow.Row, error) {
	n := b.s.cheap
	var trades []testgen.Trade
	testgen.EachTrade(n, b.quotes, 5, testgen.TradeOptions{}, func(t testgen.Trade) error {
		trades = append(trades, t)
		return nil
	})
	in, err := b.writeTrades("cheap", trades)
	if err != nil {
		return nil, err
	}
	batch, err := b.batchFile(in, n)
	if err != nil {
		return nil, err
	}
	res, single, err := fasterOfTwo(func() (*result, error) { return b.job("cheap", in) },
		func() (time.Duration, error) { return b.singlePass(batch) })
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("cheap elements (Black-Scholes), %d trades", n)
	var rows []benchrow.Row
	if !b.s.noParallel {
		lines, err := b.writeLines("cheap", trades)
		if err != nil {
			return nil, err
		}
		par, err := b.parallel(lines, n)
		if err != nil {
			return nil, err
		}
		tput := float64(n) / res.wall.Seconds()
		rows = append(rows, benchrow.Row{
			Case:      name,
			Measure:   "gridrun throughput / GNU parallel throughput",
			Value:     benchrow.Round(tput / (float64(n) / par.Seconds())),
			Reference: fmt.Sprintf("GNU parallel --pipe -N 100 -j %d: %.0f elements/s (%.2f s); gridrun %.0f elements/s (%.2f s)", b.cores, float64(n)/par.Seconds(), par.Seconds(), tput, res.wall.Seconds()),
			Target:    ">= 3",
		})
	}
	// The limit: the pricer's own pass over the same elements as one batch
	// file, as if it had a core to itself per share of the input.
	limit := single.Seconds() / float64(b.cores)
	rows = append(rows, benchrow.Row{
		Case:      name + ", against the pricer alone",
		Measure:   "gridrun wall / (the pricer's single pass over the batch file / cores)",
		Value:     benchrow.Round(res.wall.Seconds() / limit),
		Reference: fmt.Sprintf("%.2f s = %.2f s / %d cores; gridrun %.2f s from JSON lines in to JSON lines out", limit, single.Seconds(), b.cores, res.wall.Seconds()),
		Target:    "<= 2",
	})

	// The same trades as delimited protobuf records, which go to the
	// binary as they are: taken from the batch file, so that they are the
	// very bytes the JSON lines became.
	pb, err := b.delimitedFromBatch(batch, "cheap.pb")
	if err != nil {
		return nil, err
	}
	for _, out := range []struct {
		format, name, target string
	}{
		{"parquet", "Parquet", "<= 1.2"},
		{"jsonl", "JSON lines", "reported"},
	} {
		res, single, err := fasterOfTwo(func() (*result, error) { return b.job("cheap-pb-"+out.format, pb, "--output-format", out.format) },
			func() (time.Duration, error) { return b.singlePass(batch) })
		if err != nil {
			return nil, err
		}
		limit := single.Seconds() / float64(b.cores)
		rows = append(rows, benchrow.Row{
			Case:      fmt.Sprintf("%s, delimited protobuf (.pb) in, %s out, against the pricer alone", name, out.name),
			Measure:   "gridrun wall / (the pricer's single pass over the batch file / cores)",
			Value:     benchrow.Round(res.wall.Seconds() / limit),
			Reference: fmt.Sprintf("%.2f s = %.2f s / %d cores; gridrun %.2f s from .pb in to %s out", limit, single.Seconds(), b.cores, res.wall.Seconds(), out.name),
			Target:    out.target,
		})
	}

	// The same trades as a Parquet file, the format quant data lives in,
	// with the results written as Parquet: both sides column by column.
	pq := filepath.Join(b.dir, "cheap.parquet")
	if err := benchrow.WriteFile(pq, func(w *bufio.Writer) error { return testgen.WriteParquet(w, trades, 100_000) }); err != nil {
		return nil, err
	}
	res, single, err = fasterOfTwo(func() (*result, error) { return b.job("cheap-parquet", pq, "--output-format", "parquet") },
		func() (time.Duration, error) { return b.singlePass(batch) })
	if err != nil {
		return nil, err
	}
	limit = single.Seconds() / float64(b.cores)
	rows = append(rows, benchrow.Row{
		Case:      name + ", Parquet in, Parquet out, against the pricer alone",
		Measure:   "gridrun wall / (the pricer's single pass over the batch file / cores)",
		Value:     benchrow.Round(res.wall.Seconds() / limit),
		Reference: fmt.Sprintf("%.2f s = %.2f s / %d cores; gridrun %.2f s from Parquet in to Parquet out", limit, single.Seconds(), b.cores, res.wall.Seconds()),
		Target:    "<= 1.3",
	})
	return rows, nil
}

// delimitedFromBatch writes the elements of a batch file as a delimited
// protobuf input: each payload after its length.
func (b *bench) delimitedFromBatch(batch, name string) (string, error) {
	data, err := os.ReadFile(batch)
	if err != nil {
		return "", err
	}
	var bt gridrunv1.Batch
	if err := proto.Unmarshal(data, &bt); err != nil {
		return "", fmt.Errorf("%s: %v", batch, err)
	}
	path := filepath.Join(b.dir, name)
	return path, benchrow.WriteFile(path, func(w *bufio.Writer) error {
		for _, e := range bt.GetElements() {
			if _, err := w.Write(protowire.AppendBytes(nil, e.GetPayload())); err != nil {
				return err
			}
		}
		return nil
	})
}

// fasterOfTwo runs gridrun and a reference twice, alternately, and keeps
// each side's faster run: this machine's speed drifts by more than the
// differences measured.
func fasterOfTwo(gridrun func() (*result, error), ref func() (time.Duration, error)) (*result, time.Duration, error) {
	var res *result
	var best time.Duration
	for range 2 {
		r, err := gridrun()
		if err != nil {
			return nil, 0, err
		}
		if res == nil || r.wall < res.wall {
			res = r
		}
		d, err := ref()
		if err != nil {
			return nil, 0, err
		}
		if best == 0 || d < best {
			best = d
		}
	}
	return res, best, nil
}

// batchFile makes one batch file of the whole input: a gridrun run of one
// call, its files kept.
func (b *bench) batchFile(in string, n int) (string, error) {
	out := filepath.Join(b.dir, "single-out")
	if _, err := b.run(out, "--input", in, "--batch-size", strconv.Itoa(n), "--fixed-batch-size",
		"--batch-bytes", strconv.Itoa(1<<31-1), "--no-split", "--keep-batch-files", "--join", b.quotesFile, "--join-key", "{underlying}"); err != nil {
		return "", err
	}
	batches, _ := filepath.Glob(filepath.Join(out, "calls", "*", "batch.pb"))
	if len(batches) != 1 {
		return "", fmt.Errorf("single pass: %d batch files, want 1", len(batches))
	}
	return batches[0], nil
}

// singlePass times the pricer over a batch file alone.
func (b *bench) singlePass(batch string) (time.Duration, error) {
	results := filepath.Join(b.dir, "single-results.pb")
	defer os.Remove(results)
	start := time.Now()
	cmd := exec.Command(b.pricer, "--gridrun-batch", batch, "--gridrun-results", results)
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("single pass: %v: %s", err, out)
	}
	return time.Since(start), nil
}

func (b *bench) manySlots() ([]benchrow.Row, error) {
	n, slots := b.s.sleep, 64
	var tasks []string
	for i := range n {
		tasks = append(tasks, fmt.Sprintf(`{"id":"s%06d","fault":"sleep","arg":%d}`, i, int(b.s.sleepMS)))
	}
	in := filepath.Join(b.dir, "sleep.jsonl")
	if err := os.WriteFile(in, []byte(strings.Join(tasks, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	res, err := b.runWith(b.faulty, filepath.Join(b.dir, "sleep-out"), "--input", in, "--parallelism", strconv.Itoa(slots))
	if err != nil {
		return nil, err
	}
	bound := math.Max(res.m.ElementTimes.Sum/float64(slots), res.m.ElementTimes.Max)
	ratio := res.wall.Seconds() / bound
	return []benchrow.Row{{
		Case:      fmt.Sprintf("%d elements sleeping %g ms, --parallelism %d on %d cores", n, b.s.sleepMS, slots, b.cores),
		Measure:   "makespan / lower bound",
		Value:     benchrow.Round(ratio),
		Reference: fmt.Sprintf("%.2f s = %.2f s of element time / %d slots; makespan %.2f s, %d calls", bound, res.m.ElementTimes.Sum, slots, res.wall.Seconds(), res.m.Calls),
		Target:    "<= 1.05",
	}}, nil
}

// persistent measures what persistent workers save over a process per call,
// on cheap elements, with batches of 100 (where process starts weigh most)
// and with the default adaptive batches.
func (b *bench) persistent() ([]benchrow.Row, error) {
	n := b.s.persistent
	var trades []testgen.Trade
	testgen.EachTrade(n, b.quotes, 11, testgen.TradeOptions{}, func(t testgen.Trade) error {
		trades = append(trades, t)
		return nil
	})
	in, err := b.writeTrades("persistent", trades)
	if err != nil {
		return nil, err
	}
	var rows []benchrow.Row
	for _, c := range []struct {
		name  string
		extra []string
	}{
		{"fixed batches of 100", []string{"--fixed-batch-size", "--batch-size", "100"}},
		{"adaptive batches", nil},
	} {
		calls, err := b.job("persistent-calls", in, c.extra...)
		if err != nil {
			return nil, err
		}
		workers, err := b.job("persistent-workers", in, append(c.extra, "--persistent")...)
		if err != nil {
			return nil, err
		}
		rows = append(rows, benchrow.Row{
			Case:      fmt.Sprintf("cheap elements (Black-Scholes), %d trades, %s", n, c.name),
			Measure:   "wall with --persistent / wall with a process per call",
			Value:     benchrow.Round(workers.wall.Seconds() / calls.wall.Seconds()),
			Reference: fmt.Sprintf("a process per call: %.2f s, %d calls; persistent workers: %.2f s", calls.wall.Seconds(), calls.m.Calls, workers.wall.Seconds()),
			Target:    "reported; decides the default",
		})
	}
	return rows, nil
}

func (b *bench) memory() ([]benchrow.Row, error) {
	n := b.s.rss
	in := filepath.Join(b.dir, "memory.jsonl")
	if err := benchrow.WriteFile(in, func(w *bufio.Writer) error {
		enc := json.NewEncoder(w)
		return testgen.EachTrade(n, b.quotes, 7, testgen.TradeOptions{}, func(t testgen.Trade) error { return enc.Encode(t) })
	}); err != nil {
		return nil, err
	}
	res, err := b.job("memory", in)
	if err != nil {
		return nil, err
	}
	os.Remove(in)
	os.RemoveAll(filepath.Join(b.dir, "memory-out"))
	mib := float64(res.rssKiB) / 1024
	return []benchrow.Row{{
		Case:      fmt.Sprintf("%d cheap elements", n),
		Measure:   "peak RSS of the runner, MiB",
		Value:     benchrow.Round(mib),
		Reference: fmt.Sprintf("256 MiB; %d results in %.1f s", res.m.Results, res.wall.Seconds()),
		Target:    "< 256",
	}}, nil
}

// result is one gridrun run.
type result struct {
	wall   time.Duration
	rssKiB int64
	m      *grid.Manifest
}

// job runs the pricer over in with the demo's quotes joined.
func (b *bench) job(name, in string, extra ...string) (*result, error) {
	args := append([]string{"--input", in, "--join", b.quotesFile, "--join-key", "{underlying}"}, extra...)
	return b.run(filepath.Join(b.dir, name+"-out"), args...)
}

func (b *bench) run(out string, args ...string) (*result, error) {
	return b.runWith(b.pricer, out, args...)
}

// runWith runs gridrun with binary into out and checks that every element
// got a result. The output stays until the scratch directory goes.
func (b *bench) runWith(binary, out string, args ...string) (*result, error) {
	m, wall, err := benchrow.RunGridrun(b.gridrun, binary, out, filepath.Join(b.dir, "cache"), args...)
	if err != nil {
		return nil, err
	}
	return &result{wall: wall, m: m, rssKiB: m.PeakRSSBytes >> 10}, nil
}

// parallel times GNU parallel feeding the pricer's line mode 100 lines a
// process, as many processes at once as cores, and checks its output.
func (b *bench) parallel(lines string, n int) (time.Duration, error) {
	in, err := os.Open(lines)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	outPath := lines + ".out"
	out, err := os.Create(outPath)
	if err != nil {
		return 0, err
	}
	defer os.Remove(outPath)
	cmd := exec.Command("parallel", "--pipe", "-N", "100", "-j", strconv.Itoa(b.cores), b.pricer, "--gridrun-lines")
	cmd.Stdin, cmd.Stdout = in, out
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	out.Close()
	if err != nil {
		return 0, fmt.Errorf("parallel: %v: %s", err, stderr.String())
	}
	got, err := countResults(outPath)
	if err != nil {
		return 0, err
	}
	if got != n {
		return 0, fmt.Errorf("parallel: %d results for %d lines", got, n)
	}
	log.Printf("GNU parallel: %d elements in %.2f s", n, d.Seconds())
	return d, nil
}

func countResults(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"result":`) {
			n++
		}
	}
	return n, sc.Err()
}

func (b *bench) writeTrades(name string, trades []testgen.Trade) (string, error) {
	path := filepath.Join(b.dir, name+".jsonl")
	return path, benchrow.WriteFile(path, func(w *bufio.Writer) error { return testgen.WriteJSONL(w, trades) })
}

// writeLines writes the line-mode input of the same trades, each with its
// quote joined, as gridrun would join it.
func (b *bench) writeLines(name string, trades []testgen.Trade) (string, error) {
	byName := map[string]testgen.Quote{}
	for _, q := range b.quotes {
		byName[q.Underlying] = q
	}
	path := filepath.Join(b.dir, name+".lines.jsonl")
	return path, benchrow.WriteFile(path, func(w *bufio.Writer) error {
		enc := json.NewEncoder(w)
		for _, t := range trades {
			line := struct {
				ID      string          `json:"id"`
				Element testgen.Trade   `json:"element"`
				Side    []testgen.Quote `json:"side"`
			}{t.ID, t, []testgen.Quote{byName[t.Underlying]}}
			if err := enc.Encode(line); err != nil {
				return err
			}
		}
		return nil
	})
}
