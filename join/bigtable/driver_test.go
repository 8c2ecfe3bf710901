package bigtable_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/join"
	"github.com/gridrun/gridrun/join/bigtable"
)

var t0 = time.Date(2026, 11, 20, 21, 0, 0, 0, time.UTC)

// quote builds the expected side message from field values.
func quote(desc protoreflect.MessageDescriptor, fields map[string]any) *dynamicpb.Message {
	m := dynamicpb.NewMessage(desc)
	for name, v := range fields {
		m.Set(desc.Fields().ByName(protoreflect.Name(name)), protoreflect.ValueOf(v))
	}
	return m
}

func checkRow(t *testing.T, rows map[string]join.Row, key string, want *dynamicpb.Message) {
	t.Helper()
	r, ok := rows[key]
	if !ok {
		t.Errorf("no row %q", key)
		return
	}
	got := dynamicpb.NewMessage(want.Descriptor())
	if err := proto.Unmarshal(r.Payload, got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Errorf("row %q = %v, want %v", key, got, want)
	}
}

func openTable(t *testing.T, e *emulator, uri string, spec join.Spec, opts *join.Options) *join.Table {
	t.Helper()
	d, err := bigtable.Open(t.Context(), uri, spec, &bigtable.Options{ClientOptions: e.opts(t)})
	if err != nil {
		t.Fatal(err)
	}
	tbl := join.NewTable(d, opts)
	t.Cleanup(func() { tbl.Close() })
	return tbl
}

// twentyQuotes writes quotes of U00..U19 to family q of table quotes.
func twentyQuotes(t *testing.T, e *emulator) (keys []string) {
	var cells []cellAt
	for i := range 20 {
		k := fmt.Sprintf("U%02d", i)
		keys = append(keys, k)
		cells = append(cells,
			cellAt{k, "q", "underlying", k, t0},
			cellAt{k, "q", "spot", fmt.Sprint(100 + i), t0},
			cellAt{k, "q", "vol", "0.25", t0})
	}
	e.write(t, "quotes", []string{"q"}, cells...)
	return keys
}

func TestOneReadRowsPerBatch(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	desc := quoteDesc(t)
	keys := twentyQuotes(t, e)
	tbl := openTable(t, e, "bigtable://p/i/quotes", join.Spec{Side: desc}, nil)
	ctx := t.Context()

	// A batch of 100 elements over the 20 keys.
	var batch []string
	for i := range 100 {
		batch = append(batch, keys[(i*7)%20])
	}
	rows, err := tbl.Lookup(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 20 {
		t.Fatalf("%d rows, want 20", len(rows))
	}
	checkRow(t, rows, "U07", quote(desc, map[string]any{"underlying": "U07", "spot": 107.0, "vol": 0.25}))
	reads := e.readLog()
	if len(reads) != 1 {
		t.Fatalf("%d ReadRows calls, want 1", len(reads))
	}
	if got := slices.Sorted(slices.Values(reads[0])); !slices.Equal(got, keys) {
		t.Errorf("the call asked for %v, want each key once: %v", got, keys)
	}

	// The next batches: cached keys are not read again.
	if _, err := tbl.Lookup(ctx, batch[:50]); err != nil {
		t.Fatal(err)
	}
	if n := len(e.readLog()); n != 1 {
		t.Errorf("%d ReadRows calls after a cached batch, want 1", n)
	}
	st := tbl.Stats()
	if st.Reads != 1 || st.Rows != 20 || st.CacheMisses != 20 || st.CacheHits != 20 {
		t.Errorf("stats %+v", st)
	}
}

func TestAsOfReadsTheSnapshot(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	desc := quoteDesc(t)
	t1 := t0.Add(time.Hour)
	e.write(t, "quotes", []string{"q"},
		cellAt{"AAPL", "q", "spot", "100", t0},
		cellAt{"AAPL", "q", "vol", "0.2", t0},
		cellAt{"AAPL", "q", "spot", "200", t1}, // vol unchanged at t1
	)
	for _, c := range []struct {
		name string
		asOf time.Time
		want map[string]any // nil: no row
	}{
		{"latest", time.Time{}, map[string]any{"spot": 200.0, "vol": 0.2}},
		{"at the first snapshot", t0, map[string]any{"spot": 100.0, "vol": 0.2}},
		{"between the snapshots", t1.Add(-time.Millisecond), map[string]any{"spot": 100.0, "vol": 0.2}},
		{"at the second", t1, map[string]any{"spot": 200.0, "vol": 0.2}},
		{"before any", t0.Add(-time.Millisecond), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			tbl := openTable(t, e, "bigtable://p/i/quotes", join.Spec{Side: desc, AsOf: c.asOf}, nil)
			rows, err := tbl.Lookup(t.Context(), []string{"AAPL"})
			if err != nil {
				t.Fatal(err)
			}
			if c.want == nil {
				if len(rows) != 0 {
					t.Errorf("rows %v, want none", rows)
				}
				return
			}
			checkRow(t, rows, "AAPL", quote(desc, c.want))
		})
	}
}

