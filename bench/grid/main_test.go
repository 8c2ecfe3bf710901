package main

import (
	"path/filepath"
	"testing"

	"github.com/gridrun/gridrun/internal/testbin"
)

// The harness on a few elements per case, so that make test keeps it
// working; its figures mean nothing.
func TestSmoke(t *testing.T) {
	for _, name := range []string{"gridrun", "pricer", "faulty"} {
		testbin.Path(t, name)
	}
	rows, err := run(filepath.Join(testbin.Root(t), "bin"), t.TempDir(), smoke, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 12 {
		t.Fatalf("%d rows, want 12", len(rows))
	}
	for _, r := range rows {
		if r.Case == "" || r.Measure == "" || r.Reference == "" || r.Target == "" || r.Value <= 0 {
			t.Errorf("incomplete row %+v", r)
		}
	}
}
