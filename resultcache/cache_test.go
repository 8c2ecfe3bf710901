package resultcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gridrun/gridrun/internal/blob"
	"github.com/gridrun/gridrun/internal/fakegcs"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The storage client's dependencies start this in an init.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// independentKey derives a key as docs/incremental.md describes it, written
// out here byte by byte rather than through KeyOf's helpers.
func independentKey(binarySHA string, args, env []string, common string, payload []byte, side [][]byte, scenario *[2]string) Key {
	lp := func(b []byte) []byte {
		return append(binary.BigEndian.AppendUint64(nil, uint64(len(b))), b...)
	}
	n := func(k int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(k)) }
	var job []byte
	job = append(job, lp([]byte("gridrun.cache.v1.job"))...)
	job = append(job, lp([]byte(binarySHA))...)
	job = append(job, n(len(args))...)
	for _, a := range args {
		job = append(job, lp([]byte(a))...)
	}
	job = append(job, n(len(env))...)
	for _, e := range env {
		job = append(job, lp([]byte(e))...)
	}
	job = append(job, lp([]byte(common))...)
	jd := sha256.Sum256(job)
	var el []byte
	el = append(el, lp([]byte("gridrun.cache.v1"))...)
	el = append(el, lp(jd[:])...)
	el = append(el, lp(payload)...)
	el = append(el, n(len(side))...)
	for _, s := range side {
		el = append(el, lp(s)...)
	}
	if scenario != nil {
		el = append(el, n(1)...)
		el = append(el, lp([]byte(scenario[0]))...)
		el = append(el, lp([]byte(scenario[1]))...)
	} else {
		el = append(el, n(0)...)
	}
	return sha256.Sum256(el)
}

func TestKeyCoversEveryInput(t *testing.T) {
	t.Parallel()
	job := Job{BinarySHA256: "ab12", Args: []string{"--model", "bs"}, Env: []string{"TZ=UTC"}, CommonSHA256: "cd34"}
	base := Element{Payload: []byte("trade"), SideRows: [][]byte{[]byte("quote")}, HasScenario: true, ScenarioID: "up", ScenarioPayload: []byte("shift")}
	want := independentKey("ab12", job.Args, job.Env, "cd34", []byte("trade"), [][]byte{[]byte("quote")}, &[2]string{"up", "shift"})
	if got := KeyOf(job.Digest(), base); got != want {
		t.Fatalf("key %s, want %s", got, want)
	}
	seen := map[Key]string{KeyOf(job.Digest(), base): "base"}
	var reused Hasher // one state for every variant, as a batch uses it
	variant := func(name string, j Job, e Element) {
		k := KeyOf(j.Digest(), e)
		if r := reused.Key(j.Digest(), e); r != k {
			t.Errorf("%s: a reused Hasher gives %s, KeyOf %s", name, r, k)
		}
		if prev, dup := seen[k]; dup {
			t.Errorf("%s has the key of %s", name, prev)
		}
		seen[k] = name
	}
	j := job
	j.BinarySHA256 = "ab13"
	variant("another binary", j, base)
	j = job
	j.Args = []string{"--model bs"}
	variant("arguments joined", j, base)
	j = job
	j.Args = []string{"--model", "bs", ""}
	variant("an empty argument more", j, base)
	j = job
	j.Env = nil
	variant("no environment", j, base)
	j = job
	j.CommonSHA256 = ""
	variant("no common data", j, base)
	e := base
	e.Payload = []byte("trad")
	variant("another payload", job, e)
	e = base
	e.SideRows = nil
	variant("no side row", job, e)
	e = base
	e.SideRows = [][]byte{[]byte("quo"), []byte("te")}
	variant("the side row split in two", job, e)
	e = base
	e.ScenarioID = "down"
	variant("another scenario id", job, e)
	e = base
	e.ScenarioPayload = nil
	variant("no scenario payload", job, e)
	e = base
	e.HasScenario, e.ScenarioID, e.ScenarioPayload = false, "", nil
	variant("no scenario", job, e)
	e.HasScenario = true
	variant("an empty scenario", job, e)
}

