package wrapper

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	gridrunv1 "github.com/gridrun/gridrun/proto/gridrun/v1"
)

// FuzzResultStream feeds arbitrary bytes, in two pieces as a binary might
// flush them, to the results-file parser: it must never panic, must return
// every whole result before a break exactly once, and must report any
// leftover as an OutputError.
func FuzzResultStream(f *testing.F) {
	good := func(ids ...string) []byte {
		var b bytes.Buffer
		for _, id := range ids {
			protodelim.MarshalTo(&b, &gridrunv1.Result{Id: id, Outcome: &gridrunv1.Result_Payload{Payload: []byte("p-" + id)}})
		}
		return b.Bytes()
	}
	f.Add(good("a", "b", "c"), 3)
	f.Add(good("a", "b"), 0)
	f.Add(append(good("a"), 0xff, 0xff, 0xff), 2)
	f.Add([]byte{0x05, 0x0a}, 1)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 5)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		path := filepath.Join(t.TempDir(), "results.pb")
		cut = min(max(cut, 0), len(data))
		if err := os.WriteFile(path, data[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		r := newResultReader(fh)
		var got int
		emit := func(res *gridrunv1.Result, off int64) error {
			if off < 0 || off >= int64(len(data)) {
				t.Fatalf("offset %d outside the %d bytes", off, len(data))
			}
			got++
			return nil
		}
		n1, err1 := r.poll(emit)
		if err1 == nil {
			wf, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			wf.Write(data[cut:])
			wf.Close()
			n2, err2 := r.poll(emit)
			if err2 == nil {
				err2 = r.finish()
			}
			err1 = err2
			n1 += n2
		}
		if n1 != got {
			t.Fatalf("poll counted %d results, emitted %d", n1, got)
		}
		var oe *OutputError
		if err1 != nil && !errors.As(err1, &oe) {
			t.Fatalf("error %v is not an OutputError", err1)
		}
	})
}

// parseResult decodes what proto.Unmarshal decodes, on any bytes.
func FuzzParseResult(f *testing.F) {
	for _, r := range []*gridrunv1.Result{
		{Id: "a", Outcome: &gridrunv1.Result_Payload{Payload: []byte("x")}, DurationNanos: 7},
		{Id: "b", Outcome: &gridrunv1.Result_Error{Error: &gridrunv1.ElementError{Message: "m", Type: "t"}}},
		{Stopping: true, Started: 12},
		{Id: "é", Outcome: &gridrunv1.Result_Payload{}},
	} {
		b, _ := proto.Marshal(r)
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0x02, 0xff, 0xfe})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseResult(b)
		want := new(gridrunv1.Result)
		werr := proto.Unmarshal(b, want)
		if (err == nil) != (werr == nil) {
			t.Fatalf("parseResult err %v, proto.Unmarshal err %v", err, werr)
		}
		for _, r := range []*gridrunv1.Result{got, want} { // fields the runner does not know do not matter
			if r == nil {
				continue
			}
			r.ProtoReflect().SetUnknown(nil)
			if e := r.GetError(); e != nil {
				e.ProtoReflect().SetUnknown(nil)
			}
		}
		if err == nil && !proto.Equal(got, want) {
			t.Fatalf("parseResult %v, proto.Unmarshal %v", got, want)
		}
	})
}

// TestResultPayloadsOutliveLaterReads appends a stream in uneven pieces,
// polling after each, and checks every payload at the end: payloads alias
// the read buffer, so a later read writing over parsed bytes would show up
// as a corrupt earlier result.
func TestResultPayloadsOutliveLaterReads(t *testing.T) {
	var stream bytes.Buffer
	want := map[string]string{}
	for i := range 3000 {
		id := fmt.Sprintf("e%04d", i)
		payload := strings.Repeat(string(rune('a'+i%26)), i%700) // some past a read's free space
		want[id] = payload
		protodelim.MarshalTo(&stream, &gridrunv1.Result{Id: id, Outcome: &gridrunv1.Result_Payload{Payload: []byte(payload)}})
	}
	path := filepath.Join(t.TempDir(), "results.pb")
	w, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r := newResultReader(fh)
	got := map[string][]byte{}
	emit := func(res *gridrunv1.Result, _ int64) error {
		got[res.GetId()] = res.GetPayload()
		return nil
	}
	rest := stream.Bytes()
	for piece := 1; len(rest) > 0; piece = piece*7%9973 + 1 {
		n := min(piece, len(rest))
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
		if _, err := r.poll(emit); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.finish(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for id, p := range want {
		if string(got[id]) != p {
			t.Fatalf("result %s: payload of %d bytes changed after later reads", id, len(p))
		}
	}
}
