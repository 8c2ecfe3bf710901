package bigtable_test

import (
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/join"
)

// These tests write the demo quotes in the layouts other systems use,
// with the plain Bigtable client, and check that the demo job joined from
// each prices exactly as joined from the CSV.

// demoQuote is one row of testdata/quotes.csv.
type demoQuote struct {
	underlying                string
	spot, vol, rate, dividend float64
}

func demoQuotes(t *testing.T) []demoQuote {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "testdata/quotes.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != "underlying,spot,vol,rate,dividend" {
		t.Fatalf("quotes.csv header %q", recs[0])
	}
	var qs []demoQuote
	for _, r := range recs[1:] {
		q := demoQuote{underlying: r[0]}
		for i, p := range []*float64{&q.spot, &q.vol, &q.rate, &q.dividend} {
			if *p, err = strconv.ParseFloat(r[i+1], 64); err != nil {
				t.Fatal(err)
			}
		}
		qs = append(qs, q)
	}
	return qs
}

// hbaseDouble is Bytes.toBytes(double): the IEEE 754 bits, big-endian.
func hbaseDouble(f float64) string {
	return string(binary.BigEndian.AppendUint64(nil, math.Float64bits(f)))
}

// csvJoin is the demo job joined from the CSV: the reference.
func csvJoin(t *testing.T) outcome {
	t.Helper()
	o := runJob(t, filepath.Join(repoRoot, "testdata/trades.jsonl"), &grid.JoinSpec{Source: filepath.Join(repoRoot, "testdata/quotes.csv"), Key: "{underlying}"})
	if len(o.results) != 1000 || len(o.dead) != 0 {
		t.Fatalf("CSV join: %d results, %d dead letters", len(o.results), len(o.dead))
	}
	return o
}

