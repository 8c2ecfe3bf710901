package binstage

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// bases are the two stores every round trip runs against: the fake Cloud
// Storage and a local directory.
func bases(t *testing.T) map[string]string {
	return map[string]string{
		"gcs":   "gs://" + bucket + "/team/pricer",
		"local": "file://" + filepath.Join(t.TempDir(), "published") + "/pricer",
	}
}

func TestPushListFetch(t *testing.T) {
	t.Parallel()
	for name, base := range bases(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			v1, sum1 := script(t, "one", "")
			v2, sum2 := script(t, "two", "")
			start := time.Now().UTC().Truncate(time.Second)
			m, err := Push(context.Background(), v1, base+"@1.0.0", &PushOptions{Store: e.store, Revision: "abc123"})
			if err != nil {
				t.Fatal(err)
			}
			if m.SHA256 != sum1 || m.URI != base+"@1.0.0" || m.Size == 0 || m.Platform != "" || m.Created.Before(start) {
				t.Errorf("push returned %+v", m)
			}
			if _, err := Push(context.Background(), v2, base+"@1.1.0", &PushOptions{Store: e.store}); err != nil {
				t.Fatal(err)
			}

			vs, err := List(context.Background(), base, &e.store)
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != 2 || vs[0].Version != "1.0.0" || vs[0].SHA256 != sum1 || vs[0].Revision != "abc123" ||
				vs[1].Version != "1.1.0" || vs[1].SHA256 != sum2 {
				t.Fatalf("list: %+v", vs)
			}

			s, err := e.cache.Stage(context.Background(), base+"@1.1.0", e.opts(""))
			if err != nil {
				t.Fatal(err)
			}
			want := Staged{Path: filepath.Join(e.cache.Dir, sum2), Source: base + "@1.1.0", SHA256: sum2, Version: "1.1.0", Size: vs[1].Size}
			if *s != want {
				t.Errorf("staged %+v, want %+v", *s, want)
			}
			if got := fileSHA(t, s.Path); got != sum2 {
				t.Errorf("cached copy has sha256 %s", got)
			}
			if st, err := os.Stat(s.Path); err != nil || st.Mode().Perm() != 0o500 {
				t.Errorf("cached copy: %v, %v", st.Mode(), err)
			}
			if out := run(t, s); out != "two x" {
				t.Errorf("ran %q", out)
			}
			// With the pin that matches the manifest.
			if _, err := e.cache.Stage(context.Background(), base+"@1.0.0", e.opts(strings.ToUpper(sum1))); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The manifest is plain JSON a person or another tool can read.
func TestManifestLayout(t *testing.T) {
	t.Parallel()
	e := setup(t)
	bin, sum := script(t, "one", "")
	if _, err := Push(context.Background(), bin, "gs://bins/team/pricer@1.4.2", &PushOptions{Store: e.store, Platform: "linux/arm64"}); err != nil {
		t.Fatal(err)
	}
	body, _ := os.ReadFile(bin)
	if got := e.gcs.Get(bucket, "team/pricer/1.4.2/pricer"); string(got) != string(body) {
		t.Errorf("binary object holds %q", got)
	}
	var m map[string]any
	if err := json.Unmarshal(e.gcs.Get(bucket, "team/pricer/1.4.2/manifest.json"), &m); err != nil {
		t.Fatal(err)
	}
	if m["name"] != "pricer" || m["version"] != "1.4.2" || m["sha256"] != sum || m["size"] != float64(len(body)) ||
		m["platform"] != "linux/arm64" || m["created"] == nil {
		t.Errorf("manifest %v", m)
	}
}

func TestPushRefusesOverwrite(t *testing.T) {
	t.Parallel()
	for name, base := range bases(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			v1, sum1 := script(t, "one", "")
			v2, _ := script(t, "two", "")
			if _, err := Push(context.Background(), v1, base+"@1.0.0", &PushOptions{Store: e.store}); err != nil {
				t.Fatal(err)
			}
			_, err := Push(context.Background(), v2, base+"@1.0.0", &PushOptions{Store: e.store})
			var se *StoreError
			if !errors.As(err, &se) || se.Code != AlreadyExists || !errors.Is(err, fs.ErrExist) {
				t.Fatalf("second push: %v", err)
			}
			s, err := e.cache.Stage(context.Background(), base+"@1.0.0", e.opts(""))
			if err != nil || s.SHA256 != sum1 || run(t, s) != "one x" {
				t.Fatalf("after a refused push: %+v, %v", s, err)
			}
		})
	}
}

