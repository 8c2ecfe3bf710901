package blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"go.uber.org/goleak"
	"google.golang.org/api/option"

	"github.com/gridrun/gridrun/internal/blob"
	"github.com/gridrun/gridrun/internal/fakegcs"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Started once by an init function of a storage client dependency.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// store is one driver under test: the URI of a bucket root, and the
// options that reach it.
type store struct {
	root string
	opts *blob.Options
	// pins says that a reader of a replaced object fails; otherwise it
	// keeps reading the version it opened.
	pins bool
	gcs  *fakegcs.Server
}

const bucket = "things"

// stores are the drivers every test of the suite runs against.
func stores(t *testing.T) map[string]func(t *testing.T) store {
	return map[string]func(t *testing.T) store{
		"local": func(t *testing.T) store {
			return store{root: filepath.Join(t.TempDir(), "root")}
		},
		"file": func(t *testing.T) store {
			return store{root: "file://" + filepath.Join(t.TempDir(), "root")}
		},
		"gcs": func(t *testing.T) store {
			gcs := fakegcs.Start(t, bucket)
			return store{
				root: "gs://" + bucket + "/pre/fix",
				opts: &blob.Options{Client: gcs.Client(t), Backoff: time.Millisecond},
				pins: true,
				gcs:  gcs,
			}
		},
	}
}

// suite runs test against every driver, each with a bucket of its own.
func suite(t *testing.T, test func(t *testing.T, s store, b *blob.Bucket)) {
	t.Parallel()
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			b, err := blob.OpenBucket(context.Background(), s.root, s.opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			test(t, s, b)
		})
	}
}

func put(t *testing.T, b *blob.Bucket, key string, data []byte) {
	t.Helper()
	err := b.Write(context.Background(), key, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

// pattern returns n bytes that differ from one offset to the next, so
// that a read at a wrong offset shows.
func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7) ^ seed
	}
	return p
}

func TestWriteRead(t *testing.T) {
	suite(t, func(t *testing.T, s store, b *blob.Bucket) {
		ctx := context.Background()
		// More than the write buffer, so that fill's bytes reach the file
		// or upload in several writes.
		content := pattern(600_000, 0)
		put(t, b, "a/b/c.bin", content)
		got, err := b.ReadAll(ctx, "a/b/c.bin")
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("ReadAll: %d bytes, %v", len(got), err)
		}
		a, err := b.Attributes(ctx, "a/b/c.bin")
		if err != nil || a.Size != int64(len(content)) || a.ModTime.IsZero() {
			t.Fatalf("Attributes: %+v, %v", a, err)
		}
		if n, err := b.Size(ctx, "a/b/c.bin"); n != int64(len(content)) || err != nil {
			t.Fatalf("Size: %d, %v", n, err)
		}
		r, err := b.NewReader(ctx, "a/b/c.bin")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if r.Size() != int64(len(content)) || r.URI() != strings.TrimSuffix(s.root, "/")+"/a/b/c.bin" {
			t.Fatalf("size %d, uri %s", r.Size(), r.URI())
		}
		all, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(all, content) {
			t.Fatalf("Read: %d bytes, %v", len(all), err)
		}
	})
}

func TestReadAt(t *testing.T) {
	suite(t, func(t *testing.T, s store, b *blob.Bucket) {
		content := pattern(100_000, 3)
		put(t, b, "data/trades.parquet", content)
		r, err := b.NewReader(context.Background(), "data/trades.parquet")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
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
			n, err := r.ReadAt(p, tc.off)
			if n != tc.want || errors.Is(err, io.EOF) != tc.eof || (err != nil && !errors.Is(err, io.EOF)) {
				t.Fatalf("ReadAt(%d bytes at %d) = %d, %v; want %d, eof %v", tc.n, tc.off, n, err, tc.want, tc.eof)
			}
			if !bytes.Equal(p[:n], content[tc.off:tc.off+int64(n)]) {
				t.Fatalf("ReadAt(%d bytes at %d): wrong bytes", tc.n, tc.off)
			}
		}
		// ReadAt is for concurrent use: a Parquet reader reads column
		// chunks at once.
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				off := int64(i * 10_000)
				p := make([]byte, 5_000)
				if n, err := r.ReadAt(p, off); n != len(p) || err != nil || !bytes.Equal(p, content[off:off+5_000]) {
					t.Errorf("concurrent ReadAt at %d: %d, %v", off, n, err)
				}
			})
		}
		wg.Wait()
	})
}

var errFill = errors.New("the results ran out")

