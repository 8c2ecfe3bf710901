package beamgrid

import (
	"fmt"
	"hash/fnv"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/join"
	"github.com/gridrun/gridrun/resultcache"
)

// Element is one element of work in a PCollection: what grid.Element is to
// the local engine, in a form Beam can encode.
type Element struct {
	ID string
	// Key is the join key; "" without a join.
	Key string
	// Payload is the binary's input message, serialized.
	Payload []byte
	// Input and Line locate the row the element came from, for dead
	// letters.
	Input string
	Line  int64
	// InputIndex (the input's place in the job) and Index (the row's
	// 0-based number in its input) order the rows: of two rows with one
	// id, the first is the element and the second a dead letter, as in
	// the local engine.
	InputIndex int
	Index      int64
	// Row is the row as given, as JSON, for dead letters; nil renders
	// null.
	Row []byte
	// Scenario is the id of the scenario the element runs under, one of
	// the job's (Build's pipeline fans rows out over them); "" without.
	Scenario string
}

// Batch is the elements of one subprocess call, in a deterministic order.
type Batch struct {
	// ID names the batch in the binary's batch file, in logs and in dead
	// letters: "s000042-1" is the second batch of shard 42.
	ID       string
	Elements []Element
}

// Result is an element's result.
type Result struct {
	ID string
	// JSON is the line the local engine writes for the result, without
	// its newline: {"id": ID, "result": {...}}.
	JSON []byte
	// Payload is the result message and Input the element's input
	// message, wire bytes, for a job with aggregates (nil otherwise), for
	// a pipeline of Step.Apply's to total.
	Payload, Input []byte
	// Scenario is the outcome's scenario id (grid.Outcome.Scenario), for
	// the aggregates; "" without scenarios.
	Scenario string
}

// DeadLetter is an element without a result, and why.
type DeadLetter struct {
	// ID is the element's id; "" for a row that had none.
	ID string
	// Kind is the grid.DeadLetter kind: bad_input, crash, timeout, ...
	Kind string
	// JSON is the grid.DeadLetter line the local engine writes, without
	// its newline.
	JSON []byte
	// Input is the element's input message, for a job with aggregates:
	// the dead letter counts in its element's group. Nil for a row that
	// never became an element.
	Input []byte
	// Scenario is as Result's.
	Scenario string
}

// Tally counts what one piece of the pipeline did, for the manifest: the
// rows, files and batches of one range (or of one bundle of Step.Apply's
// step). Tallies are PCollection elements, so a retried bundle's count
// once.
type Tally struct {
	// Input is the index of the input whose Rows these are, or -1.
	Input       int
	Rows        int64
	Results     int64
	DeadLetters int64
	Kinds       map[string]int64
	Batches     int64
	// ResultFile and DeadLetterFile are the files a range wrote, relative
	// to the output.
	ResultFile     string
	DeadLetterFile string
	// Process names a worker process, and Exec and Join are its
	// executor's and join table's counts so far: they only grow, so the
	// manifest takes each process's largest and adds the processes up.
	// They count all the work the process did, a failed bundle's too.
	Process string
	Exec    grid.ExecStats
	Join    join.Stats
	// Cache is the process's result-cache counts, CacheEntries the
	// entries its index held.
	Cache        resultcache.Stats
	CacheEntries int
	// RunnerSplits counts the splits of a range the runner asked for and
	// got; CallSplits those of them that stopped a running call to hand
	// on the elements it had not begun.
	RunnerSplits, CallSplits int64
	// Aggregates is a range's partial aggregates (an encoded
	// aggregate.Set) over the outcomes in its files, for a job with
	// aggregates: merged in any order, they give the job's.
	Aggregates []byte
}

// InputFile is one input of the job.
type InputFile struct {
	Index  int
	Path   string
	Format string
	Gzip   bool
	// Size is the file's size in bytes, when known.
	Size int64
}

// Chunk is a piece of one input, from one split (codec.Split) to the
// next: the element of the splittable DoFn that runs the rows, whose
// restriction is the positions [Offset, End) of the rows it covers.
type Chunk struct {
	Input InputFile
	// Offset, Row and Line are the codec.Split of the chunk's first row.
	Offset, Row, Line int64
	// End is the position of the next chunk's first row, or the input's
	// end.
	End int64
	// Whole marks an input that cannot be split (gzipped): one chunk,
	// read from the start, whose positions are row indices.
	Whole bool
}

// shardOf spreads keys over n shards with a checksum, the same on every
// worker and in every run: an element's shard, and so its batch and its
// output file, never depend on where or when it ran.
func shardOf(key string, n int) int64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return int64(h.Sum64() % uint64(max(n, 1)))
}

// deadLetter renders d as the local engine's sink does.
func deadLetter(d *grid.DeadLetter) DeadLetter {
	b, err := d.Encode()
	if err != nil {
		// The element JSON came from a row decoder or was checked valid;
		// the rest are strings and numbers.
		panic(fmt.Sprintf("dead letter of %q: %v", d.ID, err))
	}
	return DeadLetter{ID: d.ID, Kind: d.Kind, JSON: b}
}