// Pushes racing for one version: the store's no-overwrite write, not a
// check before it, lets exactly one win, and the winner's manifest
// describes the bytes that were published.
func TestConcurrentPushesOneWins(t *testing.T) {
	t.Parallel()
	for name, base := range bases(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			const n = 8
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				won  []*Manifest
				errs []error
			)
			bins := make([]string, n)
			for i := range n {
				bins[i], _ = script(t, "v"+string(rune('a'+i)), "")
			}
			for i := range n {
				wg.Go(func() {
					m, err := Push(context.Background(), bins[i], base+"@2.0.0", &PushOptions{Store: e.store})
					mu.Lock()
					defer mu.Unlock()
					if err == nil {
						won = append(won, m)
					} else if !errors.Is(err, fs.ErrExist) {
						errs = append(errs, err)
					}
				})
			}
			wg.Wait()
			if len(won) != 1 || len(errs) > 0 {
				t.Fatalf("%d pushes won, unexpected errors %v", len(won), errs)
			}
			s, err := e.cache.Stage(context.Background(), base+"@2.0.0", e.opts(won[0].SHA256))
			if err != nil {
				t.Fatal(err)
			}
			run(t, s)
		})
	}
}

// A binary left without a manifest (an interrupted push) is never
// replaced: the same bytes complete the push, other bytes are refused.
func TestPushOverInterruptedPush(t *testing.T) {
	t.Parallel()
	e := setup(t)
	v1, sum1 := script(t, "one", "")
	v2, sum2 := script(t, "two", "")
	body, _ := os.ReadFile(v1)
	e.gcs.Put(bucket, "team/pricer/1.0.0/pricer", body)

	_, err := Push(context.Background(), v2, "gs://bins/team/pricer@1.0.0", &PushOptions{Store: e.store})
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), sum1) || !strings.Contains(err.Error(), sum2) {
		t.Fatalf("push of other bytes: %v", err)
	}
	if got := e.gcs.Get(bucket, "team/pricer/1.0.0/pricer"); string(got) != string(body) {
		t.Fatal("the binary object was replaced")
	}
	if _, err := Push(context.Background(), v1, "gs://bins/team/pricer@1.0.0", &PushOptions{Store: e.store}); err != nil {
		t.Fatalf("push of the same bytes: %v", err)
	}
}

func TestTamperedObjectRefused(t *testing.T) {
	t.Parallel()
	for name, base := range bases(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			marker := filepath.Join(t.TempDir(), "ran")
			bin, sum := script(t, "good", marker)
			if _, err := Push(context.Background(), bin, base+"@1.0.0", &PushOptions{Store: e.store}); err != nil {
				t.Fatal(err)
			}
			evil, evilSum := script(t, "evil", marker)
			tamper(t, e, base, "pricer/1.0.0/pricer", evil)

			s, err := e.cache.Stage(context.Background(), base+"@1.0.0", e.opts(""))
			var mm *MismatchError
			if !errors.As(err, &mm) || mm.Want != sum || mm.Got != evilSum || mm.Manifest {
				t.Fatalf("staged %+v, err %v", s, err)
			}
			if msg := err.Error(); !strings.Contains(msg, sum) || !strings.Contains(msg, evilSum) {
				t.Errorf("message does not name both hashes: %s", msg)
			}
			if name == "gcs" {
				// Fetched, found wrong, fetched once more, refused.
				if n := e.gcs.Downloads(bucket, "team/pricer/1.0.0/pricer"); n != 2 {
					t.Errorf("%d downloads, want 2", n)
				}
			}
			entries, _ := os.ReadDir(e.cache.Dir)
			for _, d := range entries {
				if !strings.HasPrefix(d.Name(), ".lock-") {
					t.Errorf("cache holds %s", d.Name())
				}
			}
			if _, err := os.Stat(marker); !errors.Is(err, fs.ErrNotExist) {
				t.Error("the tampered binary ran")
			}
		})
	}
}

