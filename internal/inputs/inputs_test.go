package inputs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/internal/inputs"
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
