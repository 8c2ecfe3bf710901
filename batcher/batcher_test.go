package batcher_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/gridrun/gridrun/batcher"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type elem struct {
	n     int // place in the input
	key   string
	bytes int
}

// rig is a Batcher of elems and what it emitted.
type rig struct {
	b       *batcher.Batcher[elem]
	batches [][]elem
}

func newRig(opts batcher.Options) *rig {
	r := &rig{}
	r.b = batcher.New(opts,
		func(b []elem) { r.batches = append(r.batches, b) },
		func(e elem) int { return e.bytes },
		func(e elem) string { return e.key })
	return r
}

// ns returns the input places of each batch.
func (r *rig) ns() [][]int {
	var out [][]int
	for _, b := range r.batches {
		var ns []int
		for _, e := range b {
			ns = append(ns, e.n)
		}
		out = append(out, ns)
	}
	return out
}

func (r *rig) want(t *testing.T, want ...[]int) {
	t.Helper()
	got := r.ns()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestBatchesBySize(t *testing.T) {
	t.Parallel()
	r := newRig(batcher.Options{Size: 3})
	for i := range 7 {
		r.b.Add(elem{n: i})
	}
	r.want(t, []int{0, 1, 2}, []int{3, 4, 5})
	if p := r.b.Pending(); p != 1 {
		t.Fatalf("Pending %d, want 1", p)
	}
	r.b.Flush()
	r.want(t, []int{0, 1, 2}, []int{3, 4, 5}, []int{6})
	if p := r.b.Pending(); p != 0 {
		t.Fatalf("Pending %d after Flush", p)
	}
	r.b.Flush() // nothing left: no empty batch
	r.want(t, []int{0, 1, 2}, []int{3, 4, 5}, []int{6})
}

func TestDefaultSizeIsAHundred(t *testing.T) {
	t.Parallel()
	r := newRig(batcher.Options{})
	for i := range 250 {
		r.b.Add(elem{n: i})
	}
	r.b.Flush()
	r.want(t, seq(0, 100), seq(100, 200), seq(200, 250))
}

func TestBatchesByBytes(t *testing.T) {
	t.Parallel()
	r := newRig(batcher.Options{Size: 100, MaxBytes: 10})
	for i, n := range []int{4, 4, 4, 11, 1, 10, 1, 0, 9, 5, 5} {
		r.b.Add(elem{n: i, bytes: n})
	}
	r.b.Flush()
	// 4+4+4 passes 10; 11 is a batch of its own; 10 exactly fits; an
	// element of no bytes rides along.
	r.want(t, []int{0, 1}, []int{2}, []int{3}, []int{4}, []int{5}, []int{6, 7, 8}, []int{9, 10})
}

// An element larger than MaxBytes is emitted alone, as soon as the batch is
// full or the next element comes.
func TestOversizedElementAlone(t *testing.T) {
	t.Parallel()
	r := newRig(batcher.Options{Size: 1, MaxBytes: 10})
	r.b.Add(elem{n: 0, bytes: 50})
	r.want(t, []int{0})

	r = newRig(batcher.Options{Size: 5, MaxBytes: 10})
	r.b.Add(elem{n: 0, bytes: 2})
	r.b.Add(elem{n: 1, bytes: 50})
	r.b.Add(elem{n: 2, bytes: 0})
	r.b.Flush()
	r.want(t, []int{0}, []int{1}, []int{2})
}

func TestDefaultMaxBytesIs64MiB(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		size int
		want [][]int
	}{
		{40 << 20, [][]int{{0}, {1}, {2}}},
		{32 << 20, [][]int{{0, 1}, {2}}},
	} {
		r := newRig(batcher.Options{Size: 10})
		for i := range 3 {
			r.b.Add(elem{n: i, bytes: tc.size})
		}
		r.b.Flush()
		r.want(t, tc.want...)
	}
}