// tamper replaces the bytes of a published object behind the store's back.
func tamper(t *testing.T, e *env, base, key, from string) {
	t.Helper()
	body, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := parseRef(base)
	if r.scheme == "gs" {
		e.gcs.Put(r.bucket, r.dir+key, body)
		return
	}
	path := filepath.Join(r.dir, key)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPinDisagreesWithManifest(t *testing.T) {
	t.Parallel()
	e := setup(t)
	bin, sum := script(t, "one", "")
	if _, err := Push(context.Background(), bin, "gs://bins/team/pricer@1.0.0", &PushOptions{Store: e.store}); err != nil {
		t.Fatal(err)
	}
	pin := strings.Repeat("ab", 32)
	_, err := e.cache.Stage(context.Background(), "gs://bins/team/pricer@1.0.0", e.opts(pin))
	var mm *MismatchError
	if !errors.As(err, &mm) || !mm.Manifest || mm.Want != pin || mm.Got != sum {
		t.Fatalf("err %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, pin) || !strings.Contains(msg, sum) {
		t.Errorf("message does not name both hashes: %s", msg)
	}
	if n := e.gcs.Downloads(bucket, "team/pricer/1.0.0/pricer"); n != 0 {
		t.Errorf("%d downloads of a refused binary", n)
	}
}

func TestCorruptCacheRepaired(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, sum, ref, s := stagePublished(t, e)
	if err := os.Chmod(s.Path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path, []byte("#!/bin/sh\necho corrupt\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := e.cache.Stage(context.Background(), ref, e.opts(""))
	if err != nil {
		t.Fatal(err)
	}
	if got := fileSHA(t, s.Path); got != sum || run(t, s) != "good x" {
		t.Errorf("after repair: sha256 %s, output %q", got, run(t, s))
	}
	if n := e.gcs.Downloads(bucket, "team/pricer/1.0.0/pricer"); n != 2 {
		t.Errorf("%d downloads, want 2", n)
	}
	// A verified copy is used as it is.
	if _, err := e.cache.Stage(context.Background(), ref, e.opts("")); err != nil {
		t.Fatal(err)
	}
	if n := e.gcs.Downloads(bucket, "team/pricer/1.0.0/pricer"); n != 2 {
		t.Errorf("%d downloads, want 2", n)
	}
}

func TestGoroutinesFetchOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	bin, sum := script(t, "shared", "")
	ref := "gs://bins/team/pricer@3.0.0"
	if _, err := Push(context.Background(), bin, ref, &PushOptions{Store: e.store}); err != nil {
		t.Fatal(err)
	}
	const n = 16
	start := make(chan struct{})
	outs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			s, err := e.cache.Stage(context.Background(), ref, e.opts(""))
			if err != nil {
				errs[i] = err
				return
			}
			out, err := exec.Command(s.Path, "x").Output()
			outs[i], errs[i] = strings.TrimSpace(string(out)), err
			if s.SHA256 != sum {
				errs[i] = errors.New("wrong hash " + s.SHA256)
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || outs[i] != "shared x" {
			t.Errorf("goroutine %d: %q, %v", i, outs[i], errs[i])
		}
	}
	if got := e.gcs.Downloads(bucket, "team/pricer/3.0.0/pricer"); got != 1 {
		t.Errorf("%d downloads, want 1", got)
	}
}

// Processes share the machine's cache: four processes staging one
// version at once download it once, and all run it.
func TestProcessesFetchOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	bin, _ := script(t, "shared", "")
	ref := "gs://bins/team/pricer@3.0.0"
	if _, err := Push(context.Background(), bin, ref, &PushOptions{Store: e.store}); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	type proc struct {
		cmd         *exec.Cmd
		out, stderr strings.Builder
	}
	procs := make([]*proc, n)
	var gates []interface{ Close() error }
	for i := range procs {
		p := &proc{cmd: exec.Command(exe)}
		// Under -race, a Go program sleeps a second at exit unless told not to.
		p.cmd.Env = append(os.Environ(), "BINSTAGE_HELPER=1", "GORACE=atexit_sleep_ms=0",
			"STORAGE_EMULATOR_HOST="+e.gcs.Host(), "REF="+ref, "CACHE="+e.cache.Dir)
		p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.stderr
		gate, err := p.cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		gates = append(gates, gate)
		procs[i] = p
	}
	for _, g := range gates {
		g.Close() // all four stage at once
	}
	for i, p := range procs {
		if err := p.cmd.Wait(); err != nil || strings.TrimSpace(p.out.String()) != "shared helper" {
			t.Errorf("process %d: %v, output %q, stderr %s", i, err, p.out.String(), p.stderr.String())
		}
	}
	if got := e.gcs.Downloads(bucket, "team/pricer/3.0.0/pricer"); got != 1 {
		t.Errorf("%d downloads, want 1", got)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for _, ref := range []string{"gs://bins/team/pricer@9.9.9", "gs://no-such-bucket/pricer@1.0"} {
		start := time.Now()
		_, err := e.cache.Stage(context.Background(), ref, e.opts(""))
		var se *StoreError
		if !errors.As(err, &se) || se.Code != NotFound || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s: %v", ref, err)
		}
		if !strings.Contains(err.Error(), "is not published") || !strings.Contains(err.Error(), ref) {
			t.Errorf("unclear message: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v", ref, d)
		}
	}
	if _, err := List(context.Background(), "gs://no-such-bucket/pricer", &e.store); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("list of a missing bucket: %v", err)
	}
	vs, err := List(context.Background(), "gs://bins/nothing/here", &e.store)
	if err != nil || len(vs) != 0 {
		t.Errorf("list of nothing: %v, %v", vs, err)
	}
}

// An endpoint that refuses connections fails after the configured retries;
// one that accepts and never answers fails at the timeout. Both are quick
// and say the endpoint is unreachable.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	refused := freeAddr(t)
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c // held open, never answered
		}
	}()
	t.Cleanup(func() {
		silent.Close()
		for c := range accepted {
			c.Close()
		}
	})
	for _, tc := range []struct {
		name, addr string
		store      StoreOptions
	}{
		{"refused", refused, StoreOptions{}}, // the default retries
		{"silent", silent.Addr().String(), StoreOptions{Timeout: 300 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.store.Client = clientFor(t, tc.addr)
			start := time.Now()
			_, err := (&Cache{Dir: t.TempDir()}).Stage(context.Background(), "gs://bins/pricer@1.0", &Options{Store: tc.store})
			var se *StoreError
			if !errors.As(err, &se) || se.Code != Unreachable || !strings.Contains(err.Error(), "unreachable") {
				t.Fatalf("err %v", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			t.Logf("failed in %v: %v", time.Since(start).Round(time.Millisecond), err)
		})
	}
}

func TestTransientErrorsRetried(t *testing.T) {
	t.Parallel()
	e := setup(t)
	bin, _ := script(t, "one", "")
	ref := "gs://bins/team/pricer@1.0.0"
	if _, err := Push(context.Background(), bin, ref, &PushOptions{Store: e.store}); err != nil {
		t.Fatal(err)
	}
	e.gcs.FailNext(3) // the default allows four attempts
	s, err := e.cache.Stage(context.Background(), ref, e.opts(""))
	if err != nil {
		t.Fatal(err)
	}
	run(t, s)

	e.gcs.FailNext(2)
	store := e.store
	store.Attempts = 2
	_, err = (&Cache{Dir: t.TempDir()}).Stage(context.Background(), ref, &Options{Store: store})
	var se *StoreError
	if !errors.As(err, &se) || se.Code != Unknown || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err %v", err)
	}
}

