package beamgrid

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/internal/inputs"
)

// openInput opens an input's rows, through the process's storage client.
func openInput(ctx context.Context, in InputFile) (io.Closer, codec.Reader, error) {
	store, err := storeOptions(ctx, in.Path)
	if err != nil {
		return nil, nil, err
	}
	return inputs.Open(ctx, inputs.File{Path: in.Path, Format: codec.Format(in.Format), Gzip: in.Gzip}, &inputs.Options{Store: store})
}

func decoderOptions(j grid.Job, key *codec.Template) codec.DecoderOptions {
	return codec.DecoderOptions{IDField: j.IDField, Key: key, IgnoreUnknown: j.IgnoreUnknownFields}
}

// badRow is the dead letter of a row that did not decode, as the local
// engine writes it.
func badRow(err error, input string, line int64, raw json.RawMessage) DeadLetter {
	return deadLetter(badRowLetter(err, input, line, raw))
}

// badRowLetter is badRow's dead letter, before it is encoded.
func badRowLetter(err error, input string, line int64, raw json.RawMessage) *grid.DeadLetter {
	d := &grid.DeadLetter{Kind: grid.KindBadInput, Message: err.Error(), Input: input, Line: line, Element: raw}
	var re *codec.RowError
	if errors.As(err, &re) {
		d.ID, d.Field = re.ID, re.Field
	}
	return d
}

// decodeJSONFn is DecodeJSON's DoFn.
type decodeJSONFn struct {
	Spec  spec
	Input string

	dec *codec.Decoder
}

func (f *decodeJSONFn) Setup() error {
	e, err := entryFor(f.Spec)
	if err != nil {
		return err
	}
	r, err := codec.NewReader(strings.NewReader(""), f.Input, codec.JSONL, false)
	if err != nil {
		return err
	}
	f.dec, err = codec.NewDecoder(e.schema.Input, r, codec.JSONL, decoderOptions(e.spec.Job, e.key))
	return err
}

func (f *decodeJSONFn) ProcessElement(line string, emit func(Element), dead func(DeadLetter)) {
	row := codec.Row{Data: []byte(line)}
	el, err := f.dec.Decode(row)
	if err != nil {
		dead(badRow(err, f.Input, 0, f.dec.ElementJSON(row)))
		return
	}
	emit(Element{ID: el.ID, Key: el.Key, Payload: el.Payload, Input: f.Input, Row: f.dec.ElementJSON(row)})
}

// shardFn keys an element by a checksum of its id modulo the shard count:
// the usual way to group elements that have no natural batch key. All the
// elements of one id share a shard, so duplicates meet in one group.
type shardFn struct {
	Shards int
}

func (f *shardFn) ProcessElement(e Element) (int64, Element) {
	return shardOf(e.ID, f.Shards), e
}

// batchFn cuts a shard's elements into batches of at most Size elements
// and Bytes payload bytes, as even as it can: 130 elements in batches of
// 100 make two calls of 65, not 100 and 30. The elements are sorted first,
// so that a retried bundle makes the same batches.
type batchFn struct {
	Size, Bytes int
	IDField     string
}

// collect gathers what a grouped input's iterator yields, each a value of
// its own (the iterator fills the one it is given).
func collect[T any](next func(*T) bool) []T {
	var out []T
	for {
		var v T
		if !next(&v) {
			return out
		}
		out = append(out, v)
	}
}

func (f *batchFn) ProcessElement(shard int64, iter func(*Element) bool, emit func(Batch), dead func(DeadLetter)) {
	elems := collect(iter)
	slices.SortFunc(elems, func(a, b Element) int {
		return cmp.Or(cmp.Compare(a.InputIndex, b.InputIndex), cmp.Compare(a.Index, b.Index),
			strings.Compare(a.Input, b.Input), strings.Compare(a.ID, b.ID),
			bytes.Compare(a.Payload, b.Payload), bytes.Compare(a.Row, b.Row))
	})
	kept := make([]Element, 0, len(elems))
	seen := make(map[string]bool, len(elems))
	for _, e := range elems {
		if seen[e.ID] {
			dead(duplicate(f.IDField, e))
			continue
		}
		seen[e.ID] = true
		kept = append(kept, e)
	}
	if len(kept) == 0 {
		return
	}
	most := max(f.Size, 1)
	calls := (len(kept) + most - 1) / most
	per := (len(kept) + calls - 1) / calls
	n, start, payload := 0, 0, 0
	for i, e := range kept {
		if i > start && (i-start == per || f.Bytes > 0 && payload+len(e.Payload) > f.Bytes) {
			emit(Batch{ID: fmt.Sprintf("s%06d-%d", shard, n), Elements: kept[start:i]})
			n, start, payload = n+1, i, 0
		}
		payload += len(e.Payload)
	}
	emit(Batch{ID: fmt.Sprintf("s%06d-%d", shard, n), Elements: kept[start:]})
}

func rawJSON(row []byte) json.RawMessage {
	if row == nil {
		return nil
	}
	return json.RawMessage(row)
}

// runFn runs batches through the process's grid.Executor.
//
// A runner may hand one bundle all the batches of a stage (prism does) and
// calls ProcessElement one element at a time, so a call per ProcessElement
// would run one subprocess at a time. Instead each batch runs in a
// goroutine, up to the executor's parallelism plus one (the next batch's
// join is read while the others run), and the executor's semaphore, shared
// by every bundle of the process, caps the subprocesses. Outcomes are
// emitted from ProcessElement and FinishBundle, on the bundle's goroutine,
// as batches finish. Every batch has ended, and every subprocess with it,
// before FinishBundle returns or a failure is reported: nothing of a
// bundle outlives it, since Teardown never comes.
type runFn struct {
	Spec spec

	w        *worker
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan ranBatch
	inflight int
	batches  int64
	limit    deadLimit // the job's dead-letter limits, this instance's share
}

