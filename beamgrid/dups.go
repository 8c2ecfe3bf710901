package beamgrid

import (
	"bufio"
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/outdir"
)

// Of two rows with one id the second is a bad_input dead letter, as in the
// local engine, wherever the two are: in one chunk, in two chunks, in two
// inputs. The ids are found in a pass of their own before any range runs,
// and never held whole by anyone, so that the memory of the job does not
// grow with its rows:
//
//   - each chunk's ids pass (idsFn) decodes the chunk's rows and writes
//     one record per row that becomes an element, (64-bit hash of the id,
//     position, id), sorted, into files of the output's _gridrun/ids/
//     directory, named by the chunk: a retried chunk rewrites the same
//     names. Only the file names go on.
//   - one step (mergeFn) reads every chunk's files at once in a k-way
//     merge, holding one record and one buffer per file, in the order
//     (hash, id, input, position): the rows of one id come together, first
//     row first, and every row after the first of its id is a later
//     duplicate. Equal hashes are confirmed by comparing the ids. The
//     positions of the later duplicates are written per chunk into
//     _gridrun/dups/; then the chunks go on to the ranges.
//   - a range reads its chunk's positions (none: no file) before it runs.
//
// The positions reach the ranges through files rather than a side input:
// the run step has no side input, so a runner schedules it as any stage
// (prism, holding a side input, re-evaluates the stage's watermarks in a
// busy loop as long as the ranges run), and no worker holds the positions
// of other chunks. The files are removed by the manifest step, once every
// range has read its own; those of a failed job by the next run into the
// output.
//
// The merge holds one buffer per file, and the later duplicates' positions
// until it writes them (8 bytes a row, none without duplicates): memory
// bounded by the inputs' size only for an input of mostly repeated ids.
// Its reads are sequential, but all in one worker: at about 14 bytes a
// row it reads 140 MB for 10 million rows.

const (
	// idsDir holds the chunks' sorted ids; dupsDir the positions of later
	// duplicates, per chunk.
	idsDir  = outdir.StateDir + "/ids/"
	dupsDir = outdir.StateDir + "/dups/"
	// idRunRows is the most ids the ids pass sorts in memory before it
	// writes them to a file: a chunk of SplitBytes holds fewer, a whole
	// gzipped input may hold more, in several sorted files.
	idRunRows = 1 << 18
	// mergeBufferBytes is what the merge's file buffers take together, at
	// most, with at least 4 KiB a file.
	mergeBufferBytes = 32 << 20
)

// IDFiles are the files of sorted ids of one chunk, relative to the
// output: the element that flows from the ids pass to the merge.
type IDFiles struct {
	Chunk Chunk
	Files []string
}

// idHash is the hash the ids are sorted by: the same on every worker and
// in every run.
func idHash(id []byte) uint64 {
	h := fnv.New64a()
	h.Write(id)
	return h.Sum64()
}

// chunkName names a chunk's files: by its input and its first position.
func chunkName(c Chunk) string {
	return fmt.Sprintf("%05d-%012d", c.Input.Index, c.Offset)
}

// dupsName is the file of the later duplicates' positions of a chunk.
func dupsName(c Chunk) string { return dupsDir + chunkName(c) + ".pos" }

// idsFn writes the sorted ids of a chunk's rows that decode.
type idsFn struct {
	Spec   spec
	Output string
	// RunRows is the most ids sorted in memory; 0 means idRunRows.
	RunRows int
}

