package binstage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"slices"
	"testing"
)

func TestObjectReads(t *testing.T) {
	t.Parallel()
	e := setup(t)
	content := make([]byte, 100_000)
	for i := range content {
		content[i] = byte(i * 7)
	}
	e.gcs.Put(bucket, "data/trades.parquet", content)
	ctx := context.Background()
	o, err := OpenObject(ctx, "gs://"+bucket+"/data/trades.parquet", &e.store)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.Size() != int64(len(content)) || o.URI() != "gs://bins/data/trades.parquet" {
		t.Fatalf("size %d, uri %s", o.Size(), o.URI())
	}
	for _, tc := range []struct {
		off, n int64
		want   int
		eof    bool
	}{
		{0, 4, 4, false},
		{99_990, 10, 10, false},
		{99_990, 20, 10, true},
		{100_000, 1, 0, true},
		{50_000, 30_000, 30_000, false},
	} {
		p := make([]byte, tc.n)
		n, err := o.ReadAt(p, tc.off)
		if n != tc.want || errors.Is(err, io.EOF) != tc.eof || (err != nil && !errors.Is(err, io.EOF)) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v; want %d, eof %v", tc.n, tc.off, n, err, tc.want, tc.eof)
		}
		if !bytes.Equal(p[:n], content[tc.off:tc.off+int64(n)]) {
			t.Fatalf("ReadAt(%d bytes at %d): wrong bytes", tc.n, tc.off)
		}
	}
	all, err := io.ReadAll(o)
	if err != nil || !bytes.Equal(all, content) {
		t.Fatalf("Read: %d bytes, %v", len(all), err)
	}

	// A replaced object is not read as a mix of two files.
	e.gcs.Put(bucket, "data/trades.parquet", bytes.Repeat([]byte{1}, len(content)))
	if n, err := o.ReadAt(make([]byte, 10), 0); err == nil {
		t.Fatalf("read %d bytes of a replaced generation", n)
	}
}

func TestObjectErrors(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	_, err := OpenObject(ctx, "gs://"+bucket+"/missing.parquet", &e.store)
	var se *StoreError
	if !errors.As(err, &se) || se.Code != NotFound || !errors.Is(err, fs.ErrNotExist) || se.URI != "gs://bins/missing.parquet" {
		t.Fatalf("missing object: %v", err)
	}
	for _, uri := range []string{"gs://", "gs://bucket", "gs://bucket/", "/local/path"} {
		if _, err := OpenObject(ctx, uri, &e.store); err == nil {
			t.Errorf("OpenObject(%q) succeeded", uri)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := OpenObject(cancelled, "gs://"+bucket+"/missing.parquet", &e.store); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestWriteObjectWritesOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	uri := "gs://" + bucket + "/logs/job/b000001-a1.stderr.log"
	if err := WriteObject(ctx, uri, bytes.NewReader([]byte("it broke")), &e.store); err != nil {
		t.Fatal(err)
	}
	if got := e.gcs.Get(bucket, "logs/job/b000001-a1.stderr.log"); string(got) != "it broke" {
		t.Fatalf("object holds %q", got)
	}
	err := WriteObject(ctx, uri, bytes.NewReader([]byte("again")), &e.store)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write: %v, want an error that is fs.ErrExist", err)
	}
	if err := WriteObject(ctx, "gs://"+bucket, bytes.NewReader(nil), &e.store); err == nil {
		t.Fatal("a URI without an object name was accepted")
	}
}

func TestGlob(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, name := range []string{
		"trades/2026-11-20/trades-000.jsonl",
		"trades/2026-11-20/trades-001.jsonl",
		"trades/2026-11-20/trades-001.csv",
		"trades/2026-11-20/old/trades-002.jsonl",
		"trades/2026-11-21/trades-000.jsonl",
	} {
		e.gcs.Put(bucket, name, []byte("{}"))
	}
	ctx := context.Background()
	gs := "gs://" + bucket + "/"
	for _, tc := range []struct {
		pattern string
		want    []string
	}{
		{"trades/2026-11-20/trades-*.jsonl", []string{"trades/2026-11-20/trades-000.jsonl", "trades/2026-11-20/trades-001.jsonl"}},
		{"trades/*/trades-000.jsonl", []string{"trades/2026-11-20/trades-000.jsonl", "trades/2026-11-21/trades-000.jsonl"}},
		{"trades/2026-11-20/trades-00[1-9].*", []string{"trades/2026-11-20/trades-001.csv", "trades/2026-11-20/trades-001.jsonl"}},
		{"trades/2026-11-2?/old/*", []string{"trades/2026-11-20/old/trades-002.jsonl"}},
		{"trades/2026-11-22/*", nil},
		// Without a wildcard, the name is the answer: whether it
		// exists is for the open to say.
		{"trades/2026-11-22/trades-000.jsonl", []string{"trades/2026-11-22/trades-000.jsonl"}},
	} {
		got, err := Glob(ctx, gs+tc.pattern, &e.store)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		var want []string
		for _, w := range tc.want {
			want = append(want, gs+w)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Glob(%s) = %q, want %q", tc.pattern, got, want)
		}
	}
	for _, bad := range []string{gs + "trades/[", "gs://", "trades/*.jsonl"} {
		if _, err := Glob(ctx, bad, &e.store); err == nil {
			t.Errorf("Glob(%q) succeeded", bad)
		}
	}
}