func TestFamilies(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	desc := quoteDesc(t)
	e.write(t, "quotes", []string{"q", "ref"},
		cellAt{"AAPL", "q", "spot", "1", t0},
		cellAt{"AAPL", "q", "venue", "XNAS", t0}, // no such field: ignored
		cellAt{"AAPL", "ref", "spot", "2", t0},
		cellAt{"AAPL", "ref", "dividend", "0.01", t0},
		cellAt{"MSFT", "ref", "spot", "3", t0},
	)
	for _, c := range []struct {
		family string
		want   map[string]map[string]any
	}{
		// Whole rows; for spot, in both families, q sorts first.
		{"", map[string]map[string]any{"AAPL": {"spot": 1.0, "dividend": 0.01}, "MSFT": {"spot": 3.0}}},
		{"q", map[string]map[string]any{"AAPL": {"spot": 1.0}}},
		{"ref", map[string]map[string]any{"AAPL": {"spot": 2.0, "dividend": 0.01}, "MSFT": {"spot": 3.0}}},
	} {
		t.Run("family="+c.family, func(t *testing.T) {
			tbl := openTable(t, e, "bigtable://p/i/quotes", join.Spec{Side: desc, Family: c.family}, nil)
			rows, err := tbl.Lookup(t.Context(), []string{"AAPL", "MSFT"})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(c.want) {
				t.Errorf("%d rows, want %d", len(rows), len(c.want))
			}
			for k, w := range c.want {
				checkRow(t, rows, k, quote(desc, w))
			}
		})
	}
}

func TestMissingRows(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	desc := quoteDesc(t)
	twentyQuotes(t, e)
	tbl := openTable(t, e, "bigtable://p/i/quotes", join.Spec{Side: desc}, nil)
	rows, err := tbl.Lookup(t.Context(), []string{"U01", "NOPE", ""})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows["U01"].Key != "U01" {
		t.Errorf("rows %v, want U01 only", rows)
	}
	if st := tbl.Stats(); st.Missing != 2 {
		t.Errorf("stats %+v, want 2 missing", st)
	}
	// The empty key, which Bigtable cannot have, is not sent.
	if reads := e.readLog(); len(reads) != 1 || slices.Contains(reads[0], "") {
		t.Errorf("ReadRows calls %q", reads)
	}
}

// A cell that does not convert fails its row, not the read: the other
// keys of the read have their rows, and the bad row is cached as bad.
func TestBadCellFailsItsRow(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	e.write(t, "quotes", []string{"q"},
		cellAt{"AAPL", "q", "spot", "a lot", t0},
		cellAt{"MSFT", "q", "spot", "412.5", t0})
	tbl := openTable(t, e, "bigtable://p/i/quotes", join.Spec{Side: quoteDesc(t)}, nil)
	for range 2 {
		rows, err := tbl.Lookup(t.Context(), []string{"AAPL", "MSFT"})
		if err != nil {
			t.Fatal(err)
		}
		var ce *bigtable.CellError
		if err := rows["AAPL"].Err; !errors.As(err, &ce) || ce.Row != "AAPL" || ce.Column != "q:spot" || ce.Value != "a lot" {
			t.Fatalf("AAPL: %v, want a CellError for AAPL q:spot", err)
		}
		if r := rows["MSFT"]; r.Err != nil || len(r.Payload) == 0 {
			t.Fatalf("MSFT: %+v", r)
		}
	}
	if st := tbl.Stats(); st.Reads != 1 || st.Rows != 2 || st.BadRows != 1 || st.CacheHits != 2 {
		t.Errorf("stats %+v, want one read of two rows, one bad, then two cache hits", st)
	}
}

