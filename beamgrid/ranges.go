package beamgrid

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"

	"github.com/gridrun/gridrun/aggregate"
	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/jobspec"
)

// The pipeline Build makes carries references to the input, never its
// rows: an input is cut into chunks at row starts (splitFn), and each
// chunk is a splittable DoFn's element whose restriction is the range of
// row positions it covers (rangeFn). The worker that holds a range reads
// its rows, batches them, runs the batches and writes the outcomes into
// the range's own files; only tallies go on. A runner splits a range
// where it likes (Dataflow's dynamic work rebalancing, prism's split of a
// bundle that makes no progress): the rows whose positions fall past the
// split point are the residual's, read by another worker from the chunk's
// start.
//
// Of two rows with one id the second is a bad_input dead letter, as in
// the local engine, wherever the two are: the ids are read once first,
// and each range reads the positions of its chunk's later duplicates from
// a file (dups.go).

// splitFn finds the chunks of one input: splits at least SplitBytes apart
// (rows, for Parquet), found by reading the rows without decoding them.
// An input that cannot be split (gzipped) is one chunk, read from its
// start, whose positions are row indices.
type splitFn struct {
	SplitBytes int64
}

func (f *splitFn) ProcessElement(ctx context.Context, in InputFile, emit func(Chunk)) error {
	src, err := openRead(ctx, in.Path)
	if err != nil {
		return err
	}
	defer src.Close()
	format := codec.Format(in.Format)
	if !codec.Splittable(format, in.Gzip) {
		emit(Chunk{Input: in, End: wholeEnd, Whole: true})
		return nil
	}
	every := f.SplitBytes
	if format == codec.Parquet {
		every = max(f.SplitBytes/parquetRowBytes, 1)
	}
	splits, err := codec.Splits(src, in.Path, format, false, every)
	if err != nil {
		return err
	}
	end := src.Size()
	if format == codec.Parquet {
		end, err = codec.Count(src, in.Path, format, false)
		if err != nil {
			return err
		}
	}
	for i, s := range splits {
		c := Chunk{Input: in, Offset: s.Offset, Row: s.Row, Line: s.Line, End: end}
		if i+1 < len(splits) {
			c.End = splits[i+1].Offset
		}
		emit(c)
	}
	return nil
}

// wholeEnd ends the range of a whole input, whose rows are not counted
// before it is read: past any row, and one short of the largest position,
// which the tracker cannot claim (it counts the claimed position plus
// one).
const wholeEnd = math.MaxInt64 - 1

// parquetRowBytes is the bytes a Parquet row is taken to stand for when a
// file is cut in rows.
const parquetRowBytes = 128

// chunkRows reads a chunk's rows that fall in [from, to) (positions), and
// gives each with its position to row, which returns false to stop. The
// rows before from are read, not decoded: a range split off inside a chunk
// starts reading at the chunk's start, since only there are the row's
// numbers (and a CSV file's quotes) known.
func chunkRows(ctx context.Context, c Chunk, from int64, row func(pos int64, r codec.Row, rd codec.Reader) (bool, error)) error {
	var (
		rd   codec.Reader
		next func() int64
		read int64 // rows read: the position of a whole input's next row
	)
	if c.Whole {
		rc, r, err := openInput(ctx, c.Input)
		if err != nil {
			return err
		}
		defer rc.Close()
		rd, next = r, func() int64 { return read }
	} else {
		src, err := openRead(ctx, c.Input.Path)
		if err != nil {
			return err
		}
		defer src.Close()
		at := codec.Split{Offset: c.Offset, Row: c.Row, Line: c.Line}
		r, err := codec.OpenAt(src, src.Size(), c.Input.Path, codec.Format(c.Input.Format), at)
		if err != nil {
			return err
		}
		rd, next = r, func() int64 { s, _ := r.Next(); return s.Offset }
	}
	for {
		pos := next()
		if pos >= c.End {
			return nil // the next chunk's
		}
		r, err := rd.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			// The rest of the file cannot be read (a truncated protobuf
			// record): the job fails naming the record, rather than
			// finishing without the rows after it.
			return err
		}
		read++
		if pos < from {
			continue
		}
		more, err := row(pos, r, rd)
		if err != nil || !more {
			return err
		}
	}
}