func TestFailedFillLeavesNothing(t *testing.T) {
	suite(t, func(t *testing.T, s store, b *blob.Bucket) {
		ctx := context.Background()
		half := func(w io.Writer) error {
			w.Write(pattern(400_000, 1)) // past the buffer: bytes have gone out
			return errFill
		}
		if err := b.Write(ctx, "new.jsonl", half, nil); err != errFill {
			t.Fatalf("failed fill: %v, want fill's own error", err)
		}
		if _, err := b.Attributes(ctx, "new.jsonl"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("after a failed fill: %v, want no object", err)
		}
		// A failed replacement keeps the old object.
		put(t, b, "old.jsonl", []byte("old\n"))
		if err := b.Write(ctx, "old.jsonl", half, nil); err != errFill {
			t.Fatalf("failed replacement: %v", err)
		}
		if got, err := b.ReadAll(ctx, "old.jsonl"); string(got) != "old\n" || err != nil {
			t.Fatalf("after a failed replacement: %q, %v", got, err)
		}
		// A cancelled write is abandoned too, and its error is the
		// context's.
		cctx, cancel := context.WithCancel(ctx)
		err := b.Write(cctx, "cancelled.jsonl", func(w io.Writer) error {
			w.Write(pattern(400_000, 2))
			cancel()
			return nil
		}, nil)
		if err != context.Canceled {
			t.Fatalf("cancelled write: %v", err)
		}
		// No temporary file or partial object is left: the listing holds
		// exactly what was written whole.
		keys, err := b.List(ctx, "")
		if err != nil || !slices.Equal(keys, []string{"old.jsonl"}) {
			t.Fatalf("List = %q, %v; want only old.jsonl", keys, err)
		}
	})
}

func TestIfNotExist(t *testing.T) {
	suite(t, func(t *testing.T, s store, b *blob.Bucket) {
		ctx := context.Background()
		write := func(text string) error {
			return b.Write(ctx, "v1/manifest.json", func(w io.Writer) error {
				_, err := io.WriteString(w, text)
				return err
			}, &blob.WriteOptions{IfNotExist: true, Mode: 0o444})
		}
		if err := write("first"); err != nil {
			t.Fatal(err)
		}
		err := write("second")
		var e *blob.Error
		if !errors.As(err, &e) || e.Code != blob.AlreadyExists || !errors.Is(err, fs.ErrExist) || e.URI != b.URI("v1/manifest.json") {
			t.Fatalf("second writer: %v, want AlreadyExists for %s", err, b.URI("v1/manifest.json"))
		}
		if got, _ := b.ReadAll(ctx, "v1/manifest.json"); string(got) != "first" {
			t.Fatalf("object holds %q after the refused write", got)
		}
		// Of writers that race, one wins.
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				errs[i] = b.Write(ctx, "race", func(w io.Writer) error {
					_, err := fmt.Fprint(w, i)
					return err
				}, &blob.WriteOptions{IfNotExist: true})
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, fs.ErrExist):
				t.Errorf("racing writer: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d racing writers won: %v", won, errs)
		}
		keys, err := b.List(ctx, "")
		if err != nil || !slices.Equal(keys, []string{"race", "v1/manifest.json"}) {
			t.Fatalf("List = %q, %v", keys, err)
		}
	})
}

func TestNotExist(t *testing.T) {
	suite(t, func(t *testing.T, s store, b *blob.Bucket) {
		ctx := context.Background()
		put(t, b, "here", []byte("x"))
		check := func(op string, err error) {
			t.Helper()
			var e *blob.Error
			if !errors.As(err, &e) || e.Code != blob.NotFound || !errors.Is(err, fs.ErrNotExist) || e.URI != b.URI("missing/file") {
				t.Errorf("%s of a missing key: %v", op, err)
			}
			if !strings.HasPrefix(err.Error(), b.URI("missing/file")+": not found") {
				t.Errorf("%s: message %q", op, err)
			}
		}
		_, err := b.NewReader(ctx, "missing/file")
		check("NewReader", err)
		_, err = b.Attributes(ctx, "missing/file")
		check("Attributes", err)
		_, err = b.ReadAll(ctx, "missing/file")
		check("ReadAll", err)
		if err := b.Delete(ctx, "missing/file"); err != nil {
			t.Errorf("Delete of a missing key: %v", err)
		}
		if keys, err := b.List(ctx, "missing/"); len(keys) != 0 || err != nil {
			t.Errorf("List of an empty prefix: %q, %v", keys, err)
		}
		// A request's error under a cancelled context is the context's
		// (local files open without asking).
		if s.gcs != nil {
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := b.NewReader(cancelled, "here"); err != context.Canceled {
				t.Errorf("NewReader with a cancelled context: %v", err)
			}
		}
	})
}

