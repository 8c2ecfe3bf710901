package inspect

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	gridrunv1 "github.com/gridrun/gridrun/proto/gridrun/v1"
)

func TestDetectTellsFilesByNameOrContent(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A batch whose job id is 123 bytes long starts with the bytes "\n{".
	long := make([]byte, 123)
	for i := range long {
		long[i] = 'j'
	}
	batch, _ := proto.Marshal(&gridrunv1.Batch{JobId: string(long), BatchId: "b000001", Elements: []*gridrunv1.Element{{Id: "a"}}})
	var stream bytes.Buffer
	for _, id := range []string{"a", "b"} {
		protodelim.MarshalTo(&stream, &gridrunv1.Result{Id: id, Outcome: &gridrunv1.Result_Payload{Payload: []byte{8, 1}}})
	}
	desc, _ := proto.Marshal(&gridrunv1.Description{Protocol: "gridrun.v1", InputType: "x.In"})
	for _, c := range []struct {
		path string
		want Kind
	}{
		{write("batch.pb", batch), Batch},
		{write("x.bin", batch), Batch},
		{write("results.pb", stream.Bytes()), ResultStream},
		{write("y.bin", stream.Bytes()), ResultStream},
		{write("z.bin", desc), Description},
		{write("results-00001.jsonl", nil), Results},
		{write("dead-letters-00001.jsonl", nil), DeadLetters},
		{write("manifest.json", nil), Manifest},
		{write("a.jsonl", []byte(`{"id":"x","result":{"price":1}}`+"\n")), Results},
		{write("b.jsonl", []byte(`{"id":"x","kind":"crash","message":"m","element":null}`+"\n")), DeadLetters},
		{write("c.json", []byte(`{"job_id":"j","status":"ok","binary":{}}`)), Manifest},
		{write("timeline.jsonl", []byte(`{"slot":0,"batch":"b"}`+"\n")), JSON},
	} {
		got, err := Detect(c.path)
		if err != nil || got != c.want {
			t.Errorf("Detect(%s) = %q, %v; want %q", filepath.Base(c.path), got, err, c.want)
		}
	}
	if k, err := Detect(write("junk.bin", []byte{0xff, 0xff, 0xff})); err == nil {
		t.Errorf("Detect(junk) = %q, want an error", k)
	}
}

func TestFindDescriptionWalksUp(t *testing.T) {
	out := t.TempDir()
	os.MkdirAll(filepath.Join(out, "_gridrun"), 0o755)
	os.MkdirAll(filepath.Join(out, "calls", "call-1"), 0o755)
	want := filepath.Join(out, "_gridrun", "description.pb")
	os.WriteFile(want, nil, 0o644)
	got, err := FindDescription(filepath.Join(out, "calls", "call-1", "batch.pb"))
	if err != nil || got != want {
		t.Errorf("FindDescription = %q, %v; want %q", got, err, want)
	}
	if got, _ := FindDescription(filepath.Join(t.TempDir(), "batch.pb")); got != "" {
		t.Errorf("FindDescription found %q outside any output", got)
	}
}

// A Parquet file prints a JSON object of its columns per row.
func TestParquetRows(t *testing.T) {
	path := filepath.Join("..", "..", "..", "testdata", "trades.parquet")
	k, err := Detect(path)
	if err != nil || k != Parquet {
		t.Fatalf("Detect = %v, %v", k, err)
	}
	var out bytes.Buffer
	if err := Print(&out, path, k, &Options{Compact: true}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1000 {
		t.Fatalf("%d rows, want the 1000 trades", len(lines))
	}
	var first struct {
		ID         string  `json:"id"`
		Underlying string  `json:"underlying"`
		Strike     float64 `json:"strike"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.ID != "T0000001" || first.Underlying == "" || first.Strike <= 0 {
		t.Fatalf("first row %s: %v", lines[0], err)
	}
}
