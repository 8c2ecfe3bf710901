package grid

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gridrun/gridrun/batcher"
	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/internal/hashset"
	"github.com/gridrun/gridrun/internal/inputs"
	"github.com/gridrun/gridrun/internal/rangeset"
	"github.com/gridrun/gridrun/wrapper"
)

// input is one input file of the job.
type input struct {
	path    string
	size    int64 // bytes on disk
	format  codec.Format
	gzipped bool
	opts    codec.DecoderOptions
	schema  *wrapper.Schema
	// optional are the input message's fields a CSV or Parquet input may
	// have no column for (Job.InputOptional).
	optional []string
	// cover is how the input's columns (or its first rows' keys) fill the
	// input message, as check found it.
	cover codec.Coverage
}

// expandInputs resolves globs and checks that every input exists and has a
// known format. Standard input was saved by saveStdin.
func expandInputs(ctx context.Context, j Job) ([]*input, error) {
	stdin, err := stdinPath(j)
	if err != nil {
		return nil, err
	}
	files, err := inputs.Expand(ctx, j.Inputs, j.InputFormat, &inputs.Options{Stdin: stdin})
	if err != nil {
		return nil, &ConfigError{Err: err}
	}
	ins := make([]*input, len(files))
	for i, f := range files {
		ins[i] = &input{path: f.Path, size: f.Size, format: f.Format, gzipped: f.Gzip}
	}
	return ins, nil
}

// source is an open input file: read as a stream, or at offsets (Parquet).
type source = inputs.Source

// open opens the input and its decoder, reading the file through wrap
// when it is not nil. The caller closes the source.
func (in *input) open(ctx context.Context, wrap func(source) source) (source, codec.Reader, *codec.Decoder, error) {
	f, r, err := inputs.Open(ctx, inputs.File{Path: in.path, Format: in.format, Gzip: in.gzipped}, &inputs.Options{Wrap: wrap})
	if err != nil {
		return nil, nil, nil, err
	}
	d, err := codec.NewDecoder(in.schema.Input, r, in.format, in.opts)
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	return f, r, d, nil
}

// check opens the input once, so that a bad header, a field the job names
// but the schema lacks, or a field of the message no column fills stops
// the job before any call. Of JSON lines it reads the first rows (up to
// first): an id field none of them has is an error, fields none has are
// noted. It learns the size of an object in Cloud Storage.
func (in *input) check(ctx context.Context, first int) error {
	f, r, _, err := in.open(ctx, nil)
	if err != nil {
		return &ConfigError{Err: err}
	}
	defer f.Close()
	in.size = f.Size()
	extra := []string{cmp.Or(in.opts.IDField, "id")}
	if in.opts.Key != nil {
		extra = append(extra, in.opts.Key.Fields()...)
	}
	msg := in.schema.Input
	if h := r.Header(); h != nil {
		in.cover = codec.Cover(msg, h, in.optional, extra)
		if len(in.cover.Missing) > 0 {
			return configErr("input %s: no column fills field %s of %s (columns: %s); name it, or list it in --input-optional",
				in.path, in.cover.Missing[0], msg.FullName(), codec.Columns(h))
		}
		return nil
	}
	if in.format != codec.JSONL {
		return nil
	}
	keys, rows, err := firstKeys(r, first)
	if err != nil || rows == 0 {
		return nil // the rows say what is wrong with them, as dead letters
	}
	if !slices.Contains(keys, extra[0]) {
		return configErr("input %s: none of the first %d rows has the id field %q (keys: %s); name the id field with --id-field",
			in.path, rows, extra[0], codec.Columns(keys))
	}
	// JSON lines omit fields at their zero value: noted, not refused.
	c := codec.Cover(msg, keys, in.optional, extra)
	in.cover = codec.Coverage{Unfilled: c.Missing}
	return nil
}