func TestListDelete(t *testing.T) {
	suite(t, func(t *testing.T, s store, b *blob.Bucket) {
		ctx := context.Background()
		all := []string{"a", "b/1", "b/2/x", "b/2/y", "bc", "c/d/e/f"}
		for _, k := range slices.Backward(all) {
			put(t, b, k, []byte(k))
		}
		for _, tc := range []struct {
			prefix string
			want   []string
		}{
			{"", all},
			{"b", []string{"b/1", "b/2/x", "b/2/y", "bc"}},
			{"b/", []string{"b/1", "b/2/x", "b/2/y"}},
			{"b/2/", []string{"b/2/x", "b/2/y"}},
			{"c/d", []string{"c/d/e/f"}},
			{"z", nil},
		} {
			got, err := b.List(ctx, tc.prefix)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("List(%q) = %q, %v; want %q", tc.prefix, got, err, tc.want)
			}
		}
		if err := b.Delete(ctx, "b/2/x"); err != nil {
			t.Fatal(err)
		}
		if got, err := b.List(ctx, "b/2/"); !slices.Equal(got, []string{"b/2/y"}) || err != nil {
			t.Fatalf("after Delete: %q, %v", got, err)
		}
	})
}

// A reader never mixes two versions of an object: after a replacement it
// fails (Cloud Storage, where it reads one generation) or goes on reading
// what it opened (a local file, replaced by a rename).
func TestReplacedWhileRead(t *testing.T) {
	suite(t, func(t *testing.T, s store, b *blob.Bucket) {
		ctx := context.Background()
		v1, v2 := pattern(50_000, 1), pattern(50_000, 2)
		put(t, b, "in.parquet", v1)
		r, err := b.NewReader(ctx, "in.parquet")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		put(t, b, "in.parquet", v2)
		p := make([]byte, 1000)
		n, err := r.ReadAt(p, 20_000)
		switch {
		case s.pins && err == nil:
			t.Fatalf("read %d bytes of a replaced generation", n)
		case s.pins && !errors.Is(err, fs.ErrNotExist):
			t.Fatalf("read of a replaced generation: %v, want not found", err)
		case !s.pins && (err != nil || !bytes.Equal(p, v1[20_000:21_000])):
			t.Fatalf("read after a replacement: %v, or bytes not of the version opened", err)
		}
		if got, _ := b.ReadAll(ctx, "in.parquet"); !bytes.Equal(got, v2) {
			t.Fatal("a new reader does not read the new version")
		}
	})
}

func TestGlob(t *testing.T) {
	suite(t, func(t *testing.T, s store, b *blob.Bucket) {
		for _, name := range []string{
			"trades/2026-11-20/trades-000.jsonl",
			"trades/2026-11-20/trades-001.jsonl",
			"trades/2026-11-20/trades-001.csv",
			"trades/2026-11-20/old/trades-002.jsonl",
			"trades/2026-11-21/trades-000.jsonl",
		} {
			put(t, b, name, []byte("{}"))
		}
		ctx := context.Background()
		// Local matches are paths; objects are URIs.
		base := strings.TrimPrefix(s.root, "file://") + "/"
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
			got, err := blob.Glob(ctx, s.root+"/"+tc.pattern, s.opts)
			if err != nil {
				t.Fatalf("%s: %v", tc.pattern, err)
			}
			var want []string
			for _, w := range tc.want {
				want = append(want, base+w)
			}
			if !slices.Equal(got, want) {
				t.Errorf("Glob(%s) = %q, want %q", tc.pattern, got, want)
			}
		}
		if _, err := blob.Glob(ctx, s.root+"/trades/[", s.opts); err == nil {
			t.Error("a malformed pattern was accepted")
		}
	})
}

func TestOpen(t *testing.T) {
	suite(t, func(t *testing.T, s store, b *blob.Bucket) {
		ctx := context.Background()
		content := pattern(10_000, 9)
		put(t, b, "in/trades.jsonl", content)
		uri := s.root + "/in/trades.jsonl"
		r, err := blob.Open(ctx, uri, s.opts)
		if err != nil {
			t.Fatal(err)
		}
		all, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(all, content) || r.Size() != int64(len(content)) || r.URI() != uri {
			t.Fatalf("Open(%s): %d bytes, %v, size %d, uri %s", uri, len(all), err, r.Size(), r.URI())
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		_, err = blob.Open(ctx, s.root+"/in/missing.jsonl", s.opts)
		var e *blob.Error
		if !errors.As(err, &e) || e.Code != blob.NotFound || e.URI != s.root+"/in/missing.jsonl" {
			t.Fatalf("Open of a missing file: %v", err)
		}
	})
}

func TestLocalModes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := blob.OpenBucket(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	put(t, b, "plain", []byte("x"))
	err = b.Write(context.Background(), "sealed", func(w io.Writer) error { _, err := w.Write([]byte("x")); return err },
		&blob.WriteOptions{IfNotExist: true, Mode: 0o444})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"plain": 0o644, "sealed": 0o444} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", name, st.Mode().Perm(), err, want)
		}
	}
	// A directory is not an object.
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	if _, err := b.NewReader(context.Background(), "sub"); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("NewReader of a directory: %v", err)
	}
	// A directory that does not exist is an empty bucket to write into,
	// and a missing one to list.
	nb, _ := blob.OpenBucket(context.Background(), filepath.Join(dir, "not", "yet"), nil)
	if _, err := nb.List(context.Background(), ""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List of a missing directory: %v", err)
	}
	put(t, nb, "f", []byte("x"))
}