func TestNextSizeIsAskedPerBatch(t *testing.T) {
	t.Parallel()
	sizes := []int{2, 5, 0, -3, 1, 3}
	asked := 0
	r := newRig(batcher.Options{Size: 1000, NextSize: func() int {
		s := sizes[asked%len(sizes)]
		asked++
		return s
	}})
	for i := range 14 {
		r.b.Add(elem{n: i})
	}
	// Zero and negative sizes are batches of one; the last batch wants 2
	// and is flushed with 1.
	if asked != 7 {
		t.Fatalf("NextSize asked %d times, want once per batch: 7", asked)
	}
	r.b.Flush()
	r.want(t, []int{0, 1}, []int{2, 3, 4, 5, 6}, []int{7}, []int{8}, []int{9}, []int{10, 11, 12}, []int{13})
}

// A batch cut by bytes asks for the next batch's size afresh.
func TestNextSizeAfterABytesCut(t *testing.T) {
	t.Parallel()
	asked := 0
	r := newRig(batcher.Options{MaxBytes: 10, NextSize: func() int { asked++; return 3 }})
	for i, n := range []int{6, 6, 1, 1, 1} {
		r.b.Add(elem{n: i, bytes: n})
	}
	r.b.Flush()
	r.want(t, []int{0}, []int{1, 2, 3}, []int{4})
	if asked != 3 {
		t.Fatalf("NextSize asked %d times, want 3", asked)
	}
}

// With a batch size never reached, the batches Flush emits are the
// partitions: a key is in exactly one, with its elements in order, and there
// are no more batches than partitions.
func TestPartitionsKeepKeysTogether(t *testing.T) {
	t.Parallel()
	const parts = 4
	r := newRig(batcher.Options{Size: 1 << 20, Partitions: parts})
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := range 1000 {
		r.b.Add(elem{n: i, key: fmt.Sprintf("key%d", rnd.IntN(40))})
	}
	if len(r.batches) != 0 || r.b.Pending() != 1000 {
		t.Fatalf("%d batches before Flush, %d pending", len(r.batches), r.b.Pending())
	}
	r.b.Flush()
	if len(r.batches) == 0 || len(r.batches) > parts {
		t.Fatalf("%d batches from %d partitions", len(r.batches), parts)
	}
	home := map[string]int{}
	total := 0
	for i, b := range r.batches {
		total += len(b)
		for j, e := range b {
			if h, ok := home[e.key]; ok && h != i {
				t.Fatalf("key %s in batches %d and %d", e.key, h, i)
			}
			home[e.key] = i
			if j > 0 && b[j-1].n >= e.n {
				t.Fatalf("batch %d out of order at %d", i, j)
			}
		}
	}
	if total != 1000 || len(home) != 40 {
		t.Fatalf("%d elements of %d keys, want 1000 of 40", total, len(home))
	}
}

// One key, many partitions: batches fill as without partitions.
func TestOneKeyFillsOnePartition(t *testing.T) {
	t.Parallel()
	r := newRig(batcher.Options{Size: 3, Partitions: 8})
	for i := range 8 {
		r.b.Add(elem{n: i, key: "AAPL"})
	}
	r.b.Flush()
	r.want(t, []int{0, 1, 2}, []int{3, 4, 5}, []int{6, 7})
}

// unionFind groups keys seen in one batch: they share a partition.
type unionFind map[string]string

func (u unionFind) find(k string) string {
	for {
		p, ok := u[k]
		if !ok || p == k {
			return k
		}
		k = p
	}
}

func (u unionFind) union(a, b string) { u[u.find(a)] = u.find(b) }

