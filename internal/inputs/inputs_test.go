package inputs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/internal/fakegcs"
	"github.com/gridrun/gridrun/internal/inputs"
	"github.com/gridrun/gridrun/internal/testbin"
)

func TestExpand(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.jsonl", "b.csv.gz", "c.jsonl", "notes.txt"} {
		os.WriteFile(filepath.Join(dir, n), []byte("x\n"), 0o644)
	}
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	ctx := context.Background()

	files, err := inputs.Expand(ctx, []string{filepath.Join(dir, "*.jsonl"), "file://" + filepath.Join(dir, "b.csv.gz")}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, filepath.Base(f.Path)+":"+string(f.Format)+map[bool]string{true: "+gz"}[f.Gzip])
	}
	if strings.Join(got, " ") != "a.jsonl:jsonl c.jsonl:jsonl b.csv.gz:csv+gz" {
		t.Fatalf("expanded %v", got)
	}
	if files[0].Size != 2 {
		t.Fatalf("size %d, want 2", files[0].Size)
	}

	forced, err := inputs.Expand(ctx, []string{filepath.Join(dir, "notes.txt")}, "csv", nil)
	if err != nil || forced[0].Format != codec.CSV {
		t.Fatalf("a forced format: %v, %+v", err, forced)
	}

	for pattern, want := range map[string]string{
		filepath.Join(dir, "*.parquet"):   "no file matches",
		filepath.Join(dir, "missing.csv"): "no such file",
		filepath.Join(dir, "sub"):         "is a directory",
		filepath.Join(dir, "notes.txt"):   "cannot tell the format",
		"-":                               "input -: not here",
	} {
		_, err := inputs.Expand(ctx, []string{pattern}, "", &inputs.Options{StdinRefusal: "not here"})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", pattern, err, want)
		}
	}
	saved, err := inputs.Expand(ctx, []string{"-"}, "", &inputs.Options{Stdin: filepath.Join(dir, "a.jsonl")})
	if err != nil || saved[0].Path != filepath.Join(dir, "a.jsonl") {
		t.Fatalf("standard input saved: %v, %+v", err, saved)
	}
}

func TestCountCountsTheRowsOfAFileAndStopsWithItsContext(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(path, []byte(strings.Repeat("{\"id\":\"x\"}\n\n", 2500)), 0o644)
	f := inputs.File{Path: path, Format: codec.JSONL}
	n, err := inputs.Count(context.Background(), f, nil)
	if err != nil || n != 2500 {
		t.Errorf("Count = %d, %v; want 2500 rows", n, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := inputs.Count(ctx, f, nil); err == nil {
		t.Error("a cancelled count succeeded")
	}
}

// Objects in Cloud Storage are counted through the storage client, a
// Parquet object from its footer and a JSON lines object as a stream.
// Not parallel: the storage client finds the fake through the environment.
func TestCountCountsObjectsInCloudStorage(t *testing.T) {
	gcs := fakegcs.Start(t, "trades")
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host())
	root := testbin.Root(t)
	for _, c := range []struct {
		name   string
		format codec.Format
	}{{"trades.jsonl", codec.JSONL}, {"trades.parquet", codec.Parquet}} {
		b, err := os.ReadFile(filepath.Join(root, "testdata", c.name))
		if err != nil {
			t.Fatal(err)
		}
		gcs.Put("trades", c.name, b)
		// The local copy, read row by row, says how many rows it has.
		src, r, err := inputs.Open(context.Background(), inputs.File{Path: filepath.Join(root, "testdata", c.name), Format: c.format}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var want int64
		for {
			if _, err := r.Read(); err != nil {
				break
			}
			want++
		}
		src.Close()
		got, err := inputs.Count(context.Background(), inputs.File{Path: "gs://trades/" + c.name, Format: c.format}, nil)
		if err != nil || got != want || want == 0 {
			t.Errorf("%s: counted %d, %v; want %d", c.name, got, err, want)
		}
		if gcs.Downloads("trades", c.name) == 0 {
			t.Errorf("%s: not read from the bucket", c.name)
		}
	}
}
