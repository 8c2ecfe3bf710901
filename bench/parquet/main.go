// Command parquet measures reading and decoding a Parquet input against the
// same trades in JSON lines, and prints a JSON array of {case, measure,
// value, reference, target, met} rows:
//
//   - throughput: 1,000,000 trades read and decoded into the pricer's
//     input messages, consumed on one goroutine as the job's feeder reads
//     them, Parquet against JSON lines in the same run: Parquet, a
//     columnar binary format, should decode at least twice as fast (its
//     reader converts a unit of rows on as many goroutines as there are
//     cores, as the JSON lines decoders do in a job);
//   - CPU: the process's CPU time per row, Parquet against JSON lines
//     (reported): on a machine shared with other work the throughput
//     ratio depends on how many cores are free, the CPU per row does not;
//   - equality: both files give the same elements, byte for byte;
//   - size: the Parquet file against the JSON lines file;
//   - memory: the largest Go heap seen while reading the Parquet file,
//     against the same for a file of a quarter of the trades: the ratio
//     should be 1, memory independent of the file (one row group's pages
//     and one batch of rows at a time).
//   - results: the pricer's results written as a Parquet file against
//     the same results as JSON lines, each from the result's wire bytes
//     as the binary returns them (Parquet column by column, with
//     WritePayload); and, reported, Parquet from the wire bytes against
//     Parquet through the decoded message (Write).
//
// Run it from the repository root:
//
//	go run ./bench/parquet [-trades N]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/maphash"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/bench/benchrow"
	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/internal/testgen"
	"github.com/gridrun/gridrun/wrapper"
)

// row is one line of the output.
type row = benchrow.Row

func main() {
	n := flag.Int("trades", 1_000_000, "number of trades")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench/parquet: ")
	rows, err := run(*n)
	if err != nil {
		log.Fatal(err)
	}
	if err := benchrow.Write(os.Stdout, rows); err != nil {
		log.Fatal(err)
	}
}

