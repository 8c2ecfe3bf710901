package beamgrid

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// cut runs batchFn over elems, handed over in a shuffled order as a
// runner may.
func cut(f *batchFn, elems []Element, seed uint64) (batches []Batch, dead []DeadLetter) {
	elems = slices.Clone(elems)
	rand.New(rand.NewPCG(seed, 0)).Shuffle(len(elems), func(i, j int) { elems[i], elems[j] = elems[j], elems[i] })
	i := 0
	iter := func(e *Element) bool {
		if i == len(elems) {
			return false
		}
		*e = elems[i]
		i++
		return true
	}
	f.ProcessElement(7, iter, func(b Batch) { batches = append(batches, b) }, func(d DeadLetter) { dead = append(dead, d) })
	return batches, dead
}

func elements(n, payload int) []Element {
	es := make([]Element, n)
	for i := range es {
		es[i] = Element{ID: fmt.Sprintf("e%04d", i), Payload: make([]byte, payload), Input: "in.jsonl", Index: int64(i), Line: int64(i + 1)}
	}
	return es
}

func sizes(bs []Batch) []int {
	var n []int
	for _, b := range bs {
		n = append(n, len(b.Elements))
	}
	return n
}

func TestBatchesAreEvenAndTheSameWhateverTheOrder(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		n, size, payload, bytes int
		want                    []int
	}{
		{n: 130, size: 100, want: []int{65, 65}},
		{n: 100, size: 100, want: []int{100}},
		{n: 201, size: 100, want: []int{67, 67, 67}},
		{n: 3, size: 100, want: []int{3}},
		// The bytes bound cuts first: 10 bytes each, 35 bytes a batch.
		{n: 10, size: 100, payload: 10, bytes: 35, want: []int{3, 3, 3, 1}},
	} {
		f := &batchFn{Size: c.size, Bytes: c.bytes, IDField: "id"}
		first, dead := cut(f, elements(c.n, c.payload), 1)
		if !slices.Equal(sizes(first), c.want) || len(dead) != 0 {
			t.Errorf("%d elements in batches of %d (%d bytes): %v, want %v", c.n, c.size, c.bytes, sizes(first), c.want)
		}
		for i, b := range first {
			if b.ID != fmt.Sprintf("s000007-%d", i) {
				t.Errorf("batch %d is %s", i, b.ID)
			}
		}
		again, _ := cut(f, elements(c.n, c.payload), 2)
		for i := range first {
			if !slices.EqualFunc(first[i].Elements, again[i].Elements, func(a, b Element) bool { return a.ID == b.ID }) {
				t.Errorf("%d elements: batch %d differs between two orders", c.n, i)
			}
		}
	}
}

func TestTheLaterRowOfAnIDIsADeadLetter(t *testing.T) {
	t.Parallel()
	es := elements(4, 1)
	dup := es[1]
	dup.InputIndex, dup.Index, dup.Line = 1, 0, 1 // a row of the second input
	dup.Input = "b.jsonl"
	es = append(es, dup)
	batches, dead := cut(&batchFn{Size: 10, IDField: "id"}, es, 3)
	if len(batches) != 1 || len(batches[0].Elements) != 4 || batches[0].Elements[1].Input != "in.jsonl" {
		t.Fatalf("batches %+v", batches)
	}
	if len(dead) != 1 || dead[0].ID != "e0001" || dead[0].Kind != "bad_input" ||
		string(dead[0].JSON) != `{"id":"e0001","kind":"bad_input","message":"b.jsonl:1: field id: duplicate id \"e0001\"","input":"b.jsonl","line":1,"field":"id","element":null}` {
		t.Errorf("dead letters %+v", dead)
	}
}