func TestURIs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, uri := range []string{"s3://b/k", "hdfs://n/p"} {
		_, err := blob.OpenBucket(ctx, uri, nil)
		scheme, _, _ := strings.Cut(uri, "://")
		want := uri + ": " + scheme + ":// is not a file system gridrun knows (local paths, file:// and gs://)"
		if err == nil || err.Error() != want {
			t.Errorf("OpenBucket(%s): %v, want %q", uri, err, want)
		}
		if _, err := blob.Open(ctx, uri, nil); err == nil || err.Error() != want {
			t.Errorf("Open(%s): %v", uri, err)
		}
		if _, err := blob.Glob(ctx, uri+"/*", nil); err == nil || !strings.Contains(err.Error(), "not a file system gridrun knows") {
			t.Errorf("Glob(%s): %v", uri, err)
		}
	}
	for _, uri := range []string{"gs://", "gs://bucket", "gs://bucket/", "gs:///key"} {
		if _, err := blob.Open(ctx, uri, nil); err == nil {
			t.Errorf("Open(%q) succeeded", uri)
		}
	}
	for uri, local := range map[string]bool{"/a/b": true, "a": true, "file:///a": true, "gs://b/k": false, "s3://b": false} {
		if blob.IsLocal(uri) != local {
			t.Errorf("IsLocal(%s) = %v", uri, !local)
		}
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	gcs := fakegcs.Start(t, bucket)
	ctx := context.Background()
	open := func(o blob.Options) *blob.Bucket {
		o.Client, o.Backoff = gcs.Client(t), time.Millisecond
		b, err := blob.OpenBucket(ctx, "gs://"+bucket, &o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	gcs.Put(bucket, "k", []byte("v"))

	// A read is retried through transient errors, up to Attempts.
	gcs.FailNext(2)
	if got, err := open(blob.Options{}).ReadAll(ctx, "k"); string(got) != "v" || err != nil {
		t.Fatalf("read after two 503s: %q, %v", got, err)
	}
	gcs.FailNext(2)
	_, err := open(blob.Options{Attempts: 2}).ReadAll(ctx, "k")
	var e *blob.Error
	if !errors.As(err, &e) || e.Code != blob.Unknown || !strings.Contains(err.Error(), "503") {
		t.Fatalf("read after two 503s in two attempts: %v", err)
	}
	gcs.FailNext(0)

	// IsRetryable decides what is transient.
	gcs.FailNext(1)
	never := func(error) bool { return false }
	if _, err := open(blob.Options{IsRetryable: never}).ReadAll(ctx, "k"); err == nil {
		t.Fatal("a read was retried that IsRetryable refused")
	}
	gcs.FailNext(0)

	// A write that replaces an object is retried only under RetryAlways.
	write := func(b *blob.Bucket) error {
		return b.Write(ctx, "k", func(w io.Writer) error { _, err := w.Write([]byte("w")); return err }, nil)
	}
	gcs.FailNext(1)
	if err := write(open(blob.Options{})); err == nil {
		t.Fatal("a replacing write was retried under RetryIdempotent")
	}
	gcs.FailNext(1)
	if err := write(open(blob.Options{Retry: storage.RetryAlways})); err != nil {
		t.Fatalf("a replacing write under RetryAlways: %v", err)
	}
	if got := gcs.Get(bucket, "k"); string(got) != "w" {
		t.Fatalf("object holds %q", got)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	// A listener that never answers, and a port that refuses.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	refusing, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := refusing.Addr().String()
	refusing.Close()
	for name, tc := range map[string]struct {
		addr    string
		timeout time.Duration
		want    string
	}{
		"refused": {refused, 0, "refused"},
		"silent":  {silent.Addr().String(), 200 * time.Millisecond, "no answer within 200ms"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := storage.NewClient(context.Background(), option.WithEndpoint("http://"+tc.addr+"/storage/v1/"),
				option.WithoutAuthentication(), storage.WithJSONReads())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			b, err := blob.OpenBucket(context.Background(), "gs://b", &blob.Options{Client: c, Timeout: tc.timeout, Backoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			_, err = b.Attributes(context.Background(), "k")
			var e *blob.Error
			if !errors.As(err, &e) || e.Code != blob.Unreachable || !strings.Contains(err.Error(), tc.want) || e.URI != "gs://b/k" {
				t.Fatalf("%v, want Unreachable and %q", err, tc.want)
			}
		})
	}
}
