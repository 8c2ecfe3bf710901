package wrapper

import (
	"context"
	"testing"
)

// A worker's first batch carries the common data, and no other: the
// binary gets it once per process. The caller's batches are left as they
// were.
func TestAWorkerGetsTheCommonDataWithItsFirstBatchOnly(t *testing.T) {
	t.Parallel()
	w, err := StartWorker(fake(t, "serve-common"), &Options{LogDir: t.TempDir(), Common: []byte("curve")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(false); assertGone(t, w.proc.pid) })
	for i := range 4 {
		b := batchOf(3)
		c, err := w.Start(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Wait()
		if err != nil || len(out.Results) != 3 {
			t.Fatalf("batch %d: %v, %d results", i, err, len(out.Results))
		}
		want := "common="
		if i == 0 {
			want = "common=curve"
		}
		for _, r := range out.Results {
			if got := string(r.GetPayload()); got != want {
				t.Fatalf("batch %d: the binary saw %q, want %q", i, got, want)
			}
		}
		if len(b.GetCommon()) != 0 {
			t.Fatalf("batch %d: the caller's batch was given the common data", i)
		}
	}
}

// Each call is a process of its own: every call's batch carries the
// common data, and a batch that has its own keeps it.
func TestEveryCallGetsTheCommonData(t *testing.T) {
	t.Parallel()
	opts := &Options{Common: []byte("curve")}
	for i := range 3 {
		b := batchOf(2)
		want := "common=curve"
		if i == 2 {
			b.Common, want = []byte("own"), "common=own"
		}
		out, err := Run(context.Background(), fake(t, "common"), b, opts)
		if err != nil || len(out.Results) != 2 {
			t.Fatalf("call %d: %v, %+v", i, err, out)
		}
		for _, r := range out.Results {
			if got := string(r.GetPayload()); got != want {
				t.Fatalf("call %d: the binary saw %q, want %q", i, got, want)
			}
		}
	}
	out, err := Run(context.Background(), fake(t, "common"), batchOf(1), nil)
	if err != nil || string(out.Results[0].GetPayload()) != "common=" {
		t.Fatalf("without common data: %v, %+v", err, out)
	}
}