func TestJobJoinsEachLayoutAsFromCSV(t *testing.T) {
	e := startEmulator(t)
	quotes := demoQuotes(t)
	desc := quoteDesc(t)
	asOf := time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)

	var binCells, protoCells, jsonCells, feedCells, datedCells []cellAt
	for _, q := range quotes {
		u := q.underlying
		binCells = append(binCells,
			cellAt{u, "q", "underlying", u, t0}, // Bytes.toBytes(String): its UTF-8
			cellAt{u, "q", "spot", hbaseDouble(q.spot), t0},
			cellAt{u, "q", "vol", hbaseDouble(q.vol), t0},
			cellAt{u, "q", "rate", hbaseDouble(q.rate), t0},
			cellAt{u, "q", "dividend", hbaseDouble(q.dividend), t0})

		wire, err := proto.Marshal(quote(desc, map[string]any{"underlying": u, "spot": q.spot, "vol": q.vol, "rate": q.rate, "dividend": q.dividend}))
		if err != nil {
			t.Fatal(err)
		}
		protoCells = append(protoCells, cellAt{u, "md", "quote", string(wire), t0})
		// Written by hand, with a field this binary's Quote lacks.
		js := fmt.Sprintf(`{"underlying":%q,"spot":%s,"vol":%s,"rate":%s,"dividend":%s,"exchange":"XNAS"}`,
			u, fmtF(q.spot), fmtF(q.vol), fmtF(q.rate), fmtF(q.dividend))
		jsonCells = append(jsonCells, cellAt{u, "md", "quote", js, t0})

		// A feed's names, over two families, under a prefixed key.
		k := "EQ#" + u
		feedCells = append(feedCells,
			cellAt{k, "px", "ticker", u, t0},
			cellAt{k, "px", "px_last", fmtF(q.spot), t0},
			cellAt{k, "px", "rfr", fmtF(q.rate), t0},
			cellAt{k, "px", "div_yld", fmtF(q.dividend), t0},
			cellAt{k, "vol", "ivol_mid", fmtF(q.vol), t0})

		// A row per date: the one at or before the as-of date (the 30th:
		// the 1st is a holiday) has the demo's values, the others not.
		for _, d := range []struct {
			date  string
			scale float64
		}{{"20261127", 2}, {"20261130", 1}, {"20261204", 3}} {
			k := "EQ#" + u + "#" + d.date
			datedCells = append(datedCells,
				cellAt{k, "q", "underlying", u, t0},
				cellAt{k, "q", "spot", fmtF(q.spot * d.scale), t0},
				cellAt{k, "q", "vol", fmtF(q.vol), t0},
				cellAt{k, "q", "rate", fmtF(q.rate), t0},
				cellAt{k, "q", "dividend", fmtF(q.dividend), t0})
		}
	}
	e.write(t, "binary", []string{"q"}, binCells...)
	e.write(t, "proto", []string{"md"}, protoCells...)
	e.write(t, "json", []string{"md"}, jsonCells...)
	e.write(t, "feed", []string{"px", "vol"}, feedCells...)
	e.write(t, "dated", []string{"q"}, datedCells...)
	// Only now: a client given a connection would also dial the
	// environment's emulator, and never close that connection.
	t.Setenv("BIGTABLE_EMULATOR_HOST", e.addr)

	want := csvJoin(t)
	for _, c := range []struct {
		name string
		spec grid.JoinSpec
	}{
		{"binary", grid.JoinSpec{Source: "bigtable://p/i/binary", Key: "{underlying}",
			Layout: join.Layout{CellEncoding: join.EncodingBinary}}},
		{"proto message", grid.JoinSpec{Source: "bigtable://p/i/proto", Key: "{underlying}",
			Layout: join.Layout{MessageColumn: "md:quote"}}},
		{"json message", grid.JoinSpec{Source: "bigtable://p/i/json", Key: "{underlying}",
			Layout: join.Layout{MessageColumn: "md:quote", MessageFormat: join.MessageJSON}}},
		{"feed names", grid.JoinSpec{Source: "bigtable://p/i/feed", Key: "EQ#{underlying}",
			Layout: join.Layout{Columns: []string{"underlying=px:ticker", "spot=px:px_last", "vol=vol:ivol_mid", "rate=px:rfr", "dividend=div_yld"}}}},
		{"latest dated row", grid.JoinSpec{Source: "bigtable://p/i/dated", Key: "EQ#{underlying}#{asof:20060102}", AsOf: asOf,
			Layout: join.Layout{Latest: true}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(e.readLog())
			got := runJob(t, filepath.Join(repoRoot, "testdata/trades.jsonl"), &c.spec)
			if len(got.dead) != 0 {
				for id, d := range got.dead {
					t.Fatalf("%d dead letters, e.g. %s: %s %s", len(got.dead), id, d.Kind, d.Message)
				}
			}
			if !maps.Equal(got.results, want.results) {
				t.Errorf("%d results differ from the CSV join's", len(got.results))
			}
			j := got.m.Join
			calls := len(e.readLog()) - before
			if j.Reads != int64(calls) || j.Reads > got.m.Batches || j.Rows != 20 || j.BadRows != 0 {
				t.Errorf("manifest join %+v; %d ReadRows calls for %d batches", j, calls, got.m.Batches)
			}
		})
	}

	// The dated reads went as one range per key, from its prefix to its
	// own key (the as-of date), one call per batch.
	var sawRange bool
	for _, call := range e.readLog() {
		for _, k := range call {
			if k == "[EQ#AAPL#,EQ#AAPL#20261201\x00)" {
				sawRange = true
			}
		}
	}
	if !sawRange {
		t.Error("no read of AAPL's range [EQ#AAPL#, EQ#AAPL#20261201]")
	}
}

