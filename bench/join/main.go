// Command join measures the Bigtable join against an in-process emulator
// (bttest) and prints a JSON array of {case, measure, value, reference,
// target, met} rows:
//
//   - 100,000 trades over 500 underlyings in batches of 100: ReadRows calls
//     per batch (target at most 1) and rows read against distinct keys
//     (target equal, the cache holding them all), first through join.Table
//     and the driver batch by batch, then through a whole job (grid.Run
//     with the example pricer), counted at the emulator's gRPC layer;
//   - peak RSS (VmHWM) of that job over 10,000 underlyings joined from a
//     table of 10,000 rows, and from one of 1,000,000 rows of which it
//     touches 1%: the ratio should be 1, memory independent of the table.
//
// Each job runs in a child process (this program, re-executed), so that its
// peak RSS is its own and not the emulator's. Run it from the repository
// root after make build:
//
//	go run ./bench/join
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	bt "cloud.google.com/go/bigtable"
	"cloud.google.com/go/bigtable/bttest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gridrun/gridrun/bench/benchrow"
	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/procstat"
	"github.com/gridrun/gridrun/internal/testgen"
	"github.com/gridrun/gridrun/join"
	"github.com/gridrun/gridrun/join/bigtable"
	"github.com/gridrun/gridrun/wrapper"
)

const (
	trades    = 100_000
	batchSize = 100
	family    = "q"
	project   = "bench"
	instance  = "bench"
)

// row is one line of the output.
type row = benchrow.Row

// childReport is what a child job prints.
type childReport struct {
	VmHWMKiB int64            `json:"vmhwm_kib"`
	Results  int64            `json:"results"`
	Batches  int64            `json:"batches"`
	Join     *grid.JoinInfo   `json:"join"`
	Dead     map[string]int64 `json:"dead_letters_by_kind"`
}

func main() {
	child := flag.Bool("child", false, "run one job and report (internal)")
	pricer := flag.String("pricer", "bin/pricer", "the example pricer, built by make build")
	table := flag.String("table", "", "child: the join table's URI")
	input := flag.String("input", "", "child: the trades file")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench/join: ")
	if *child {
		if err := runChild(*pricer, *table, *input); err != nil {
			log.Fatal(err)
		}
		return
	}
	rows, err := runBench(*pricer)
	if err != nil {
		log.Fatal(err)
	}
	if err := benchrow.Write(os.Stdout, rows); err != nil {
		log.Fatal(err)
	}
}

func runBench(pricer string) ([]row, error) {
	ctx := context.Background()
	if _, err := os.Stat(pricer); err != nil {
		return nil, fmt.Errorf("%v (run make build first)", err)
	}
	var rpcs atomic.Int64
	srv, err := bttest.NewServer("127.0.0.1:0", grpc.ChainStreamInterceptor(
		func(s any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if info.FullMethod == "/google.bigtable.v2.Bigtable/ReadRows" {
				rpcs.Add(1)
			}
			return h(s, ss)
		}))
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "bench-join-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	start := time.Now()
	q500 := testgen.Quotes(500, 1)
	q10k := testgen.Quotes(10_000, 2)
	if err := fill(ctx, srv.Addr, "u500", q500, 0); err != nil {
		return nil, err
	}
	if err := fill(ctx, srv.Addr, "t10k", q10k, 0); err != nil {
		return nil, err
	}
	// 99 rows the job never asks for beside each one it does: 1% touched,
	// spread over the whole key space.
	if err := fill(ctx, srv.Addr, "t1m", q10k, 99); err != nil {
		return nil, err
	}
	log.Printf("tables written in %.1fs", time.Since(start).Seconds())

	t500, err := writeTrades(filepath.Join(dir, "trades-500.jsonl"), q500, 3)
	if err != nil {
		return nil, err
	}
	t10k, err := writeTrades(filepath.Join(dir, "trades-10k.jsonl"), q10k, 4)
	if err != nil {
		return nil, err
	}

	var rows []row
	// Batch by batch through join.Table and the driver, as the engine
	// calls them, counting calls at the server per batch.
	r, err := tableCase(ctx, srv.Addr, t500, &rpcs)
	if err != nil {
		return nil, err
	}
	rows = append(rows, r...)

	jobCase := fmt.Sprintf("job: %d trades, 500 underlyings, batches of %d, bin/pricer", trades, batchSize)
	before := rpcs.Load()
	rep, err := child(srv.Addr, pricer, tableURI("u500"), t500)
	if err != nil {
		return nil, err
	}
	calls := rpcs.Load() - before
	rows = append(rows,
		benchrow.New(jobCase, "ReadRows calls per batch (mean)", round(float64(calls)/float64(rep.Batches), 4),
			fmt.Sprintf("%d calls for %d batches", calls, rep.Batches), "<= 1"),
		benchrow.New(jobCase, "rows read", float64(rep.Join.Rows), "distinct keys: 500", "== 500"),
		benchrow.New(jobCase, "results", float64(rep.Results), fmt.Sprintf("trades: %d", trades), fmt.Sprintf("== %d", trades)),
	)

	rssCase := fmt.Sprintf("job: %d trades over 10000 underlyings, bin/pricer", trades)
	small, err := child(srv.Addr, pricer, tableURI("t10k"), t10k)
	if err != nil {
		return nil, err
	}
	large, err := child(srv.Addr, pricer, tableURI("t1m"), t10k)
	if err != nil {
		return nil, err
	}
	// The failure mode of market data as a Beam side input, for reference:
	// the same 1,000,000 rows as a local table, which is loaded whole.
	csvTable := filepath.Join(dir, "t1m.csv")
	if err := writeQuotesCSV(csvTable, q10k, 99); err != nil {
		return nil, err
	}
	whole, err := child(srv.Addr, pricer, csvTable, t10k)
	if err != nil {
		return nil, err
	}
	mib := func(kib int64) float64 { return round(float64(kib)/1024, 1) }
	ratio := float64(large.VmHWMKiB) / float64(small.VmHWMKiB)
	rows = append(rows,
		benchrow.New(rssCase, "peak RSS (MiB), table of 10,000 rows, all touched", mib(small.VmHWMKiB), "", "reported"),
		benchrow.New(rssCase, "peak RSS (MiB), table of 1,000,000 rows, 1% touched", mib(large.VmHWMKiB), "", "reported"),
		benchrow.New(rssCase, "peak RSS ratio, 1,000,000-row table / 10,000-row table", round(ratio, 3),
			fmt.Sprintf("%.1f MiB with the 10,000-row table", mib(small.VmHWMKiB)), "<= 1.10"),
		benchrow.New(rssCase, "peak RSS (MiB), the 1,000,000 rows as a local CSV table, loaded whole", mib(whole.VmHWMKiB),
			fmt.Sprintf("%.1f MiB reading them from Bigtable", mib(large.VmHWMKiB)), "reported"),
		benchrow.New(rssCase, "rows read, 1,000,000-row table", float64(large.Join.Rows), "distinct keys: 10000", "== 10000"),
		benchrow.New(rssCase, "results, 1,000,000-row table", float64(large.Results), fmt.Sprintf("trades: %d", trades), fmt.Sprintf("== %d", trades)),
	)
	log.Printf("done in %.1fs", time.Since(start).Seconds())
	return rows, nil
}

