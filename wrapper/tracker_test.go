package wrapper

import (
	"testing"

	gridrunv1 "github.com/gridrun/gridrun/proto/gridrun/v1"
)

func result(id string) *gridrunv1.Result {
	return &gridrunv1.Result{Id: id, Outcome: &gridrunv1.Result_Payload{Payload: []byte(id)}}
}

// Results in any order are matched to their elements, and a second result
// for an id takes the first back out.
func TestTrackerMatchesResultsInAnyOrder(t *testing.T) {
	tr := newTracker(batchOf(6), nil)
	for _, id := range []string{"e000", "e001", "e004", "e002", "e005"} {
		if err := tr.accept(result(id), 0); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	if err := tr.accept(result("e004"), 0); err == nil {
		t.Fatal("a second result for e004 was accepted")
	}
	if err := tr.accept(result("e9"), 0); err == nil {
		t.Fatal("a result for an id not in the batch was accepted")
	}
	want := map[string]int{"e000": 0, "e001": 1, "e002": 2, "e005": 5}
	if len(tr.results) != len(want) || len(tr.indexes) != len(want) {
		t.Fatalf("%d results, %d indexes, want %d", len(tr.results), len(tr.indexes), len(want))
	}
	for k, r := range tr.results {
		if i, ok := want[r.GetId()]; !ok || tr.indexes[k] != i {
			t.Errorf("result %s at index %d, want %d", r.GetId(), tr.indexes[k], i)
		}
	}
	if got := tr.pending(); len(got) != 2 || got[0] != 3 || got[1] != 4 {
		t.Errorf("pending %v, want [3 4]", got)
	}
}