// rangeFn runs the rows of a range of a chunk: it reads and decodes them,
// cuts them into batches sized as the local engine sizes them, runs the
// batches through the process's grid.Executor, at most the executor's
// parallelism plus one at a time (the next batch's join is read while the
// others run), and writes the outcomes into the range's results and dead
// letters files as batches end. Its memory is the batches in flight, not
// the range. Each file is named by the input and the range's first
// position, and written whole or not at all: a retried range replaces
// what its failed attempt wrote, and a range split off writes files of
// its own name.
//
// Each instance counts the outcomes of the batches it ran against the
// job's dead-letter limits (deadLimit), and, for a job with aggregates,
// totals the outcomes of each range into a partial carried in the
// range's tally: the partial covers exactly the outcomes of the range's
// files, so a retried or split range's partial is that of the files it
// left, and the manifest step merges the partials of the files the job
// kept.
type rangeFn struct {
	Spec   spec
	Output string

	agg   *aggregate.Plan // nil without aggregates
	limit deadLimit       // the job's dead-letter limits, this instance's share
}

func (f *rangeFn) Setup() error {
	var err error
	f.agg, err = aggregatePlan(f.Spec)
	return err
}

func (f *rangeFn) CreateInitialRestriction(c Chunk) offsetrange.Restriction {
	return offsetrange.Restriction{Start: c.Offset, End: c.End}
}

// SplitRestriction leaves a chunk whole: the chunks are cut small enough
// (BuildOptions.SplitBytes), and the runner splits a range as it runs.
func (f *rangeFn) SplitRestriction(_ Chunk, rest offsetrange.Restriction) []offsetrange.Restriction {
	return []offsetrange.Restriction{rest}
}

func (f *rangeFn) RestrictionSize(c Chunk, rest offsetrange.Restriction) float64 {
	if c.Whole {
		return float64(max(c.Input.Size, 1))
	}
	return float64(rest.End - rest.Start)
}

func (f *rangeFn) CreateTracker(rest offsetrange.Restriction) *sdf.LockRTracker {
	if rest.End == wholeEnd {
		return sdf.NewLockRTracker(unsplittable{offsetrange.NewTracker(rest)})
	}
	return sdf.NewLockRTracker(newLiquidTracker(rest))
}

// unsplittable is the tracker of a whole input's range (gzipped), whose
// end is not known: a split would hand on a residual past the last row,
// which a worker would read the whole file to find empty.
type unsplittable struct{ *offsetrange.Tracker }

func (u unsplittable) TrySplit(float64) (primary, residual any, err error) {
	return u.GetRestriction(), nil, nil
}

func (f *rangeFn) ProcessElement(ctx context.Context, rt *sdf.LockRTracker, c Chunk, tally func(Tally)) error {
	rest := rt.GetRestriction().(offsetrange.Restriction)
	w, err := workerFor(ctx, f.Spec)
	if err != nil {
		return err
	}
	later, err := laterRows(ctx, f.Output, c)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, f.Output)
	if err != nil {
		return err
	}
	r := &rangeRun{fn: f, w: w, c: c, start: rest.Start, later: later,
		t: Tally{Input: c.Input.Index, Kinds: map[string]int64{}}}
	// A split may stop a running call (see liquid) when the tracker is
	// ours and the binary stops between elements; tests play the runner
	// with trackers of their own.
	if lt, ok := rt.Rt.(*liquidTracker); ok {
		r.l, r.ownTracker = lt.l, true
	} else {
		r.l = newLiquid(rest)
	}
	if f.agg != nil {
		r.agg = f.agg.NewSet()
	}
	name := fmt.Sprintf("%05d-%012d", c.Input.Index, rest.Start)
	results, deadLetters := "results-"+name+".jsonl", "dead-letters-"+name+".jsonl"
	err = st.write(ctx, results, func(res *bufWriter) error {
		err := st.write(ctx, deadLetters, func(dead *bufWriter) error {
			r.results, r.dead = res, dead
			if err := r.run(ctx, rt); err != nil {
				return err
			}
			if r.t.DeadLetters == 0 {
				return errEmpty
			}
			return nil
		})
		if err := settle(ctx, st, deadLetters, err, &r.t.DeadLetterFile); err != nil {
			return err
		}
		if r.t.Results == 0 {
			return errEmpty
		}
		return nil
	})
	if err := settle(ctx, st, results, err, &r.t.ResultFile); err != nil {
		return err
	}
	if err := rangeHook(c.Input.Index, rest.Start); err != nil {
		return err
	}
	if r.agg != nil {
		if r.t.Aggregates, err = r.agg.MarshalBinary(); err != nil {
			return err
		}
	}
	r.t.Rows -= r.dropped // a residual's, read again there
	r.t.RunnerSplits, r.t.CallSplits = r.l.counts()
	t := w.tally()
	r.t.Process, r.t.Exec, r.t.Join = t.Process, t.Exec, t.Join
	r.t.Cache, r.t.CacheEntries = t.Cache, t.CacheEntries
	tally(r.t)
	return nil
}