// testCache opens the cache at uri with warnings collected.
func testCache(t *testing.T, uri string, mode Mode, store *blob.Options) (*Cache, *logBuffer) {
	t.Helper()
	var log logBuffer
	c, err := Open(context.Background(), uri, &Options{Mode: mode, Store: store, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, &log
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func keyN(i int) Key {
	return KeyOf(Job{}.Digest(), Element{Payload: fmt.Appendf(nil, "element %d", i)})
}

func payloadN(i int) []byte { return fmt.Appendf(nil, "result of %d: %s", i, strings.Repeat("x", i%7)) }

// fill stores elements [lo, hi) as one pack.
func fill(t *testing.T, c *Cache, lo, hi int) {
	t.Helper()
	var es []Entry
	for i := lo; i < hi; i++ {
		es = append(es, Entry{Key: keyN(i), Payload: payloadN(i)})
	}
	if err := c.Store(context.Background(), es); err != nil {
		t.Fatal(err)
	}
}

func keys(lo, hi int) []Key {
	var ks []Key
	for i := lo; i < hi; i++ {
		ks = append(ks, keyN(i))
	}
	return ks
}

// conformance runs against a cache at uri: what both stores must do.
func conformance(t *testing.T, uri string, store *blob.Options, damage func(key string, edit func([]byte) []byte)) {
	ctx := context.Background()
	w, _ := testCache(t, uri, ModeReadWrite, store)
	fill(t, w, 0, 100)
	fill(t, w, 100, 200)
	fill(t, w, 200, 200) // nothing: no pack

	r, log := testCache(t, uri, ModeReadWrite, store)
	if r.Entries() != 200 {
		t.Fatalf("%d entries, want 200", r.Entries())
	}
	got, err := r.Lookup(ctx, append(keys(50, 100), keys(300, 310)...))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range got {
		switch {
		case i < 50 && !bytes.Equal(p, payloadN(50+i)):
			t.Fatalf("entry %d: %q, want %q", 50+i, p, payloadN(50+i))
		case i >= 50 && p != nil:
			t.Fatalf("element %d never stored: %q", 250+i, p)
		}
	}
	if s := r.Stats(); s.Hits != 50 || s.Misses != 10 || s.Batches != 1 || s.Reads != 1 {
		t.Fatalf("stats %+v: want 50 hits, 10 misses, one read of one pack", s)
	}
	// A batch straddling both packs reads each once.
	if _, err := r.Lookup(ctx, keys(90, 110)); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.Reads != 3 {
		t.Fatalf("%d reads, want 3", s.Reads)
	}

	// Damage the second pack: a flipped bit in entry 150's payload.
	second := max(r.packs[0], r.packs[1]) // names sort by age
	loc := offsetOf(t, r, keyN(150))
	damage(packDir+second+packExt, func(b []byte) []byte {
		b[loc+entryOverhead-4] ^= 1 // the payload's first byte
		return b
	})
	got, err = r.Lookup(ctx, keys(149, 152))
	if err != nil {
		t.Fatal(err)
	}
	if got[0] == nil || got[1] != nil || got[2] == nil {
		t.Fatalf("entries 149-151 after damage to 150: %q", got)
	}
	if !strings.Contains(log.String(), "corrupt entry") || !strings.Contains(log.String(), r.URI(packDir+second+packExt)) || !strings.Contains(log.String(), keyN(150).String()) {
		t.Fatalf("no warning names the pack and the key:\n%s", log)
	}
	// Truncated: the pack loses its last 10 bytes, entry 199's end.
	damage(packDir+second+packExt, func(b []byte) []byte { return b[:len(b)-10] })
	got, err = r.Lookup(ctx, keys(198, 200))
	if err != nil {
		t.Fatal(err)
	}
	if got[0] == nil || got[1] != nil {
		t.Fatalf("entries 198-199 after truncation: %q", got)
	}
	if s := r.Stats(); s.Corrupt != 2 {
		t.Fatalf("%d corrupt, want 2", s.Corrupt)
	}

	// Stored again, the entries are found in their newer pack.
	fill(t, w, 150, 151)
	fill(t, w, 199, 200)
	again, _ := testCache(t, uri, ModeRead, store)
	got, err = again.Lookup(ctx, []Key{keyN(150), keyN(199)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[0], payloadN(150)) || !bytes.Equal(got[1], payloadN(199)) {
		t.Fatalf("restored entries: %q", got)
	}
	if again.Entries() != 200 {
		t.Fatalf("%d entries, want 200 (each key once)", again.Entries())
	}

	// A read-only cache writes nothing.
	if err := again.Store(ctx, []Entry{{Key: keyN(500), Payload: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	s, err := Inspect(ctx, uri, store)
	if err != nil {
		t.Fatal(err)
	}
	if s.Packs != 4 || s.Entries != 202 || s.Bytes == 0 || s.Oldest.After(s.Newest) {
		t.Fatalf("summary %+v, want 4 packs of 202 entries", s)
	}
}

// offsetOf is where key's entry starts in its pack.
func offsetOf(t *testing.T, c *Cache, k Key) int {
	t.Helper()
	s, ok := c.index.find(prefixOf(k))
	if !ok {
		t.Fatalf("%s not in the index", k)
	}
	return int(c.index.entry(s).off)
}

func TestLocalCache(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "cache")
	conformance(t, dir, nil, func(key string, edit func([]byte) []byte) {
		p := filepath.Join(dir, filepath.FromSlash(key))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, edit(b), 0o644); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCloudStorageCache(t *testing.T) {
	t.Parallel()
	gcs := fakegcs.Start(t, "risk")
	store := &blob.Options{Client: gcs.Client(t), Backoff: time.Millisecond}
	conformance(t, "gs://risk/cache", store, func(key string, edit func([]byte) []byte) {
		obj := "cache/" + key
		gcs.Put("risk", obj, edit(gcs.Get("risk", obj)))
	})
}

func TestPruneRemovesOldPacksOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache")
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		c, err := Open(ctx, dir, &Options{Now: func() time.Time { return day.AddDate(0, 0, i) }})
		if err != nil {
			t.Fatal(err)
		}
		fill(t, c, i*10, i*10+10)
		c.Close()
	}
	// A pack whose index was never written, as a writer killed between
	// the two leaves it: old, it goes too.
	orphan := filepath.Join(dir, "v1", "packs", packName(day, "0000000000000000")+packExt)
	if err := os.WriteFile(orphan, []byte("GRCE"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Prune(ctx, dir, day.AddDate(0, 0, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Packs != 2 {
		t.Fatalf("pruned %d packs, want the first day's and the orphan", r.Packs)
	}
	s, err := Inspect(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Packs != 2 || s.Entries != 20 || !s.Oldest.Equal(day.AddDate(0, 0, 1)) || !s.Newest.Equal(day.AddDate(0, 0, 2)) {
		t.Fatalf("after prune: %+v", s)
	}
	c, _ := testCache(t, dir, ModeRead, nil)
	got, err := c.Lookup(ctx, keys(0, 30))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range got {
		if (p != nil) != (i >= 10) {
			t.Fatalf("entry %d after prune: %q", i, p)
		}
	}
}

// Two jobs filling one cache at once, with the same results and others:
// every entry reads back whole.
func TestConcurrentWritersShareACache(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "cache")
	var wg sync.WaitGroup
	for w := range 4 {
		c, _ := testCache(t, dir, ModeWrite, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 10 {
				lo := (w%2)*50 + b*5 // writers 0 and 2, 1 and 3 store the same
				var es []Entry
				for i := lo; i < lo+5; i++ {
					es = append(es, Entry{Key: keyN(i), Payload: payloadN(i)})
				}
				if err := c.Store(context.Background(), es); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	c, _ := testCache(t, dir, ModeRead, nil)
	if c.Entries() != 100 {
		t.Fatalf("%d entries, want 100", c.Entries())
	}
	got, err := c.Lookup(context.Background(), keys(0, 100))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range got {
		if !bytes.Equal(p, payloadN(i)) {
			t.Fatalf("entry %d: %q", i, p)
		}
	}
}

func TestACorruptIndexIsIgnoredWithAWarning(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "cache")
	w, _ := testCache(t, dir, ModeReadWrite, nil)
	fill(t, w, 0, 10)
	fill(t, w, 10, 20)
	idx, err := filepath.Glob(filepath.Join(dir, "v1", "index", "*.idx"))
	if err != nil || len(idx) != 2 {
		t.Fatalf("indexes %v, %v", idx, err)
	}
	b, _ := os.ReadFile(idx[0])
	b[10] ^= 0x80
	os.WriteFile(idx[0], b, 0o644)
	c, log := testCache(t, dir, ModeRead, nil)
	if c.Entries() != 10 {
		t.Fatalf("%d entries, want the 10 of the good index", c.Entries())
	}
	if !strings.Contains(log.String(), "index that does not check") || !strings.Contains(log.String(), idx[0]) {
		t.Fatalf("no warning names %s:\n%s", idx[0], log)
	}
}

func TestModes(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "read", "write", "readwrite"} {
		if _, err := ParseMode(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	if _, err := ParseMode("rw"); err == nil || !strings.Contains(err.Error(), "want read, write or readwrite") {
		t.Errorf("rw: %v", err)
	}
}