func TestWrongPlatformRefused(t *testing.T) {
	t.Parallel()
	e := setup(t)
	bin, _ := script(t, "one", "")
	other := "linux/arm64"
	if runtime.GOARCH == "arm64" {
		other = "linux/amd64"
	}
	ref := "gs://bins/team/pricer@1.0.0"
	if _, err := Push(context.Background(), bin, ref, &PushOptions{Store: e.store, Platform: other}); err != nil {
		t.Fatal(err)
	}
	_, err := e.cache.Stage(context.Background(), ref, e.opts(""))
	if err == nil || !strings.Contains(err.Error(), "built for "+other) {
		t.Fatalf("err %v", err)
	}
}

// The platform of a real executable is read from its ELF header.
func TestELFPlatform(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := elfPlatform(f); runtime.GOOS == "linux" && got != hostPlatform() {
		t.Errorf("platform %q, want %q", got, hostPlatform())
	}
}

func TestLocalFile(t *testing.T) {
	t.Parallel()
	bin, sum := script(t, "local", "")
	cache := &Cache{Dir: t.TempDir()}
	for _, ref := range []string{bin, "file://" + bin} {
		s, err := cache.Stage(context.Background(), ref, nil)
		if err != nil {
			t.Fatal(err)
		}
		if s.SHA256 != sum || s.Source != ref || s.Version != "" || run(t, s) != "local x" {
			t.Errorf("%s: %+v", ref, s)
		}
	}
	pin := strings.Repeat("0", 64)
	_, err := cache.Stage(context.Background(), bin, &Options{SHA256: pin})
	var mm *MismatchError
	if !errors.As(err, &mm) || mm.Want != pin || mm.Got != sum {
		t.Fatalf("err %v", err)
	}
}