// firstKeys returns the keys of the JSON objects among the first n rows
// of r, in the order first seen, and how many rows were objects.
func firstKeys(r codec.Reader, n int) ([]string, int, error) {
	var keys []string
	seen := map[string]bool{}
	objects := 0
	for range max(n, 1) {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return keys, objects, err
		}
		var obj map[string]json.RawMessage
		if row.Err != nil || json.Unmarshal(row.Data, &obj) != nil {
			continue
		}
		objects++
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys, objects, nil
}

// report logs what check found: optional fields without a column, and
// the fields no row of a JSON lines input's first rows has.
func (in *input) report(log *slog.Logger) {
	switch {
	case in.format == codec.JSONL && len(in.cover.Unfilled) > 0:
		log.Warn("no row of the input's first batch has these fields: they are zero unless later rows have them", "input", in.path, "fields", in.cover.Unfilled)
	case len(in.cover.Unfilled) > 0:
		log.Info("optional input fields without a column", "input", in.path, "fields", in.cover.Unfilled)
	}
	if len(in.cover.Unused) > 0 {
		log.Warn("input columns fill no field of the input message", "input", in.path, "columns", in.cover.Unused)
	}
}

// feeder reads the inputs in order, decodes rows in parallel (keeping their
// order, so that batches and duplicate detection are the same in every run)
// and hands elements to the batcher and bad rows to the dead letters.
type feeder struct {
	inputs  []*input
	done    map[int]*rangeset.Set // rows committed by an earlier run
	workers int
	batch   *batcher.Batcher[*Element]
	dead    func(Outcome)
	// hashed, if set, is given each input's sha256 and length once it
	// has been read to its end as a stream.
	hashed func(input int, sha256 string, n int64)

	// scen are the job's scenarios; nil without. Rows then run in blocks
	// (see ScenarioBlockRows): block holds the rows of the one being
	// read, from row blockStart of input blockInput.
	scen       *Scenarios
	block      []decoded
	blockInput int
	blockStart int64

	seed   maphash.Seed
	seen   *hashset.Set // hashes of the ids seen so far
	chunks sync.Pool    // delivered chunks, for reuse

	rows      []atomic.Int64 // rows read per input
	skipped   atomic.Int64   // rows an earlier run committed
	consumed  atomic.Int64   // input bytes the rows read so far span
	delivered atomic.Int64   // rows handed on: to a batch, a dead letter, or skipped
}

// fan is the number of elements a row becomes: one per scenario.
func (f *feeder) fan() int64 { return int64(max(1, f.scen.count())) }

// remaining estimates the elements not yet handed on: those of the rows
// read and not delivered, plus those of the unread bytes at the
// bytes-per-row seen so far.
func (f *feeder) remaining() (int64, bool) {
	var read, total int64
	for i := range f.rows {
		read += f.rows[i].Load()
	}
	for _, in := range f.inputs {
		total += in.size
	}
	consumed := f.consumed.Load()
	if read == 0 || consumed == 0 {
		return 0, false
	}
	unread := max(total-consumed, 0) * read / consumed
	return (unread+read)*f.fan() - f.delivered.Load(), true
}

// chunkSize is the number of rows decoded as one piece of work.
const chunkSize = 256

type chunk struct {
	input int
	rows  []codec.Row
	out   []decoded
	// hashes are the hashes of the elements' ids, in the order of out,
	// made by the decoders so that deliver can fetch their places in
	// seen all at once (hashset.Set.Touch) before it adds them.
	hashes []uint64
	ready  chan struct{}
}

// decoded is one row's fate: an element, or a dead letter.
type decoded struct {
	pos  Position
	elem *Element
	dead *DeadLetter
	hash uint64 // of elem's id
}