// ranBatch is a batch that ran, with its outcomes in the order the
// executor settled them.
type ranBatch struct {
	b    Batch
	outs []grid.Outcome
	err  error
	fl   *flight // a range's batch; nil for runFn's
}

func (f *runFn) Setup(ctx context.Context) error {
	w, err := workerFor(ctx, f.Spec)
	f.w = w
	return err
}

func (f *runFn) StartBundle(ctx context.Context, _ func(Result), _ func(DeadLetter), _ func(Tally)) {
	f.ctx, f.cancel = context.WithCancel(ctx)
	f.done = make(chan ranBatch, f.w.slots+1)
	f.inflight, f.batches = 0, 0
}

func (f *runFn) ProcessElement(b Batch, result func(Result), dead func(DeadLetter), tally func(Tally)) error {
	defer f.stopOnPanic()
	// Outcomes that are ready go out now; then wait for room if all the
	// slots are taken.
	for drained := false; !drained; {
		select {
		case r := <-f.done:
			if err := f.emit(r, result, dead); err != nil {
				return f.fail(err)
			}
		default:
			drained = true
		}
	}
	for f.inflight > f.w.slots {
		if err := f.emit(<-f.done, result, dead); err != nil {
			return f.fail(err)
		}
	}
	if err := runHook(b); err != nil {
		return f.fail(err)
	}
	f.inflight++
	go runBatch(f.ctx, f.w, b, nil, f.done)
	return nil
}

func (f *runFn) FinishBundle(result func(Result), dead func(DeadLetter), tally func(Tally)) error {
	defer f.stopOnPanic()
	for f.inflight > 0 {
		if err := f.emit(<-f.done, result, dead); err != nil {
			return f.fail(err)
		}
	}
	f.cancel()
	if f.batches > 0 {
		t := f.w.tally()
		t.Batches = f.batches
		tally(t)
	}
	return nil
}

// fail stops the bundle's batches, waits for them to end, and returns err.
func (f *runFn) fail(err error) error {
	f.cancel()
	for ; f.inflight > 0; f.inflight-- {
		<-f.done
	}
	return err
}

// stopOnPanic ends the bundle's batches when an emit panics (a DoFn
// downstream failing), before the panic goes on.
func (f *runFn) stopOnPanic() {
	if r := recover(); r != nil {
		f.fail(nil)
		panic(r)
	}
}

// runBatch runs a batch through w's executor and sends what became of it
// on done. A range's batch has its flight, told of the calls and the
// outcomes so that a split may stop a call (see liquid); the elements a
// stopped call handed back have no outcome.
func runBatch(ctx context.Context, w *worker, b Batch, fl *flight, done chan<- ranBatch) {
	elems := make([]*grid.Element, len(b.Elements))
	for i := range b.Elements {
		e := &b.Elements[i]
		raw := rawJSON(e.Row)
		elems[i] = &grid.Element{
			ID: e.ID, Key: e.Key, Payload: e.Payload,
			// The batch index, to find the element of an outcome.
			Source: grid.Position{Index: int64(i), Line: e.Line},
			Raw:    func() json.RawMessage { return raw },
		}
		if e.Scenario != "" {
			sc, ok := w.scenarios[e.Scenario]
			if !ok {
				fl.finish()
				done <- ranBatch{b: b, fl: fl, err: fmt.Errorf("internal error: element %q of batch %s is under scenario %q, not one of the job's", e.ID, b.ID, e.Scenario)}
				return
			}
			elems[i].Scenario = sc
		}
	}
	var outs []grid.Outcome
	agg := len(w.spec.Job.Aggregates) > 0
	err := w.x.RunTaskWatched(ctx, grid.NewTask(b.ID, elems), func(o grid.Outcome) {
		fl.settle(o.Source.Index)
		o.Line = bytes.Clone(o.Line) // the engine reuses its buffer once emit returns
		if agg {
			o.Payload = bytes.Clone(o.Payload)
		} else {
			o.Payload, o.Input = nil, nil
		}
		outs = append(outs, o)
	}, fl.watch())
	released := fl.finish()
	w.removeLogs(b.ID)
	if err == nil && len(outs)+released != len(elems) {
		err = fmt.Errorf("internal error: batch %s of %d elements has %d outcomes and %d elements handed back", b.ID, len(elems), len(outs), released)
	}
	done <- ranBatch{b: b, outs: outs, err: err, fl: fl}
}

func (f *runFn) emit(r ranBatch, result func(Result), dead func(DeadLetter)) error {
	f.inflight--
	if r.err != nil {
		return fmt.Errorf("batch %s: %w", r.b.ID, r.err)
	}
	if err := f.limit.add(f.Spec.Job, r.outs); err != nil {
		return err
	}
	for _, o := range r.outs {
		if o.Dead != nil {
			e := r.b.Elements[o.Source.Index]
			o.Dead.Input, o.Dead.Line = e.Input, e.Line
			d := deadLetter(o.Dead)
			d.Input, d.Scenario = o.Input, o.Scenario
			dead(d)
			continue
		}
		result(Result{ID: o.ID, JSON: bytes.TrimSuffix(o.Line, []byte("\n")), Payload: o.Payload, Input: o.Input, Scenario: o.Scenario})
	}
	f.batches++
	return nil
}