func tableURI(t string) string { return fmt.Sprintf("bigtable://%s/%s/%s", project, instance, t) }

func dial(addr string) []option.ClientOption {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err) // only a malformed address fails here
	}
	return []option.ClientOption{option.WithGRPCConn(conn)}
}

// fill writes a table of quotes, and after each quote's row `fillers` rows
// that no trade names.
func fill(ctx context.Context, addr, table string, quotes []testgen.Quote, fillers int) error {
	admin, err := bt.NewAdminClient(ctx, project, instance, dial(addr)...)
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := admin.CreateTable(ctx, table); err != nil {
		return err
	}
	if err := admin.CreateColumnFamily(ctx, table, family); err != nil {
		return err
	}
	c, err := bt.NewClientWithConfig(ctx, project, instance, bt.ClientConfig{MetricsProvider: bt.NoopMetricsProvider{}}, dial(addr)...)
	if err != nil {
		return err
	}
	defer c.Close()
	tbl := c.Open(table)
	ts := bt.Time(time.Date(2026, 11, 20, 21, 0, 0, 0, time.UTC))
	var keys []string
	var muts []*bt.Mutation
	flush := func() error {
		errs, err := tbl.ApplyBulk(ctx, keys, muts)
		for _, e := range errs {
			if e != nil && err == nil {
				err = e
			}
		}
		keys, muts = keys[:0], muts[:0]
		return err
	}
	for _, q := range quotes {
		for i := range fillers + 1 {
			key := q.Underlying
			if i > 0 {
				key = fmt.Sprintf("%s-%02d", q.Underlying, i)
			}
			m := bt.NewMutation()
			m.Set(family, "underlying", ts, []byte(key))
			m.Set(family, "spot", ts, []byte(strconv.FormatFloat(q.Spot, 'g', -1, 64)))
			m.Set(family, "vol", ts, []byte(strconv.FormatFloat(q.Vol, 'g', -1, 64)))
			m.Set(family, "rate", ts, []byte(strconv.FormatFloat(q.Rate, 'g', -1, 64)))
			m.Set(family, "dividend", ts, []byte(strconv.FormatFloat(q.Dividend, 'g', -1, 64)))
			keys, muts = append(keys, key), append(muts, m)
			if len(keys) == 10_000 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

// writeQuotesCSV writes the rows fill writes to a table, as a CSV file.
func writeQuotesCSV(path string, quotes []testgen.Quote, fillers int) error {
	var all []testgen.Quote
	for _, q := range quotes {
		all = append(all, q)
		for i := range fillers {
			f := q
			f.Underlying = fmt.Sprintf("%s-%02d", q.Underlying, i+1)
			all = append(all, f)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := testgen.WriteQuotesCSV(f, all); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeTrades writes European trades (cheap to price: the join is what
// is measured) on quotes and returns the file's name.
func writeTrades(path string, quotes []testgen.Quote, seed uint64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := testgen.WriteJSONL(f, testgen.Trades(trades, quotes, seed, testgen.TradeOptions{})); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

// tableCase looks up each batch's keys through join.Table over the driver,
// as the engine does, and counts the ReadRows calls each batch costs.
func tableCase(ctx context.Context, addr, tradesFile string, rpcs *atomic.Int64) ([]row, error) {
	schema, err := wrapper.SchemaFromProtoFiles(ctx, []string{"native/examples/pricer/pricer.proto"}, nil, "pricer.Trade", "pricer.Price", "pricer.Quote")
	if err != nil {
		return nil, err
	}
	d, err := bigtable.Open(ctx, tableURI("u500"), join.Spec{Side: schema.Side}, &bigtable.Options{ClientOptions: dial(addr)})
	if err != nil {
		return nil, err
	}
	tbl := join.NewTable(d, nil)
	defer tbl.Close()

	f, err := os.Open(tradesFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := codec.Open(f, tradesFile, codec.JSONL, false)
	if err != nil {
		return nil, err
	}
	var (
		batch    []string
		batches  int64
		maxCalls int64
		distinct = map[string]bool{}
		lookups  int64 // distinct keys per batch, summed
	)
	lookup := func() error {
		perBatch := map[string]bool{}
		for _, k := range batch {
			perBatch[k] = true
		}
		lookups += int64(len(perBatch))
		before := rpcs.Load()
		if _, err := tbl.Lookup(ctx, batch); err != nil {
			return err
		}
		maxCalls = max(maxCalls, rpcs.Load()-before)
		batches++
		batch = batch[:0]
		return nil
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		var t testgen.Trade
		if err := json.Unmarshal(rec.Data, &t); err != nil {
			return nil, err
		}
		batch = append(batch, t.Underlying)
		distinct[t.Underlying] = true
		if len(batch) == batchSize {
			if err := lookup(); err != nil {
				return nil, err
			}
		}
	}
	if len(batch) > 0 {
		if err := lookup(); err != nil {
			return nil, err
		}
	}
	st := tbl.Stats()
	c := fmt.Sprintf("join.Table: %d trades, 500 underlyings, batches of %d", trades, batchSize)
	return []row{
		benchrow.New(c, "ReadRows calls per batch (max)", float64(maxCalls), fmt.Sprintf("%d batches", batches), "<= 1"),
		benchrow.New(c, "ReadRows calls per batch (mean)", round(float64(st.Reads)/float64(batches), 4), fmt.Sprintf("%d reads for %d batches", st.Reads, batches), "<= 1"),
		benchrow.New(c, "rows read", float64(st.Rows), fmt.Sprintf("distinct keys: %d", len(distinct)), fmt.Sprintf("== %d", len(distinct))),
		benchrow.New(c, "cache hits", float64(st.CacheHits), fmt.Sprintf("lookups of a key already read: %d", lookups-int64(len(distinct))), fmt.Sprintf("== %d", lookups-int64(len(distinct)))),
	}, nil
}

// child runs one job in a child process pointed at the emulator.
func child(addr, pricer, table, input string) (*childReport, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-child", "-pricer", pricer, "-table", table, "-input", input)
	cmd.Env = append(os.Environ(), "BIGTABLE_EMULATOR_HOST="+addr)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("child job on %s: %w", table, err)
	}
	rep := new(childReport)
	if err := json.Unmarshal(out, rep); err != nil {
		return nil, fmt.Errorf("child job on %s: %w", table, err)
	}
	if rep.Join == nil {
		return nil, fmt.Errorf("child job on %s: no join in the manifest", table)
	}
	return rep, nil
}

func runChild(pricer, table, input string) error {
	dir, err := os.MkdirTemp("", "bench-join-job-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	m, err := grid.Run(context.Background(), grid.Job{
		Binary: pricer, CacheDir: filepath.Join(dir, "cache"), Inputs: []string{input},
		Output: filepath.Join(dir, "out"), BatchSize: batchSize,
		Join: &grid.JoinSpec{Source: table, Key: "{underlying}"},
	}, &grid.Hooks{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	hwm, err := procstat.PeakRSS()
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(childReport{
		VmHWMKiB: hwm >> 10, Results: m.Results, Batches: m.Batches, Join: m.Join, Dead: m.DeadLettersByKind,
	})
}

func round(x float64, places int) float64 {
	p := 1.0
	for range places {
		p *= 10
	}
	return float64(int64(x*p+0.5)) / p
}