// run feeds every input and returns the first error that ended an input
// early (a truncated protobuf file); rows read before it are fed.
func (f *feeder) run(ctx context.Context) error {
	f.seed = maphash.MakeSeed()
	f.seen = hashset.New()
	work := make(chan *chunk, f.workers)
	order := make(chan *chunk, 2*f.workers)
	decs := make([]*codec.Decoder, len(f.inputs))
	var readErr error
	go func() {
		defer close(work)
		defer close(order)
		readErr = f.read(ctx, work, order, decs)
	}()
	var wg sync.WaitGroup
	for range f.workers {
		wg.Go(func() {
			for c := range work {
				f.decode(c, decs[c.input])
				close(c.ready)
			}
		})
	}
	for c := range order {
		<-c.ready
		f.deliver(c)
		f.recycle(c)
	}
	wg.Wait()
	f.flushBlock()
	f.batch.Flush()
	return readErr
}

// read reads all inputs into chunks; decs[i] is set before input i's first
// chunk is sent.
func (f *feeder) read(ctx context.Context, work, order chan<- *chunk, decs []*codec.Decoder) error {
	for i, in := range f.inputs {
		var hs *hashingSource
		file, r, d, err := in.open(ctx, func(s source) source {
			hs = newHashingSource(s)
			return hs
		})
		if err != nil {
			return err
		}
		decs[i] = d
		err = f.readOne(ctx, i, r, work, order)
		if err == nil && f.hashed != nil {
			if sum, n, ok := hs.sum(); ok {
				f.hashed(i, sum, n)
			}
		}
		file.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (f *feeder) readOne(ctx context.Context, i int, r codec.Reader, work, order chan<- *chunk) error {
	var before int64 // the bytes of the inputs before this one
	for _, in := range f.inputs[:i] {
		before += in.size
	}
	newChunk := func() *chunk {
		c, _ := f.chunks.Get().(*chunk)
		if c == nil {
			c = &chunk{rows: make([]codec.Row, 0, chunkSize), out: make([]decoded, 0, chunkSize), hashes: make([]uint64, 0, chunkSize)}
		}
		c.input, c.ready = i, make(chan struct{})
		return c
	}
	c := newChunk()
	send := func() bool {
		select {
		case work <- c:
		case <-ctx.Done():
			return false
		}
		order <- c // never blocks longer than the decoders take
		c = newChunk()
		return true
	}
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			if len(c.rows) > 0 {
				send()
			}
			return err
		}
		f.rows[i].Add(1)
		f.consumed.Store(before + r.Offset())
		c.rows = append(c.rows, row)
		if len(c.rows) == chunkSize && !send() {
			return ctx.Err()
		}
	}
	if len(c.rows) > 0 && !send() {
		return ctx.Err()
	}
	return ctx.Err()
}

func (f *feeder) decode(c *chunk, d *codec.Decoder) {
	c.out = c.out[:len(c.rows)]
	for k, row := range c.rows {
		pos := Position{Input: c.input, Index: row.Index, Line: row.Line}
		e, err := d.Decode(row)
		if err != nil {
			dl := &DeadLetter{Kind: KindBadInput, Message: err.Error(), Element: d.ElementJSON(row)}
			var re *codec.RowError
			if errors.As(err, &re) {
				dl.ID, dl.Field = re.ID, re.Field
			}
			c.out[k] = decoded{pos: pos, dead: dl}
			continue
		}
		h := maphash.String(f.seed, e.ID)
		c.out[k] = decoded{pos: pos, elem: &Element{ID: e.ID, Key: e.Key, Payload: e.Payload, Source: pos, row: row, dec: d}, hash: h}
		c.hashes = append(c.hashes, h)
	}
}

