package join_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gridrun/gridrun/join"
	"github.com/gridrun/gridrun/wrapper"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var pricerSchema = sync.OnceValues(func() (*wrapper.Schema, error) {
	return wrapper.SchemaFromProtoFiles(context.Background(),
		[]string{"../native/examples/pricer/pricer.proto"}, nil, "pricer.Trade", "pricer.Price", "pricer.Quote")
})

func quoteDesc(tb testing.TB) protoreflect.MessageDescriptor {
	tb.Helper()
	s, err := pricerSchema()
	if err != nil {
		tb.Fatal(err)
	}
	return s.Side
}

// fakeDriver is a store in memory that counts what it is asked. hook, when
// set, runs first in every read: tests use it to fail reads or to hold one
// until they let it go.
type fakeDriver struct {
	rows map[string]join.Row
	hook func(ctx context.Context, call int, keys []string) error

	mu     sync.Mutex
	reads  [][]string
	closed int
}

var errTransient = errors.New("store busy")

func newFake(keys ...string) *fakeDriver {
	d := &fakeDriver{rows: map[string]join.Row{}}
	for _, k := range keys {
		d.rows[k] = join.Row{Key: k, Payload: []byte("row of " + k)}
	}
	return d
}

func (d *fakeDriver) ReadRows(ctx context.Context, keys []string) (map[string]join.Row, error) {
	d.mu.Lock()
	d.reads = append(d.reads, slices.Clone(keys))
	call := len(d.reads)
	d.mu.Unlock()
	if d.hook != nil {
		if err := d.hook(ctx, call, keys); err != nil {
			return nil, err
		}
	}
	out := map[string]join.Row{}
	for _, k := range keys {
		if r, ok := d.rows[k]; ok {
			out[k] = r
		}
	}
	return out, nil
}

func (d *fakeDriver) IsTransient(err error) bool { return errors.Is(err, errTransient) }
func (d *fakeDriver) Describe() string           { return "fake://store" }
func (d *fakeDriver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed++
	return nil
}

// Reads returns the keys of every read so far.
func (d *fakeDriver) Reads() [][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.reads)
}

// timesRead counts the reads of each key.
func (d *fakeDriver) timesRead() map[string]int {
	n := map[string]int{}
	for _, r := range d.Reads() {
		for _, k := range r {
			n[k]++
		}
	}
	return n
}

func lookup(tb testing.TB, t *join.Table, keys ...string) map[string]join.Row {
	tb.Helper()
	rows, err := t.Lookup(context.Background(), keys)
	if err != nil {
		tb.Fatalf("Lookup(%q): %v", keys, err)
	}
	return rows
}

// wantRows fails unless rows holds exactly the rows of keys in d.
func wantRows(tb testing.TB, d *fakeDriver, rows map[string]join.Row, keys ...string) {
	tb.Helper()
	if len(rows) != len(keys) {
		tb.Fatalf("rows %q, want %q", slices.Sorted(maps.Keys(rows)), keys)
	}
	for _, k := range keys {
		got, ok := rows[k]
		want := d.rows[k]
		if !ok || got.Key != want.Key || string(got.Payload) != string(want.Payload) {
			tb.Fatalf("row %q = %+v, %v; want %+v", k, got, ok, want)
		}
	}
}

func wantReads(tb testing.TB, d *fakeDriver, want ...[]string) {
	tb.Helper()
	got := d.Reads()
	if len(got) != len(want) {
		tb.Fatalf("reads %q, want %q", got, want)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			tb.Fatalf("reads %q, want %q", got, want)
		}
	}
}

func wantStats(tb testing.TB, got, want join.Stats) {
	tb.Helper()
	if got != want {
		tb.Fatalf("stats %+v\nwant  %+v", got, want)
	}
}

// recv waits for a value from ch, or fails the test after a generous bound:
// a deadline for a signal, not a timing assertion.
func recv[T any](tb testing.TB, ch <-chan T) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Minute):
		tb.Fatal("no signal within a minute")
		panic("unreachable")
	}
}

func contains(tb testing.TB, err error, subs ...string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("no error, want one containing %q", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			tb.Fatalf("error %q does not contain %q", err, s)
		}
	}
}