func TestParseRef(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in                           string
		bucket, dir, name, ver, file string
		canon                        string
	}{
		{in: "gs://b/bins/pricer@1.4.2", bucket: "b", dir: "bins/", name: "pricer", ver: "1.4.2", canon: "gs://b/bins/pricer@1.4.2"},
		{in: "gs://b/pricer@v2+build.1", bucket: "b", name: "pricer", ver: "v2+build.1", canon: "gs://b/pricer@v2+build.1"},
		{in: "gs://b/bins/pricer", bucket: "b", dir: "bins/", name: "pricer", canon: "gs://b/bins/pricer"},
		{in: "file:///srv/bins/pricer@1.0", dir: "/srv/bins", name: "pricer", ver: "1.0", canon: "file:///srv/bins/pricer@1.0"},
		{in: "file:///srv/bins/pricer", dir: "/srv/bins", name: "pricer", file: "/srv/bins/pricer", canon: "file:///srv/bins/pricer"},
		{in: "file://bin/pricer", dir: "bin", name: "pricer", file: "bin/pricer", canon: "file://bin/pricer"},
		{in: "bin/pricer@1.0", file: "bin/pricer@1.0", canon: "bin/pricer@1.0"},
	} {
		r, err := parseRef(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if r.bucket != tc.bucket || r.dir != tc.dir || r.name != tc.name || r.version != tc.ver || r.file != tc.file || r.String() != tc.canon {
			t.Errorf("%s: parsed %+v, canonical %s", tc.in, r, r.String())
		}
	}
	for _, bad := range []string{"", "gs://", "gs://b", "gs://b/", "gs://b/x/../pricer@1", "gs://b//pricer@1", "gs://b/pricer@", "gs://b/pri cer@1", "file://"} {
		var re *RefError
		if _, err := parseRef(bad); !errors.As(err, &re) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Staged paths are run from other working directories, so a relative
// cache directory is made absolute.
func TestCacheDirAbsolute(t *testing.T) {
	t.Parallel()
	d, err := cacheDir("rel/cache")
	if err != nil || !filepath.IsAbs(d) || !strings.HasSuffix(d, "/rel/cache") {
		t.Errorf("cacheDir: %q, %v", d, err)
	}
}

// stagePublished publishes a good binary as version 1.0.0 and stages it,
// returning the binary, its sha256, its reference and the staged copy.
func stagePublished(t *testing.T, e *env) (bin, sum, ref string, s *Staged) {
	t.Helper()
	bin, sum = script(t, "good", "")
	ref = "gs://bins/team/pricer@1.0.0"
	if _, err := Push(context.Background(), bin, ref, &PushOptions{Store: e.store}); err != nil {
		t.Fatal(err)
	}
	s, err := e.cache.Stage(context.Background(), ref, e.opts(""))
	if err != nil {
		t.Fatal(err)
	}
	return bin, sum, ref, s
}