func fmtF(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// A cell of the wrong length, a row without the column its field is
// mapped to, a message cell that is no message: each fails its row,
// naming the row, the column and what was expected.
func TestBadCellsOfEachLayout(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	desc := quoteDesc(t)
	e.write(t, "binary", []string{"q"},
		cellAt{"GOOD", "q", "spot", hbaseDouble(101.5), t0},
		cellAt{"GOOD", "q", "paths", "ignored", t0},
		cellAt{"TEXT", "q", "spot", "101.5", t0})
	e.write(t, "feed", []string{"px"},
		cellAt{"A", "px", "px_last", "101.5", t0},
		cellAt{"B", "px", "spot", "99", t0})
	e.write(t, "msg", []string{"md"},
		cellAt{"A", "md", "quote", "not a message \xff", t0},
		cellAt{"B", "md", "other", "x", t0})

	read := func(table string, l join.Layout, key string) join.Row {
		t.Helper()
		tbl := openTable(t, e, "bigtable://p/i/"+table, join.Spec{Side: desc, Layout: l, Optional: []string{"underlying", "vol", "rate", "dividend"}}, nil)
		rows, err := tbl.Lookup(t.Context(), []string{key})
		if err != nil {
			t.Fatal(err)
		}
		return rows[key]
	}
	bin := join.Layout{CellEncoding: join.EncodingBinary}
	if r := read("binary", bin, "GOOD"); r.Err != nil {
		t.Fatalf("GOOD: %v", r.Err)
	} else {
		checkRow(t, map[string]join.Row{"GOOD": r}, "GOOD", quote(desc, map[string]any{"spot": 101.5}))
	}
	for _, c := range []struct {
		table, key string
		layout     join.Layout
		want       string
	}{
		{"binary", "TEXT", bin, `row "TEXT" column q:spot: field spot: 5 bytes, want 8 (a double in the HBase Bytes encoding)`},
		{"feed", "B", join.Layout{Columns: []string{"spot=px:px_last"}}, `row "B" has no column px:px_last (want field spot)`},
		{"msg", "A", join.Layout{MessageColumn: "md:quote"}, `row "A" column md:quote: not a pricer.Quote in the protobuf wire format: `},
		{"msg", "A", join.Layout{MessageColumn: "md:quote", MessageFormat: join.MessageJSON}, `row "A" column md:quote: not a pricer.Quote in JSON (protojson): `},
		{"msg", "B", join.Layout{MessageColumn: "md:quote"}, `row "B" has no column md:quote (want the whole pricer.Quote, in proto)`},
	} {
		r := read(c.table, c.layout, c.key)
		if r.Err == nil || !strings.HasPrefix(r.Err.Error(), c.want) {
			t.Errorf("%s %s: err = %v, want %q", c.table, c.key, r.Err, c.want)
		}
	}
	var le *join.BinaryLengthError
	if r := read("binary", bin, "TEXT"); !errors.As(r.Err, &le) || le.Len != 5 || le.Want != 8 {
		t.Errorf("err = %v, want a *join.BinaryLengthError", r.Err)
	}
}

// Every kind the HBase encoding has, read back as Java's Bytes.toBytes
// writes it (the expected bytes are Java's, written out here).
func TestBinaryCellsOfEachType(t *testing.T) {
	t.Parallel()
	fd := func(kind protoreflect.Kind) protoreflect.FieldDescriptor {
		t.Helper()
		return fieldOfKind(t, kind)
	}
	for _, c := range []struct {
		kind protoreflect.Kind
		java []byte // Bytes.toBytes(v)
		want any
	}{
		{protoreflect.DoubleKind, []byte{0x40, 0x59, 0x60, 0, 0, 0, 0, 0}, 101.5},
		{protoreflect.FloatKind, []byte{0x42, 0xcb, 0, 0}, float32(101.5)},
		{protoreflect.Int64Kind, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}, int64(-2)},
		{protoreflect.Int32Kind, []byte{0, 0, 0x01, 0x00}, int32(256)},
		{protoreflect.BoolKind, []byte{0xff}, true},
		{protoreflect.BoolKind, []byte{0}, false},
	} {
		f := fd(c.kind)
		m := newMessageOf(f)
		if err := join.SetBinary(m, f, c.java); err != nil {
			t.Errorf("%s % x: %v", c.kind, c.java, err)
			continue
		}
		if got := m.Get(f).Interface(); got != c.want {
			t.Errorf("%s % x = %v, want %v", c.kind, c.java, got, c.want)
		}
		if back, ok := join.AppendBinary(nil, f, m.Get(f)); !ok || string(back) != string(c.java) {
			t.Errorf("%s %v written as % x, want % x", c.kind, c.want, back, c.java)
		}
		if err := join.SetBinary(m, f, append(c.java, 0)); err == nil {
			t.Errorf("%s: a cell one byte too long was read", c.kind)
		}
	}
}

