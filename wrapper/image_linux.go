package wrapper

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Image is a binary's bytes, copied once into memory the runner owns,
// sealed there and hashed from that copy. Every process started from a
// Binary with an Image runs exactly these bytes: a file replaced, or a
// symbolic link retargeted, after OpenImage returned changes nothing.
//
// The bytes live in a sealed memfd(2) (no write, shrink or grow, ever),
// reopened read-only so that exec never meets ETXTBSY. The runner does not
// exec "/proc/self/fd/N" itself, because the kernel names a process after
// the last element of the path it was started from, and ps and pgrep
// would show "N". Instead it execs /proc/self/fd/D/NAME: D is a
// descriptor the runner holds on a private directory (mode 0700, made by
// OpenImage) whose one entry, NAME, is a symbolic link to
// /proc/self/fd/N. ps shows NAME, /proc/PID/exe shows
// "memfd:NAME (deleted)", and both lookups go through descriptors the
// runner holds, into bytes no one can change. The cost is one lookup of
// a symbolic link per exec: no extra process (execveat(2) would need the
// runner's executable started in between, as a trampoline, for every call).
//
// A script ("#!") is the exception to the rule that the binary inherits
// no descriptor of the image: its interpreter opens the script by the
// path it was started from, so a script starts through the runner's own
// executable (as under Limits), which leaves the two read-only descriptors
// open for the interpreter, at the numbers the path names.
//
// An Image is safe for concurrent use. Close releases it; a Binary whose
// Image is closed fails to start with ErrImageClosed, and never falls back
// to its Path.
type Image struct {
	name   string
	sha256 string
	size   int64
	script bool // starts with "#!"

	// mu is read-held while a process starts from the image, so that
	// Close cannot free the descriptor numbers a fork is about to use.
	mu  sync.RWMutex
	mem *os.File // the sealed bytes, read-only; nil once closed
	dir *os.File // the private directory, O_PATH
	// memFD and dirFD are their descriptor numbers, which the exec path
	// and the symbolic link name.
	memFD, dirFD int
	tmp          string // the private directory's path, removed by Close
	path         string // /proc/self/fd/D/NAME
}

// ErrImageClosed reports a start from an Image after its Close.
var ErrImageClosed = errors.New("the binary's verified copy is closed; nothing was started")

// ImageOptions configure OpenImage. The zero value is usable.
type ImageOptions struct {
	// Name is the binary's name, shown by ps and given as argv[0].
	// Defaults to the last element of the path.
	Name string
	// Dir is where the private directory is made. Defaults to
	// os.TempDir().
	Dir string
}

// imageFD is the lowest descriptor number an image's descriptors get.
// Between fork and exec, os/exec moves the child's standard and extra
// files into 0, 1, 2, 3, ... and may park them just above; a descriptor
// the exec path names must stay out of that range.
const imageFD = 100

// OpenImage copies the executable at path, a regular file (never a
// symbolic link), into a sealed Image and hashes the copy. Compare
// Image.SHA256 with the expected hash before starting anything from it.
func OpenImage(path string, opts *ImageOptions) (_ *Image, err error) {
	var o ImageOptions
	if opts != nil {
		o = *opts
	}
	name := o.Name
	if name == "" {
		name = filepath.Base(path)
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return nil, fmt.Errorf("binary %s: %q cannot name a process", path, name)
	}
	src, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("binary %s is a symbolic link: gridrun runs only a regular file it copied and verified; remove the link and stage the binary again", path)
		}
		return nil, fmt.Errorf("binary %s: %w", path, err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return nil, fmt.Errorf("binary %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("binary %s: not a regular file", path)
	}
	if st.Mode().Perm()&0o100 == 0 {
		return nil, fmt.Errorf("binary %s: not executable (mode %v); chmod +x it", path, st.Mode().Perm())
	}

	im := &Image{name: name}
	defer func() {
		if err != nil {
			im.Close()
		}
	}()
	if im.mem, err = sealedMemfd(src, name); err != nil {
		return nil, fmt.Errorf("binary %s: sealed copy: %w", path, err)
	}
	// The hash is of the sealed copy, read back: the bytes that will run.
	h := sha256.New()
	if im.size, err = io.Copy(h, io.NewSectionReader(im.mem, 0, 1<<62)); err != nil {
		return nil, fmt.Errorf("binary %s: hash the sealed copy: %w", path, err)
	}
	im.sha256 = hex.EncodeToString(h.Sum(nil))
	var magic [2]byte
	_, _ = im.mem.ReadAt(magic[:], 0)
	im.script = string(magic[:]) == "#!"
	im.memFD = int(im.mem.Fd())

	sweepImageDirs(o.Dir)
	if im.tmp, err = os.MkdirTemp(o.Dir, imageDirPrefix+strconv.Itoa(os.Getpid())+"-*"); err != nil {
		return nil, err
	}
	link := filepath.Join(im.tmp, name)
	if err := os.Symlink("/proc/self/fd/"+strconv.Itoa(im.memFD), link); err != nil {
		return nil, err
	}
	dfd, err := unix.Open(im.tmp, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: im.tmp, Err: err}
	}
	if im.dir, err = highFD(dfd, im.tmp); err != nil {
		return nil, err
	}
	im.dirFD = int(im.dir.Fd())
	im.path = "/proc/self/fd/" + strconv.Itoa(im.dirFD) + "/" + name
	// Without /proc (a sandbox that hides it) nothing could start: say so
	// now, once, rather than on every call.
	var want, got unix.Stat_t
	if err := unix.Fstat(im.memFD, &want); err != nil {
		return nil, err
	}
	if err := unix.Stat(im.path, &got); err != nil || got.Dev != want.Dev || got.Ino != want.Ino {
		return nil, fmt.Errorf("binary %s: cannot reach its sealed copy through /proc/self/fd (is /proc mounted?): %v", path, err)
	}
	return im, nil
}

