package wrapper

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// imageOf copies the test binary to a file of its own, as a cache would
// hold it, and returns that file's path, an Image of it named name, and
// the sha256 of the bytes copied.
func imageOf(t *testing.T, name string) (string, *Image, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "0123abcd")
	if err := os.WriteFile(path, data, 0o500); err != nil {
		t.Fatal(err)
	}
	im, err := OpenImage(path, &ImageOptions{Name: name, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { im.Close() })
	sum := sha256.Sum256(data)
	return path, im, hex.EncodeToString(sum[:])
}

// tamper replaces the file at path with a script that leaves a marker, and
// returns the marker's path.
func tamper(t *testing.T, path string) string {
	t.Helper()
	marker := filepath.Join(t.TempDir(), "tampered")
	script := "#!/bin/sh\ntouch " + marker + "\n"
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return marker
}

func assertNoMarker(t *testing.T, marker string) {
	t.Helper()
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the replaced file ran")
	}
}

// The bytes hashed are the bytes that run, whatever happens to the file
// afterwards: calls, calls under limits (through the trampoline), a
// persistent worker, and a describe all run the sealed copy.
func TestAnImageRunsTheBytesItSealedNotTheFile(t *testing.T) {
	t.Parallel()
	path, im, want := imageOf(t, "pricer")
	if im.SHA256() != want {
		t.Fatalf("image sha256 %s, the file's was %s", im.SHA256(), want)
	}
	marker := tamper(t, path)

	bin := fake(t, "ok")
	bin.Path, bin.Image = path, im
	for _, limits := range []*Limits{nil, {OpenFiles: 200}} {
		out, err := run(t, bin, batchOf(3), &Options{Limits: limits})
		if err != nil {
			t.Fatalf("limits %v: %v", limits, err)
		}
		if got := ids(out.Results); !slices.Equal(got, []string{"e000", "e001", "e002"}) {
			t.Fatalf("limits %v: results %v", limits, got)
		}
	}
	// Under the trampoline the binary still gets exactly its environment.
	env := fake(t, "env")
	env.Path, env.Image = path, im
	out, err := run(t, env, batchOf(1), &Options{Limits: &Limits{OpenFiles: 200}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(out.Results[0].GetPayload())); !slices.Equal(got, env.Env) {
		t.Fatalf("environment %q, want %q", got, env.Env)
	}

	w, err := StartWorker(Binary{Path: path, Image: im, Env: fake(t, "serve").Env}, &Options{LogDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { w.Close(false); assertGone(t, w.proc.pid) }()
	wc, err := w.Start(context.Background(), batchOf(2))
	if err != nil {
		t.Fatal(err)
	}
	if wout, err := wc.Wait(); err != nil || len(wout.Results) != 2 {
		t.Fatalf("worker: %v, %+v", err, wout)
	}
	assertNoMarker(t, marker)
}

// ps, pgrep and /proc show the binary's name, not a hash or a descriptor
// number, and the binary does not inherit the image's descriptors.
func TestAProcessFromAnImageBearsTheBinarysName(t *testing.T) {
	t.Parallel()
	path, im, _ := imageOf(t, "pricer-fake")
	bin := fake(t, "hang")
	bin.Path, bin.Image = path, im
	c, err := Start(context.Background(), bin, batchOf(1), &Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		c.Kill()
		c.Wait()
		assertGone(t, c.proc.pid)
	}()
	proc := filepath.Join("/proc", strconv.Itoa(c.proc.pid))
	// Until the exec completes the child is a copy of this runner; the
	// name changes at the exec.
	var comm string
	waitFor(t, func() bool {
		b, err := os.ReadFile(filepath.Join(proc, "comm"))
		comm = strings.TrimSpace(string(b))
		return err == nil && comm == "pricer-fake"
	})
	if exe, err := os.Readlink(filepath.Join(proc, "exe")); err != nil || exe != "/memfd:pricer-fake (deleted)" {
		t.Fatalf("exe %q (%v), want the sealed copy", exe, err)
	}
	cmdline, _ := os.ReadFile(filepath.Join(proc, "cmdline"))
	if argv0, _, _ := strings.Cut(string(cmdline), "\x00"); argv0 != "pricer-fake" {
		t.Fatalf("argv[0] %q, want the binary's name", argv0)
	}
	fds, err := os.ReadDir(filepath.Join(proc, "fd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if target, _ := os.Readlink(filepath.Join(proc, "fd", fd.Name())); strings.Contains(target, "memfd:") || strings.Contains(target, "gridrun-exec-") {
			t.Fatalf("the binary inherited fd %s -> %s", fd.Name(), target)
		}
	}
}

func TestAnImageRefusesASymlinkAndAClosedImageStartsNothing(t *testing.T) {
	t.Parallel()
	path, im, _ := imageOf(t, "pricer")
	link := filepath.Join(t.TempDir(), "pricer")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenImage(link, nil); err == nil || !strings.Contains(err.Error(), link+" is a symbolic link") {
		t.Fatalf("OpenImage of a symlink: %v", err)
	}

	im.Close()
	bin := fake(t, "ok")
	bin.Path, bin.Image = path, im
	if _, err := run(t, bin, batchOf(1), nil); !errors.Is(err, ErrImageClosed) {
		t.Fatalf("call from a closed image: %v, want ErrImageClosed", err)
	}
	if _, err := Describe(context.Background(), bin); !errors.Is(err, ErrImageClosed) {
		t.Fatalf("describe from a closed image: %v, want ErrImageClosed", err)
	}
	if _, err := StartWorker(bin, &Options{LogDir: t.TempDir()}); !errors.Is(err, ErrImageClosed) {
		t.Fatalf("worker from a closed image: %v, want ErrImageClosed", err)
	}
}

// BenchmarkStart compares a call started from an Image with one started
// from the file's path.
func BenchmarkStart(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	im, err := OpenImage(exe, &ImageOptions{Name: "pricer", Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer im.Close()
	for _, bc := range []struct {
		name string
		im   *Image
	}{{"path", nil}, {"image", im}} {
		b.Run(bc.name, func(b *testing.B) {
			bin := Binary{Path: exe, Image: bc.im, Env: []string{"FAKE_BINARY=ok", "GORACE=atexit_sleep_ms=0"}}
			dir := b.TempDir()
			for b.Loop() {
				if _, err := Run(context.Background(), bin, batchOf(1), &Options{Dir: dir}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A script's interpreter reads the script by the path it was started
// from: it reads the sealed copy too.
func TestAScriptImageRunsTheSealedScript(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "wrapper.sh")
	out := filepath.Join(dir, "out")
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho sealed > \"$OUT\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	im, err := OpenImage(path, &ImageOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	marker := tamper(t, path)
	// The script writes no results: the call fails, after it ran.
	run(t, Binary{Path: path, Image: im, Env: []string{"OUT=" + out}}, batchOf(1), nil)
	if b, err := os.ReadFile(out); err != nil || string(b) != "sealed\n" {
		t.Fatalf("the script wrote %q (%v)", b, err)
	}
	assertNoMarker(t, marker)
}

// Describe starts a script image through the trampoline too.
func TestDescribeRunsAScriptImage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "describe.sh")
	out := filepath.Join(dir, "out")
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho \"$1\" > \"$OUT\"\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	im, err := OpenImage(path, &ImageOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	_, err = Describe(context.Background(), Binary{Path: path, Image: im, Env: []string{"OUT=" + out}})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Fatalf("describe: %v, want the script's exit status 3", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "--gridrun-describe\n" {
		t.Fatalf("the script saw %q", b)
	}
}

// The private directory of a runner killed before Close is removed by the
// next image made there; a live runner's is left alone.
func TestImageDirsOfDeadRunnersAreSwept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A child that has exited and been reaped: its pid is no process.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(dir, fmt.Sprintf("gridrun-exec-%d-123", cmd.Process.Pid))
	live := filepath.Join(dir, fmt.Sprintf("gridrun-exec-%d-456", os.Getpid()))
	for _, d := range []string{dead, live} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("/proc/self/fd/100", filepath.Join(d, "pricer")); err != nil {
			t.Fatal(err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	im, err := OpenImage(exe, &ImageOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a dead runner's directory is still there: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live runner's directory was removed: %v", err)
	}
	im.Close()
	if left, _ := filepath.Glob(filepath.Join(dir, "gridrun-exec-*")); len(left) != 1 {
		t.Errorf("after Close: %v, want only the live runner's", left)
	}
}