// runJobErr runs the demo job, for its error.
func runJobErr(t *testing.T, js *grid.JoinSpec) (*grid.Manifest, error) {
	t.Helper()
	return grid.Run(t.Context(), grid.Job{
		Binary: pricer(t), CacheDir: t.TempDir(), Inputs: []string{filepath.Join(repoRoot, "testdata/trades.jsonl")},
		Output: filepath.Join(t.TempDir(), "out"), Join: js,
	}, &grid.Hooks{Logger: slog.New(slog.DiscardHandler)})
}

// A mapping to a qualifier no row has, a mapping of a field the side
// message lacks, and a key template naming a field the input lacks each
// stop the job before any call, naming what is wrong and what exists.
func TestJobRefusesAWrongMappingOrKey(t *testing.T) {
	e := startEmulator(t)
	var cells []cellAt
	for _, q := range demoQuotes(t) {
		cells = append(cells,
			cellAt{q.underlying, "px", "px_last", fmtF(q.spot), t0},
			cellAt{q.underlying, "px", "ivol_mid", fmtF(q.vol), t0})
	}
	e.write(t, "feed", []string{"px"}, cells...)
	t.Setenv("BIGTABLE_EMULATOR_HOST", e.addr) // after the writes, as above
	for _, c := range []struct {
		name string
		spec grid.JoinSpec
		want string
	}{
		{"missing qualifier", grid.JoinSpec{Source: "bigtable://p/i/feed", Key: "{underlying}", Optional: []string{"underlying", "rate", "dividend"},
			Layout: join.Layout{Columns: []string{"spot=px:px_last", "vol=px:ivol_md"}}},
			"join bigtable://p/i/feed: no column px:ivol_md, which --join-column maps to field vol of pricer.Quote (columns: px:ivol_mid, px:px_last); correct the mapping, or list the field in --join-optional"},
		{"unknown field", grid.JoinSpec{Source: "bigtable://p/i/feed", Key: "{underlying}",
			Layout: join.Layout{Columns: []string{"sopt=px:px_last"}}},
			"--join-column sopt: not a field of pricer.Quote (fields: underlying, spot, vol, rate, dividend)"},
		{"unknown key field", grid.JoinSpec{Source: "bigtable://p/i/feed", Key: "EQ#{undrlying}#{asof:20060102}"},
			`join key "EQ#{undrlying}#{asof:20060102}": "undrlying" is not a field of pricer.Trade (fields: id, underlying, type, style, strike, expiry, quantity, paths, fixings)`},
	} {
		m, err := runJobErr(t, &c.spec)
		var ce *grid.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want a ConfigError with %q", c.name, err, c.want)
		}
		if m != nil && m.Calls != 0 {
			t.Errorf("%s: %d calls made", c.name, m.Calls)
		}
	}
}

// fieldOfKind is a field of that kind, of a message made for the test.
func fieldOfKind(t *testing.T, kind protoreflect.Kind) protoreflect.FieldDescriptor {
	t.Helper()
	kinds := map[protoreflect.Kind]descriptorpb.FieldDescriptorProto_Type{
		protoreflect.DoubleKind: descriptorpb.FieldDescriptorProto_TYPE_DOUBLE,
		protoreflect.FloatKind:  descriptorpb.FieldDescriptorProto_TYPE_FLOAT,
		protoreflect.Int64Kind:  descriptorpb.FieldDescriptorProto_TYPE_INT64,
		protoreflect.Int32Kind:  descriptorpb.FieldDescriptorProto_TYPE_INT32,
		protoreflect.BoolKind:   descriptorpb.FieldDescriptorProto_TYPE_BOOL,
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name:   proto.String("kinds.proto"),
		Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Kinds"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("v"), Number: proto.Int32(1), Type: kinds[kind].Enum(),
				Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			}},
		}},
	}
	fd, err := protodesc.NewFile(fdp, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Messages().Get(0).Fields().Get(0)
}

func newMessageOf(fd protoreflect.FieldDescriptor) protoreflect.Message {
	return dynamicpb.NewMessage(fd.ContainingMessage())
}