// settle finishes one file of a range: written, removed if empty (an
// earlier attempt may have left one), or failed.
func settle(ctx context.Context, st *store, name string, err error, file *string) error {
	switch err {
	case nil:
		*file = name
		return nil
	case errEmpty:
		return st.remove(ctx, name)
	}
	return fmt.Errorf("write %s: %w", st.path(name), err)
}

// rangeRun is one attempt at one range.
type rangeRun struct {
	fn    *rangeFn
	w     *worker
	c     Chunk
	start int64
	later map[int64]bool

	results, dead *bufWriter
	done          chan ranBatch
	inflight      int
	seq           int // batches started
	t             Tally
	// l is what the range shares with its tracker, queue the batches
	// waiting to start: elements a stopped call handed back, to run
	// again. dropped counts the claimed rows a split gave to a residual.
	l          *liquid
	ownTracker bool // the range's tracker is a liquidTracker, sharing l
	queue      []queued
	dropped    int64
	// agg totals the outcomes written, for a job with aggregates.
	agg *aggregate.Set
}

func (r *rangeRun) run(ctx context.Context, rt *sdf.LockRTracker) (err error) {
	e, err := entryFor(r.fn.Spec)
	if err != nil {
		return err
	}
	j := e.spec.Job
	// Splits among claimed rows need calls that stop between elements,
	// and rows that are not fanned out over scenarios.
	liquid := r.ownTracker && e.schema.HonorsSigterm && e.schema.StreamsResults && !j.NoSplit && e.spec.Scenarios == nil
	r.l.enable(liquid, cmp.Or(time.Duration(j.Grace), jobspec.DefaultGrace))
	ctx, cancel := context.WithCancel(ctx)
	r.done = make(chan ranBatch, r.w.slots+1)
	defer func() {
		// Every batch has ended, and every subprocess with it, before
		// the range ends: nothing of a bundle outlives it. After fail
		// fast the calls running end on their own (the executor starts
		// no other), and their logs are kept: the job names every
		// failed call. Otherwise they are stopped.
		if fe := (*grid.FailFastError)(nil); !errors.As(err, &fe) {
			cancel()
		}
		for ; r.inflight > 0; r.inflight-- {
			<-r.done
			<-r.w.batches
		}
		cancel()
	}()
	var (
		dec      *codec.Decoder
		batch    []Element
		batchPos []int64 // the row position of each element of batch
		bytes    int
		// rows and read estimate the rows left in the range from the
		// bytes per row so far, for the sizer to shrink the last
		// batches: the range's end is its slots' rendezvous.
		rows, first, last int64 = 0, -1, 0
		left                    = func() int64 {
			end := rt.GetRestriction().(offsetrange.Restriction).End
			if r.c.Whole || rows < 2 || last <= first {
				return -1
			}
			return (end - last) * (rows - 1) / (last - first)
		}
		size = r.w.sizer.Next(-1)
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		r.queue = append(r.queue, queued{els: batch, pos: batchPos})
		batch, batchPos, bytes, size = nil, nil, 0, r.w.sizer.Next(left())
		return r.startQueued(ctx)
	}
	// put hands a row on under a scenario ("" without): a dead letter
	// written, or an element added to the batch. A row a split has
	// given to a residual since it was claimed is dropped.
	put := func(b *blockRow, scenario string) error {
		if b.dead != nil {
			if liquid && !r.l.admit(b.pos) {
				r.dropped++
				return nil
			}
			d := *b.dead
			d.Scenario = scenario
			return r.deadLetter(deadLetter(&d), b.input, scenario)
		}
		if liquid && !r.l.keeps(b.pos) {
			r.dropped++
			return nil
		}
		el := b.el
		el.Scenario = scenario
		batch = append(batch, el)
		batchPos = append(batchPos, b.pos)
		bytes += len(el.Payload)
		if len(batch) >= size || j.BatchBytes > 0 && bytes >= j.BatchBytes {
			return flush()
		}
		return nil
	}
	// With scenarios, rows are gathered in blocks of the local engine's
	// (grid.ScenarioBlockRows, by row number), and each block runs under
	// the first scenario, then the second, and so on: batches of one
	// scenario and many elements, memory bounded by the block. A block
	// never outlasts the range's claimed rows, so every scenario of a
	// claimed row is this range's, and none of a row past a split.
	scen := e.spec.Scenarios
	var block []blockRow
	blockStart := int64(-1)
	fan := func() error {
		for i := range scen.List {
			for k := range block {
				if err := put(&block[k], scen.List[i].ID); err != nil {
					return err
				}
			}
		}
		clear(block)
		block = block[:0]
		return nil
	}
	in := r.c.Input
	claimedAll := true
	err = chunkRows(ctx, r.c, r.start, func(pos int64, row codec.Row, rd codec.Reader) (bool, error) {
		if !rt.TryClaim(pos) {
			claimedAll = false
			return false, nil // the rest is another range's
		}
		r.t.Rows++
		rows, last = rows+1, pos
		if first < 0 {
			first = pos
		}
		if dec == nil {
			var err error
			if dec, err = codec.NewDecoder(e.schema.Input, rd, codec.Format(in.Format), decoderOptions(j, e.key)); err != nil {
				return false, err
			}
		}
		b := blockRow{pos: pos}
		el, err := dec.Decode(row)
		switch {
		case err != nil:
			// A row that never became an element: no input message to
			// group its dead letter by, as in the local engine.
			b.dead = badRowLetter(err, in.Path, row.Line, dec.ElementJSON(row))
		case r.later[pos]:
			b.dead, b.input = duplicateLetter(j.IDField, Element{ID: el.ID, Input: in.Path, Line: row.Line, Row: dec.ElementJSON(row)}), el.Payload
		default:
			b.el = Element{ID: el.ID, Key: el.Key, Payload: el.Payload, Input: in.Path, Line: row.Line, InputIndex: in.Index, Index: row.Index, Row: dec.ElementJSON(row)}
		}
		if scen == nil {
			return true, put(&b, "")
		}
		if start := row.Index / grid.ScenarioBlockRows; start != blockStart && len(block) > 0 {
			if err := fan(); err != nil {
				return false, err
			}
		}
		blockStart = row.Index / grid.ScenarioBlockRows
		block = append(block, b)
		return true, nil
	})
	if err == nil && len(block) > 0 {
		err = fan()
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	if claimedAll {
		// The input ended inside the range: claiming its end says the
		// range is done, so that no split hands on an empty rest.
		rt.TryClaim(rt.GetRestriction().(offsetrange.Restriction).End)
	}
	for {
		if err := r.startQueued(ctx); err != nil {
			return err
		}
		if r.inflight == 0 {
			return nil
		}
		if err := r.emit(<-r.done); err != nil {
			return err
		}
	}
}

// queued is a batch waiting to start: its elements and their rows'
// positions.
type queued struct {
	els []Element
	pos []int64
}

// startQueued starts the batches waiting, each once the process has a
// token for it, without their rows a split has given to a residual.
func (r *rangeRun) startQueued(ctx context.Context) error {
	for len(r.queue) > 0 {
		// Outcomes that are ready go out now (and may queue elements to
		// run again).
		for drained := false; !drained; {
			select {
			case rb := <-r.done:
				if err := r.emit(rb); err != nil {
					return err
				}
			default:
				drained = true
			}
		}
		// A batch starts with one of the process's tokens; the range
		// emits what its batches have done while it waits for one.
		for acquired := false; !acquired; {
			select {
			case r.w.batches <- struct{}{}:
				acquired = true
			case rb := <-r.done:
				if err := r.emit(rb); err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		q := r.queue[0]
		r.queue = r.queue[1:]
		fl, keep := r.l.launch(q.pos)
		r.dropped += int64(len(q.els) - keep)
		if keep == 0 {
			<-r.w.batches
			continue
		}
		b := Batch{ID: fmt.Sprintf("r%d-%d-%d", r.c.Input.Index, r.start, r.seq), Elements: q.els[:keep]}
		r.seq++
		if err := runHook(b); err != nil {
			r.l.land(fl, b, nil) // never started: out of flight
			<-r.w.batches
			return err
		}
		r.inflight++
		go runBatch(ctx, r.w, b, fl, r.done)
	}
	return nil
}

// deadLetter writes a dead letter; input is its element's input message
// and scenario its scenario id, for the aggregates.
func (r *rangeRun) deadLetter(d DeadLetter, input []byte, scenario string) error {
	r.t.DeadLetters++
	r.t.Kinds[d.Kind]++
	r.dead.Write(d.JSON)
	if err := r.dead.WriteByte('\n'); err != nil {
		return err
	}
	return r.aggregate(aggregate.Row{Input: input, Scenario: scenario, Dead: true})
}

// aggregate adds a written outcome to the range's partial aggregates.
func (r *rangeRun) aggregate(row aggregate.Row) error {
	if r.agg == nil {
		return nil
	}
	if err := r.agg.Add(row); err != nil {
		return fmt.Errorf("input %d, range from %d: %w", r.c.Input.Index, r.start, err)
	}
	return nil
}

func (r *rangeRun) emit(rb ranBatch) error {
	r.inflight--
	<-r.w.batches
	if rb.err != nil {
		// A *grid.FailFastError among them: the bundle fails, and with
		// it the job, naming the cause.
		return fmt.Errorf("batch %s: %w", rb.b.ID, rb.err)
	}
	// A split since the batch started keeps only the outcomes of rows
	// before the range's end, and the elements a stopped call handed
	// back that are still the range's run again.
	outs, again, againPos, dropped := r.l.land(rb.fl, rb.b, rb.outs)
	rb.outs = outs
	r.dropped += int64(dropped)
	if len(again) > 0 {
		r.queue = append(r.queue, queued{els: again, pos: againPos})
	}
	if err := r.fn.limit.add(r.fn.Spec.Job, rb.outs); err != nil {
		return err
	}
	for _, o := range rb.outs {
		if o.Dead != nil {
			e := rb.b.Elements[o.Source.Index]
			o.Dead.Input, o.Dead.Line = e.Input, e.Line
			if err := r.deadLetter(deadLetter(o.Dead), o.Input, o.Scenario); err != nil {
				return err
			}
			continue
		}
		r.results.Write(bytes.TrimSuffix(o.Line, []byte("\n")))
		if err := r.results.WriteByte('\n'); err != nil {
			return err
		}
		r.t.Results++
		if err := r.aggregate(aggregate.Row{Result: o.Payload, Input: o.Input, Scenario: o.Scenario}); err != nil {
			return err
		}
	}
	r.t.Batches++
	return nil
}

// blockRow is a claimed row of a range: the element it became, or its
// dead letter (bad_input) and, for a duplicate id, its input message.
type blockRow struct {
	el    Element
	dead  *grid.DeadLetter
	input []byte
	pos   int64 // the row's position in the input
}

// duplicate is the dead letter of the second row of an id, worded as the
// local engine words it.
func duplicate(idField string, e Element) DeadLetter {
	return deadLetter(duplicateLetter(idField, e))
}

// duplicateLetter is duplicate's dead letter, before it is encoded.
func duplicateLetter(idField string, e Element) *grid.DeadLetter {
	msg := fmt.Sprintf("field %s: duplicate id %q", idField, e.ID)
	if e.Input != "" {
		msg = fmt.Sprintf("%s:%d: %s", e.Input, e.Line, msg)
	}
	return &grid.DeadLetter{ID: e.ID, Kind: grid.KindBadInput, Message: msg, Field: idField,
		Input: e.Input, Line: e.Line, Element: rawJSON(e.Row)}
}