// imageDirPrefix starts the name of an image's private directory, followed
// by the pid of the runner that made it.
const imageDirPrefix = "gridrun-exec-"

// sweepImageDirs removes the private directories in dir of runners that
// are gone (killed before their Close): each holds one dangling link. A
// reused pid only delays the removal; another user's are not ours to
// remove, and fail to.
func sweepImageDirs(dir string) {
	dirs, _ := filepath.Glob(filepath.Join(cmp.Or(dir, os.TempDir()), imageDirPrefix+"*-*"))
	for _, d := range dirs {
		pid, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(d), imageDirPrefix), "-")
		if _, err := strconv.Atoi(pid); err != nil || !ok {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); errors.Is(err, fs.ErrNotExist) {
			os.RemoveAll(d)
		}
	}
}

// sealedMemfd copies src into a new memfd named name, seals it against
// any change, and returns it reopened read-only at a high descriptor. The
// writable descriptor is closed before the image is used: exec refuses a
// file open for writing (ETXTBSY), and a child forked meanwhile by another
// goroutine holds its copy only until its own exec (CLOEXEC).
func sealedMemfd(src io.Reader, name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	w := os.NewFile(uintptr(fd), "memfd:"+name)
	defer w.Close()
	if _, err := io.Copy(w, src); err != nil {
		return nil, err
	}
	if err := unix.Fchmod(fd, 0o500); err != nil {
		return nil, err
	}
	seals := unix.F_SEAL_WRITE | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	rfd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("reopen read-only: %w", err)
	}
	return highFD(rfd, "memfd:"+name)
}

// highFD moves fd to the lowest free number at or above imageFD, closing
// the original, and keeps it close-on-exec.
func highFD(fd int, name string) (*os.File, error) {
	defer unix.Close(fd)
	hi, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, imageFD)
	if err != nil {
		return nil, fmt.Errorf("%s: move descriptor: %w", name, err)
	}
	return os.NewFile(uintptr(hi), name), nil
}

// Name is the binary's name, its argv[0].
func (im *Image) Name() string { return im.name }

// SHA256 is the hex hash of the sealed bytes.
func (im *Image) SHA256() string { return im.sha256 }

// Size is the length of the sealed bytes.
func (im *Image) Size() int64 { return im.size }

// Close releases the image once the processes started from it are
// running; they keep their own reference to the bytes.
func (im *Image) Close() error {
	im.mu.Lock()
	defer im.mu.Unlock()
	for _, f := range []*os.File{im.dir, im.mem} {
		if f != nil {
			f.Close()
		}
	}
	im.dir, im.mem = nil, nil
	if im.tmp != "" {
		os.RemoveAll(im.tmp)
		im.tmp = ""
	}
	return nil
}

// execTarget is how to start a binary: what execve is given.
type execTarget struct {
	path  string
	argv0 string
	env   []string
}

// startBinary starts the command newCmd makes for bin, under limits l. A
// Binary with an Image starts from it, read-locked through the fork and
// exec; a closed Image fails with ErrImageClosed.
func startBinary(bin Binary, l *Limits, newCmd func(t execTarget) *exec.Cmd) (*exec.Cmd, error) {
	t := execTarget{path: bin.Path, argv0: bin.Path, env: append([]string{}, bin.Env...)}
	if im := bin.Image; im != nil {
		im.mu.RLock()
		defer im.mu.RUnlock()
		if im.mem == nil {
			return nil, fmt.Errorf("binary %s: %w", im.name, ErrImageClosed)
		}
		t.path, t.argv0 = im.path, im.name
	}
	spec := l.spec()
	im := bin.Image
	script := im != nil && im.script
	trampoline := spec != "" || script
	if trampoline {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("limits: %w", err)
		}
		t.env = append(t.env, trampolineEnv+"="+spec)
		t.path = self
	}
	return startRetryingBusy(func() *exec.Cmd {
		cmd := newCmd(t)
		if trampoline && im != nil {
			// The trampoline is a fresh executable: the image's
			// descriptors reach it as extra files, after the command's
			// own, and it moves them back to the numbers the exec path
			// names.
			first := 3 + len(cmd.ExtraFiles)
			keep := "cloexec"
			if script {
				keep = "inherit"
			}
			cmd.ExtraFiles = slices.Concat(cmd.ExtraFiles, []*os.File{im.mem, im.dir})
			cmd.Env = slices.Concat(cmd.Env, []string{fmt.Sprintf("%s=%s;%d:%d,%d:%d;%s", trampolineExecEnv,
				keep, first, im.memFD, first+1, im.dirFD, im.path)})
		}
		return cmd
	})
}