func (f *idsFn) ProcessElement(ctx context.Context, c Chunk, emit func(IDFiles)) error {
	e, err := entryFor(f.Spec)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, f.Output)
	if err != nil {
		return err
	}
	workers := runtime.GOMAXPROCS(0)
	work := make(chan *idBlock, workers)
	order := make(chan *idBlock, 2*workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	out := IDFiles{Chunk: c}
	var run idRun
	write := func() error {
		name := fmt.Sprintf("%s%s-%04d.ids", idsDir, chunkName(c), len(out.Files))
		if err := st.write(ctx, name, run.writeSorted); err != nil {
			return fmt.Errorf("write %s: %w", st.path(name), err)
		}
		out.Files = append(out.Files, name)
		run.reset()
		return nil
	}
	limit := cmp.Or(f.RunRows, idRunRows)
	// The rows are read in order and decoded in blocks by a goroutine per
	// CPU, as decoding is most of the pass's work; the blocks' ids go into
	// the run in the rows' order, so that each file holds the same rows
	// in every attempt.
	for range workers {
		g.Go(func() error {
			for b := range work {
				b.decode()
			}
			return nil
		})
	}
	g.Go(func() error {
		for b := range order {
			select {
			case <-b.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			for i, id := range b.ids {
				if !b.bad[i] {
					run.add(id, b.pos[i])
				}
				if run.len() >= limit {
					if err := write(); err != nil {
						return err
					}
				}
			}
		}
		if run.len() > 0 {
			return write()
		}
		return nil
	})
	var (
		dec *codec.Decoder
		b   *idBlock
	)
	send := func() error {
		for _, ch := range []chan *idBlock{order, work} {
			select {
			case ch <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		b = nil
		return nil
	}
	err = chunkRows(ctx, c, 0, func(pos int64, r codec.Row, rd codec.Reader) (bool, error) {
		if dec == nil {
			var err error
			if dec, err = codec.NewDecoder(e.schema.Input, rd, codec.Format(c.Input.Format), decoderOptions(e.spec.Job, e.key)); err != nil {
				return false, err
			}
		}
		if b == nil {
			b = &idBlock{dec: dec, done: make(chan struct{})}
		}
		b.rows, b.pos = append(b.rows, r), append(b.pos, pos)
		if len(b.rows) == idBlockRows {
			return true, send()
		}
		return true, nil
	})
	if err == nil && b != nil {
		err = send()
	}
	if err != nil {
		cancel() // no file is written for a chunk that failed
	}
	close(work)
	close(order)
	if gerr := g.Wait(); err == nil {
		err = gerr
	}
	if err != nil {
		return err
	}
	emit(out)
	return nil
}

// idBlockRows is the rows of a block decoded by one goroutine.
const idBlockRows = 512

// idBlock is rows of a chunk, decoded into their ids by one goroutine.
type idBlock struct {
	dec  *codec.Decoder
	rows []codec.Row
	pos  []int64
	// ids are the rows' ids once done is closed; bad marks a row that
	// does not decode: no element, no id.
	ids  []string
	bad  []bool
	done chan struct{}
}

func (b *idBlock) decode() {
	b.ids, b.bad = make([]string, len(b.rows)), make([]bool, len(b.rows))
	for i, r := range b.rows {
		el, err := b.dec.Decode(r)
		b.ids[i], b.bad[i] = el.ID, err != nil
	}
	b.rows = nil
	close(b.done)
}

// idRun is the ids of a run of rows, their bytes in one slab rather than
// one string each, which would keep each row's buffer alive.
type idRun struct {
	recs []idRec
	ids  []byte
}

type idRec struct {
	hash     uint64
	pos      int64
	off, len uint32
}

func (r *idRun) add(id string, pos int64) {
	off := len(r.ids)
	r.ids = append(r.ids, id...)
	r.recs = append(r.recs, idRec{hash: idHash(r.ids[off:]), pos: pos, off: uint32(off), len: uint32(len(id))})
}

func (r *idRun) len() int { return len(r.recs) }

func (r *idRun) reset() {
	r.recs, r.ids = r.recs[:0], r.ids[:0]
}

func (r *idRun) id(x idRec) []byte { return r.ids[x.off : x.off+x.len] }

// writeSorted writes the run's records in the merge's order: (hash, id,
// position). Each record is the hash (8 bytes, big-endian), the position
// and the id's length (uvarints), and the id.
func (r *idRun) writeSorted(w *bufWriter) error {
	slices.SortFunc(r.recs, func(a, b idRec) int {
		if c := cmp.Compare(a.hash, b.hash); c != 0 {
			return c
		}
		if c := bytes.Compare(r.id(a), r.id(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.pos, b.pos)
	})
	var b []byte
	for _, x := range r.recs {
		b = binary.BigEndian.AppendUint64(b[:0], x.hash)
		b = binary.AppendUvarint(b, uint64(x.pos))
		b = binary.AppendUvarint(b, uint64(x.len))
		w.Write(b)
		if _, err := w.Write(r.id(x)); err != nil {
			return err
		}
	}
	return nil
}

// mergeFn merges every chunk's ids, writes the positions of the later
// duplicates of each chunk that has any, and hands the chunks on to the
// ranges.
type mergeFn struct {
	Output string
}

func (f *mergeFn) ProcessElement(ctx context.Context, _ int, files func(*IDFiles) bool, emit func(Chunk)) error {
	chunks := collect(files)
	// In the inputs' order, so that a chunk's index orders its rows
	// before a later chunk's.
	slices.SortFunc(chunks, func(a, b IDFiles) int {
		return cmp.Or(cmp.Compare(a.Chunk.Input.Index, b.Chunk.Input.Index), cmp.Compare(a.Chunk.Offset, b.Chunk.Offset))
	})
	st, err := openStore(ctx, f.Output)
	if err != nil {
		return err
	}
	later, err := mergeIDs(ctx, st, chunks)
	if err != nil {
		return err
	}
	for i, pos := range later {
		if len(pos) == 0 {
			continue
		}
		name := dupsName(chunks[i].Chunk)
		err := st.write(ctx, name, func(w *bufWriter) error {
			var b []byte
			prev := int64(0)
			for _, p := range pos {
				b = binary.AppendUvarint(b[:0], uint64(p-prev))
				prev = p
				if _, err := w.Write(b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("write %s: %w", st.path(name), err)
		}
	}
	for _, c := range chunks {
		emit(c.Chunk)
	}
	return nil
}

// mergeIDs reads the chunks' files in one k-way merge and returns, per
// chunk, the sorted positions of its rows whose id an earlier row has.
func mergeIDs(ctx context.Context, st *store, chunks []IDFiles) ([][]int64, error) {
	n := 0
	for _, c := range chunks {
		n += len(c.Files)
	}
	size := min(64<<10, max(4<<10, mergeBufferBytes/max(n, 1)))
	var h idHeap
	defer func() {
		for _, r := range h {
			r.close()
		}
	}()
	for i, c := range chunks {
		for _, name := range c.Files {
			rc, err := st.b.NewReader(ctx, name)
			if err != nil {
				return nil, err
			}
			r := &idReader{name: st.path(name), chunk: i, input: c.Chunk.Input.Index, rc: rc, r: bufio.NewReaderSize(rc, size)}
			if err := r.next(); err != nil {
				r.close()
				if err == io.EOF {
					continue
				}
				return nil, err
			}
			h = append(h, r)
		}
	}
	heap.Init(&h)
	later := make([][]int64, len(chunks))
	var (
		prevHash uint64
		prevID   []byte
		first    = true
	)
	for len(h) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r := h[0]
		if !first && r.hash == prevHash && bytes.Equal(r.id, prevID) {
			later[r.chunk] = append(later[r.chunk], r.pos)
		} else {
			prevHash, prevID, first = r.hash, append(prevID[:0], r.id...), false
		}
		switch err := r.next(); err {
		case nil:
			heap.Fix(&h, 0)
		case io.EOF:
			heap.Pop(&h)
			r.close()
		default:
			return nil, err
		}
	}
	for _, pos := range later {
		slices.Sort(pos)
	}
	return later, nil
}

// idReader reads one file of sorted ids; its fields are its current
// record.
type idReader struct {
	name         string
	chunk, input int
	rc           io.Closer
	r            *bufio.Reader
	hash         uint64
	pos          int64
	id           []byte
}

func (r *idReader) next() error {
	var h [8]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		if err == io.EOF {
			return err
		}
		return fmt.Errorf("%s: %w", r.name, err)
	}
	r.hash = binary.BigEndian.Uint64(h[:])
	pos, err := binary.ReadUvarint(r.r)
	if err != nil {
		return fmt.Errorf("%s: a record's position: %w", r.name, noEOF(err))
	}
	n, err := binary.ReadUvarint(r.r)
	if err != nil || n > 1<<26 {
		return fmt.Errorf("%s: a record's id length: %w", r.name, cmp.Or(noEOF(err), errors.New("too long")))
	}
	r.pos = int64(pos)
	r.id = slices.Grow(r.id[:0], int(n))[:n]
	if _, err := io.ReadFull(r.r, r.id); err != nil {
		return fmt.Errorf("%s: a record's id: %w", r.name, noEOF(err))
	}
	return nil
}

func (r *idReader) close() { r.rc.Close() }

// noEOF says a record cut short for what it is.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// idHeap orders the readers by their records: hash, id, then the row's
// place (input, position), so that the first row of an id comes first.
type idHeap []*idReader

func (h idHeap) Len() int { return len(h) }
func (h idHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if a.hash != b.hash {
		return a.hash < b.hash
	}
	if c := bytes.Compare(a.id, b.id); c != 0 {
		return c < 0
	}
	if a.input != b.input {
		return a.input < b.input
	}
	return a.pos < b.pos
}
func (h idHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *idHeap) Push(x any)   { *h = append(*h, x.(*idReader)) }
func (h *idHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// laterRows reads the positions of a chunk's rows whose id an earlier row
// has: none when the merge wrote no file for it.
func laterRows(ctx context.Context, output string, c Chunk) (map[int64]bool, error) {
	st, err := openStore(ctx, output)
	if err != nil {
		return nil, err
	}
	name := dupsName(c)
	b, err := st.read(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return map[int64]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	later := map[int64]bool{}
	for pos := int64(0); len(b) > 0; {
		d, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, fmt.Errorf("%s: a position cut short", st.path(name))
		}
		b = b[k:]
		pos += int64(d)
		later[pos] = true
	}
	return later, nil
}

// removeDupFiles removes the files of the duplicate check: after the job,
// or those a failed run left.
func removeDupFiles(ctx context.Context, st *store) error {
	for _, dir := range []string{idsDir, dupsDir} {
		names, err := st.b.List(ctx, dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		for _, n := range names {
			if err := st.remove(ctx, n); err != nil {
				return err
			}
		}
		if st.local {
			// The directory itself, now empty (or left, if a file
			// appeared since).
			os.Remove(filepath.Clean(st.path(strings.TrimSuffix(dir, "/"))))
		}
	}
	return nil
}