func run(n int) ([]row, error) {
	schema, err := wrapper.SchemaFromProtoFiles(context.Background(),
		[]string{"native/examples/pricer/pricer.proto"}, nil, "pricer.Trade", "pricer.Price", "pricer.Quote")
	if err != nil {
		return nil, fmt.Errorf("%v (run from the repository root)", err)
	}
	dir, err := os.MkdirTemp("", "bench-parquet-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	trades := testgen.Trades(n, testgen.Quotes(500, 1), 1, testgen.TradeOptions{AsianShare: 0.1, Paths: 4000})
	jsonl, pq := filepath.Join(dir, "trades.jsonl"), filepath.Join(dir, "trades.parquet")
	if err := write(jsonl, func(w io.Writer) error { return testgen.WriteJSONL(w, trades) }); err != nil {
		return nil, err
	}
	if err := write(pq, func(w io.Writer) error { return testgen.WriteParquet(w, trades, 100_000) }); err != nil {
		return nil, err
	}
	quarter := filepath.Join(dir, "quarter.parquet")
	if err := write(quarter, func(w io.Writer) error { return testgen.WriteParquet(w, trades[:n/4], 100_000) }); err != nil {
		return nil, err
	}
	trades = nil
	runtime.GC()

	j, err := decode(jsonl, codec.JSONL, schema)
	if err != nil {
		return nil, err
	}
	p, err := decode(pq, codec.Parquet, schema)
	if err != nil {
		return nil, err
	}
	q, err := decode(quarter, codec.Parquet, schema)
	if err != nil {
		return nil, err
	}
	if p.rows != int64(n) || j.rows != int64(n) || q.rows != int64(n/4) {
		return nil, fmt.Errorf("decoded %d Parquet rows, %d JSON rows and %d of a quarter of %d", p.rows, j.rows, q.rows, n)
	}
	c := fmt.Sprintf("%s trades, read and decoded", thousands(n))
	heap := float64(p.heap) / float64(q.heap)
	jRate, pRate := float64(j.rows)/j.took.Seconds(), float64(p.rows)/p.took.Seconds()
	speedup := round2(pRate / jRate)
	rows := []row{
		// A reported row has no target, so it cannot be met.
		benchrow.New(c, "Parquet rows per second", round(pRate), fmt.Sprintf("JSON lines: %.0f rows per second", jRate), "reported"),
		benchrow.New(c, "Parquet throughput / JSON lines throughput", speedup, "JSON lines, same run", ">= 2"),
		// On a machine shared with other work the throughput ratio
		// depends on the cores free; the CPU each row costs does not.
		benchrow.New(c, "process CPU per row, Parquet / JSON lines", round2(perRow(p)/perRow(j)),
			fmt.Sprintf("JSON lines: %.0f ns of CPU per row; Parquet: %.0f", perRow(j), perRow(p)), "reported"),
		benchrow.New(c, "elements equal to the JSON lines' (id, key, payload)", b2f(p.sum == j.sum), "JSON lines", "1"),
		benchrow.New(c, "file size, Parquet / JSON lines", round2(float64(p.size)/float64(j.size)),
			fmt.Sprintf("%d bytes of JSON lines, %d of Parquet (Snappy)", j.size, p.size), "reported"),
		benchrow.New(c, "largest Go heap reading the file, MiB", mib(p.heap),
			fmt.Sprintf("%.1f MiB of Parquet", mib(uint64(p.size))), "reported"),
		benchrow.New(c, "largest Go heap reading the file / reading a quarter of it", round2(heap),
			fmt.Sprintf("%.1f MiB for %.1f MiB of Parquet, %.1f MiB for %.1f MiB", mib(p.heap), mib(uint64(p.size)), mib(q.heap), mib(uint64(q.size))),
			"< 1.5"),
	}
	res, err := writeResults(n, schema)
	if err != nil {
		return nil, err
	}
	return append(rows, res...), nil
}

// writeResults writes n results of the pricer as JSON lines and as
// Parquet, from their wire bytes, and compares the rates.
func writeResults(n int, schema *wrapper.Schema) ([]row, error) {
	desc := schema.Result
	r := rand.New(rand.NewPCG(uint64(n), 19))
	ids := make([]string, n)
	payloads := make([][]byte, n)
	for i := range n {
		m := dynamicpb.NewMessage(desc)
		set := func(name string, v protoreflect.Value) { m.Set(desc.Fields().ByName(protoreflect.Name(name)), v) }
		for _, f := range []string{"price", "value", "delta", "gamma", "vega"} {
			set(f, protoreflect.ValueOfFloat64(r.NormFloat64()*10))
		}
		set("method", protoreflect.ValueOfString("black-scholes"))
		b, err := codec.Marshal(m)
		if err != nil {
			return nil, err
		}
		ids[i], payloads[i] = fmt.Sprintf("T%08d", i), b
	}
	runtime.GC()
	start := time.Now()
	enc := codec.NewResultEncoder(desc)
	w := bufio.NewWriterSize(io.Discard, 1<<20)
	var line []byte
	for i := range n {
		var err error
		if line, err = enc.AppendLine(line[:0], ids[i], payloads[i]); err != nil {
			return nil, err
		}
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	jTook := time.Since(start)
	// From the wire bytes (WritePayload: column by column), and through
	// the decoded message (Write), which is the reference and the path
	// of result messages the fast path declines.
	pTook, err := timeParquet(func(pw *codec.ParquetWriter) error {
		for i := range n {
			if _, err := pw.WritePayload(ids[i], payloads[i]); err != nil {
				return err
			}
		}
		return nil
	}, desc)
	if err != nil {
		return nil, err
	}
	mTook, err := timeParquet(func(pw *codec.ParquetWriter) error {
		for i := range n {
			m := dynamicpb.NewMessage(desc)
			if err := proto.Unmarshal(payloads[i], m); err != nil {
				return err
			}
			if _, err := pw.Write(ids[i], m); err != nil {
				return err
			}
		}
		return nil
	}, desc)
	if err != nil {
		return nil, err
	}
	c := fmt.Sprintf("%s results written", thousands(n))
	jRate, pRate := float64(n)/jTook.Seconds(), float64(n)/pTook.Seconds()
	speedup := round2(pRate / jRate)
	return []row{
		benchrow.New(c, "Parquet results per second", round(pRate), fmt.Sprintf("JSON lines: %.0f results per second", jRate), "reported"),
		benchrow.New(c, "Parquet result throughput / JSON lines result throughput", speedup, "JSON lines, same run", ">= 2"),
		benchrow.New(c, "Parquet result throughput, from wire bytes / through the decoded message", round2(mTook.Seconds()/pTook.Seconds()),
			fmt.Sprintf("decoded message: %.0f results per second", float64(n)/mTook.Seconds()), "reported"),
	}, nil
}

// timeParquet times write filling a Parquet file of results of desc,
// written to nowhere, and its closing.
func timeParquet(write func(*codec.ParquetWriter) error, desc protoreflect.MessageDescriptor) (time.Duration, error) {
	runtime.GC()
	start := time.Now()
	pw, err := codec.NewParquetWriter(io.Discard, desc)
	if err != nil {
		return 0, err
	}
	if err := write(pw); err != nil {
		return 0, err
	}
	if err := pw.Close(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func write(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type result struct {
	rows int64
	took time.Duration
	cpu  time.Duration // the process's, user and system
	sum  uint64        // of every element, in order
	size int64
	heap uint64 // the largest heap seen while decoding
}

// decode reads and decodes every row of path, as the job's feeder does,
// on one goroutine.
func decode(path string, format codec.Format, schema *wrapper.Schema) (result, error) {
	f, err := os.Open(path)
	if err != nil {
		return result{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return result{}, err
	}
	runtime.GC()
	stop := watchHeap()
	start, cpu0 := time.Now(), processCPU()
	r, err := codec.Open(f, path, format, false)
	if err != nil {
		return result{}, err
	}
	key, _ := codec.ParseTemplate("{underlying}")
	d, err := codec.NewDecoder(schema.Input, r, format, codec.DecoderOptions{Key: key})
	if err != nil {
		return result{}, err
	}
	// The elements are summed with maphash (one seed for the process),
	// not sha256: the sum is the harness's, and at sha256's cost it, not
	// the decoder, would set the rate of a fast format.
	var h maphash.Hash
	h.SetSeed(seed)
	res := result{size: st.Size()}
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return result{}, err
		}
		e, err := d.Decode(row)
		if err != nil {
			return result{}, err
		}
		h.WriteString(e.ID)
		h.WriteByte(0)
		h.WriteString(e.Key)
		h.WriteByte(0)
		h.Write(e.Payload)
		res.rows++
	}
	res.took, res.cpu = time.Since(start), processCPU()-cpu0
	res.heap = stop()
	res.sum = h.Sum64()
	return res, nil
}

// seed makes the sums of one run comparable.
var seed = maphash.MakeSeed()

// watchHeap samples the heap's live objects until the returned function is
// called, which returns the largest sample.
func watchHeap() func() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var (
		mu   sync.Mutex
		peak uint64
	)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			mu.Lock()
			peak = max(peak, sample[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-stopped
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// processCPU returns the user and system CPU time of the process so far.
func processCPU() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// perRow is the nanoseconds of CPU a row of r cost.
func perRow(r result) float64 { return float64(r.cpu.Nanoseconds()) / float64(r.rows) }

func mib(n uint64) float64 { return round2(float64(n) / (1 << 20)) }

// thousands writes n with thousands separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func round(x float64) float64  { return float64(int64(x + 0.5)) }
func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