func (f *feeder) deliver(c *chunk) {
	if f.scen != nil {
		f.deliverBlocks(c)
		return
	}
	done := f.done[c.input]
	in := f.inputs[c.input]
	f.seen.Touch(c.hashes)
	for _, r := range c.out {
		f.delivered.Add(1)
		skip := done != nil && done.Contains(r.pos.Index)
		if skip {
			f.skipped.Add(1)
		}
		if r.dead != nil {
			if !skip {
				f.dead(Outcome{Source: r.pos, Dead: r.dead})
			}
			continue
		}
		// Ids committed by an earlier run count too: the same row is a
		// duplicate whether or not the job was interrupted before it.
		if !f.seen.Add(r.hash) {
			if !skip {
				f.dead(deadOutcome(r.elem, &DeadLetter{
					Kind:    KindBadInput,
					Message: fmt.Sprintf("%s:%d: field %s: duplicate id %q", in.path, r.pos.Line, in.opts.IDField, r.elem.ID),
					Field:   in.opts.IDField,
				}))
			}
			continue
		}
		if !skip {
			f.batch.Add(r.elem)
		}
	}
}

// deliverBlocks gathers a chunk's rows into blocks of ScenarioBlockRows,
// checking their ids, and hands each block on once whole.
func (f *feeder) deliverBlocks(c *chunk) {
	in := f.inputs[c.input]
	for _, r := range c.out {
		start := r.pos.Index / ScenarioBlockRows * ScenarioBlockRows
		if len(f.block) > 0 && (f.blockInput != c.input || f.blockStart != start) {
			f.flushBlock()
		}
		if len(f.block) == 0 {
			f.blockInput, f.blockStart = c.input, start
		}
		if r.dead == nil && !f.seen.Add(maphash.String(f.seed, r.elem.ID)) {
			r.dead = &DeadLetter{
				ID:      r.elem.ID,
				Kind:    KindBadInput,
				Message: fmt.Sprintf("%s:%d: field %s: duplicate id %q", in.path, r.pos.Line, in.opts.IDField, r.elem.ID),
				Field:   in.opts.IDField,
				Element: r.elem.given(),
			}
		}
		f.block = append(f.block, r)
	}
}

// flushBlock hands on the block's rows under every scenario in turn: the
// first scenario's elements, then the second's, so that consecutive
// batches share a scenario. An element committed by an earlier run is
// skipped; a bad row is a dead letter under each scenario, so that every
// (row, scenario) has exactly one outcome.
func (f *feeder) flushBlock() {
	if len(f.block) == 0 {
		return
	}
	done := f.done[f.blockInput]
	start := f.blockStart
	for s := range f.scen.List {
		sc := &f.scen.List[s]
		for _, r := range f.block {
			f.delivered.Add(1)
			pos := r.pos
			pos.Index = virtualRow(r.pos.Index, start, s, len(f.scen.List))
			if done != nil && done.Contains(pos.Index) {
				f.skipped.Add(1)
				continue
			}
			if r.dead != nil {
				d := *r.dead
				d.Scenario = sc.ID
				o := Outcome{Source: pos, ID: d.ID, Scenario: sc.ID, Dead: &d}
				if r.elem != nil {
					// A duplicate id: it counts in its element's group of
					// the aggregates, as in a job without scenarios.
					o.Input = r.elem.Payload
				}
				f.dead(o)
				continue
			}
			e := r.elem
			f.batch.Add(&Element{ID: e.ID, Key: e.Key, Payload: e.Payload, Source: pos, Scenario: sc, row: e.row, dec: e.dec})
		}
	}
	clear(f.block)
	f.block = f.block[:0]
}

// recycle returns a delivered chunk for reuse: its rows and outcomes have
// been copied into elements and dead letters, and a job of millions of
// rows would otherwise allocate a fresh chunk for every 256 of them.
func (f *feeder) recycle(c *chunk) {
	clear(c.rows)
	clear(c.out)
	c.rows, c.out, c.hashes = c.rows[:0], c.out[:0], c.hashes[:0]
	f.chunks.Put(c)
}

// rowsRead returns the rows read per input.
func (f *feeder) rowsRead() []int64 {
	out := make([]int64, len(f.rows))
	for i := range f.rows {
		out[i] = f.rows[i].Load()
	}
	return out
}