// ResourceExhausted is transient for the Table but not resent by the
// client: the Table's own retries recover.
func TestTransientFaultsAreRetried(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	keys := twentyQuotes(t, e)
	e.setFault(func(n int, _ []string) error {
		if n <= 2 {
			return status.Error(codes.ResourceExhausted, "injected")
		}
		return nil
	})
	tbl := openTable(t, e, "bigtable://p/i/quotes", join.Spec{Side: quoteDesc(t)},
		&join.Options{Retries: 3, Sleep: func(context.Context, time.Duration) error { return nil }})
	rows, err := tbl.Lookup(t.Context(), keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 20 {
		t.Errorf("%d rows, want 20", len(rows))
	}
	if n := len(e.readLog()); n != 3 {
		t.Errorf("%d ReadRows calls, want 3", n)
	}
	if st := tbl.Stats(); st.Reads != 3 || st.Retries != 2 || st.Failures != 0 {
		t.Errorf("stats %+v", st)
	}
}

// Unavailable is resent by the client itself, within the read's timeout:
// one read for the Table, three calls on the wire.
func TestClientResendsUnavailable(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	keys := twentyQuotes(t, e)
	e.setFault(func(n int, _ []string) error {
		if n <= 2 {
			return status.Error(codes.Unavailable, "injected")
		}
		return nil
	})
	tbl := openTable(t, e, "bigtable://p/i/quotes", join.Spec{Side: quoteDesc(t)}, nil)
	rows, err := tbl.Lookup(t.Context(), keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 20 {
		t.Errorf("%d rows, want 20", len(rows))
	}
	if n := len(e.readLog()); n != 3 {
		t.Errorf("%d ReadRows calls, want 3", n)
	}
	if st := tbl.Stats(); st.Reads != 1 || st.Retries != 0 {
		t.Errorf("stats %+v", st)
	}
}

// An outage longer than the read timeout and the Table's retries fails
// the lookup with an UnavailableError; once over, reads succeed again.
func TestOutagePastTheBound(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	keys := twentyQuotes(t, e)
	e.setFault(func(int, []string) error { return status.Error(codes.Unavailable, "injected") })
	tbl := openTable(t, e, "bigtable://p/i/quotes?read_timeout=150ms", join.Spec{Side: quoteDesc(t)},
		&join.Options{Retries: 1, Sleep: func(context.Context, time.Duration) error { return nil }})
	_, err := tbl.Lookup(t.Context(), keys)
	var ue *join.UnavailableError
	if !errors.As(err, &ue) || ue.Source != "bigtable://p/i/quotes" {
		t.Fatalf("err %v, want an UnavailableError from bigtable://p/i/quotes", err)
	}
	if !bigtable.IsTransient(ue.Err) {
		t.Errorf("the read's error %v is not transient", ue.Err)
	}
	if st := tbl.Stats(); st.Reads != 2 || st.Retries != 1 || st.Failures != 1 {
		t.Errorf("stats %+v", st)
	}
	e.setFault(nil)
	if rows, err := tbl.Lookup(t.Context(), keys); err != nil || len(rows) != 20 {
		t.Errorf("after the outage: %d rows, err %v", len(rows), err)
	}
}

func TestOpenChecksTheTable(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	_, err := bigtable.Open(t.Context(), "bigtable://p/i/nosuch", join.Spec{Side: quoteDesc(t)}, &bigtable.Options{ClientOptions: e.opts(t)})
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "bigtable://p/i/nosuch") {
		t.Errorf("err %v, want NotFound naming the table", err)
	}
}

func TestIsTransient(t *testing.T) {
	t.Parallel()
	for c, want := range map[codes.Code]bool{
		codes.Unavailable: true, codes.DeadlineExceeded: true, codes.ResourceExhausted: true, codes.Aborted: true,
		codes.NotFound: false, codes.PermissionDenied: false, codes.InvalidArgument: false, codes.Internal: false,
		codes.Canceled: false, codes.Unknown: false, codes.FailedPrecondition: false,
	} {
		err := fmt.Errorf("wrapped: %w", status.Error(c, "x"))
		if got := bigtable.IsTransient(err); got != want {
			t.Errorf("IsTransient(%v) = %v, want %v", c, got, want)
		}
	}
	if !bigtable.IsTransient(context.DeadlineExceeded) {
		t.Error("a read's own timeout is not transient")
	}
}

func TestParseURI(t *testing.T) {
	t.Parallel()
	good := map[string]bigtable.Location{
		"bigtable://p/i/t":                         {Project: "p", Instance: "i", Table: "t"},
		"bigtable://example.com:proj/my-inst/q.v2": {Project: "example.com:proj", Instance: "my-inst", Table: "q.v2"},
		"bigtable://p/i/t?app_profile=batch":       {Project: "p", Instance: "i", Table: "t", AppProfile: "batch"},
		"bigtable://p/i/t?read_timeout=2s":         {Project: "p", Instance: "i", Table: "t", ReadTimeout: 2 * time.Second},
	}
	for uri, want := range good {
		got, err := bigtable.ParseURI(uri)
		if err != nil || got != want {
			t.Errorf("ParseURI(%q) = %+v, %v; want %+v", uri, got, err, want)
		}
	}
	for _, uri := range []string{
		"gs://p/i/t", "bigtable://p/i", "bigtable://p/i/t/x", "bigtable://p//t", "bigtable://p/I/t",
		"bigtable://p/i/-t", "bigtable://p/i/t?readtimeout=2s", "bigtable://p/i/t?read_timeout=soon",
	} {
		if _, err := bigtable.ParseURI(uri); err == nil {
			t.Errorf("ParseURI(%q) succeeded", uri)
		}
	}
}