// Over random inputs and options: every element is emitted exactly once;
// each batch respects its size and bytes unless a single element is larger;
// a batch is emitted only when full or when the next element would push it
// past MaxBytes; and, partition by partition, the batches hold the elements
// in the order they were added.
func TestPropertyEveryElementOnceInOrder(t *testing.T) {
	t.Parallel()
	for seed := range uint64(300) {
		rnd := rand.New(rand.NewPCG(seed, 99))
		opts := batcher.Options{
			Size:       1 + rnd.IntN(8),
			MaxBytes:   1 + rnd.IntN(40),
			Partitions: rnd.IntN(5),
		}
		var targets []int // the size each batch was given, in order asked
		if rnd.IntN(3) == 0 {
			opts.NextSize = func() int {
				s := rnd.IntN(7) - 1
				targets = append(targets, s)
				return s
			}
		}
		keys := 1 + rnd.IntN(10)
		n := rnd.IntN(200)
		in := make([]elem, n)
		for i := range in {
			in[i] = elem{n: i, key: fmt.Sprintf("k%d", rnd.IntN(keys)), bytes: rnd.IntN(15)}
		}

		r := newRig(opts)
		uf := unionFind{}
		emittedBy := map[int]int{} // batch -> the input place whose Add emitted it
		for i, e := range in {
			before := len(r.batches)
			r.b.Add(e)
			for j := before; j < len(r.batches); j++ {
				emittedBy[j] = i
			}
			if held := i + 1 - count(r.batches); r.b.Pending() != held {
				t.Fatalf("seed %d: Pending %d, want %d", seed, r.b.Pending(), held)
			}
		}
		flushedFrom := len(r.batches)
		r.b.Flush()
		if r.b.Pending() != 0 {
			t.Fatalf("seed %d: %d pending after Flush", seed, r.b.Pending())
		}

		seen := make([]int, n)
		for j, b := range r.batches {
			if len(b) == 0 {
				t.Fatalf("seed %d: empty batch %d", seed, j)
			}
			sum := 0
			for _, e := range b {
				seen[e.n]++
				sum += e.bytes
				uf.union(b[0].key, e.key)
			}
			if len(b) > 1 && sum > opts.MaxBytes {
				t.Fatalf("seed %d: batch %d of %d elements has %d bytes, past %d", seed, j, len(b), sum, opts.MaxBytes)
			}
			if opts.NextSize == nil && len(b) > opts.Size {
				t.Fatalf("seed %d: batch %d has %d elements, past %d", seed, j, len(b), opts.Size)
			}
			if j >= flushedFrom {
				continue
			}
			// Emitted by an Add: full, or cut before the element added.
			x := in[emittedBy[j]]
			full := b[len(b)-1].n == x.n
			cut := !slices.ContainsFunc(b, func(e elem) bool { return e.n == x.n }) && sum+x.bytes > opts.MaxBytes
			if !full && !cut {
				t.Fatalf("seed %d: batch %d %v emitted while adding %d, neither full nor cut by bytes", seed, j, b, x.n)
			}
			if cut {
				uf.union(b[0].key, x.key)
			}
			if full && opts.NextSize == nil && len(b) != opts.Size {
				t.Fatalf("seed %d: batch %d emitted with %d of %d elements", seed, j, len(b), opts.Size)
			}
			if full && opts.NextSize != nil && opts.Partitions <= 1 && len(b) != max(targets[j], 1) {
				t.Fatalf("seed %d: batch %d emitted with %d elements, asked for %d", seed, j, len(b), targets[j])
			}
		}
		for i, c := range seen {
			if c != 1 {
				t.Fatalf("seed %d: element %d emitted %d times", seed, i, c)
			}
		}
		if opts.NextSize != nil {
			// Each batch was given one size, in order; a batch emitted
			// full has it (at least 1).
			if len(targets) != len(r.batches) {
				t.Fatalf("seed %d: NextSize asked %d times for %d batches", seed, len(targets), len(r.batches))
			}
		}
		// Partition by partition (as far as batches show them; all one
		// without partitions), the elements come out in the order they
		// went in.
		if opts.Partitions <= 1 {
			for _, e := range in {
				uf.union(in[0].key, e.key)
			}
		}
		byGroup := map[string][]int{}
		for _, b := range r.batches {
			g := uf.find(b[0].key)
			for _, e := range b {
				byGroup[g] = append(byGroup[g], e.n)
			}
		}
		for g, got := range byGroup {
			var want []int
			for _, e := range in {
				if uf.find(e.key) == g {
					want = append(want, e.n)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d: group of %s emitted %v, added %v", seed, g, got, want)
			}
		}
	}
}

func count(bs [][]elem) int {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	return n
}

// The batches handed to emit are the receiver's: later Adds do not touch
// them.
func TestEmittedBatchesAreNotReused(t *testing.T) {
	t.Parallel()
	r := newRig(batcher.Options{Size: 2})
	for i := range 6 {
		r.b.Add(elem{n: i})
	}
	r.want(t, []int{0, 1}, []int{2, 3}, []int{4, 5})
	r.batches[0][0].n = 99
	if r.batches[1][0].n != 2 || r.batches[2][0].n != 4 {
		t.Fatal("batches share memory")
	}
}
