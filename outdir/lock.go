package outdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gridrun/gridrun/internal/atomicfile"
	"github.com/gridrun/gridrun/jobspec"
)

// LockFile is the output directory's lock: a local job holds an exclusive
// flock(2) on it for its whole life; a Beam job creates it (in Cloud
// Storage, with a does-not-exist precondition) and deletes it at the end.
// It holds its holder's Holder, for the message of a job refused.
const LockFile = StateDir + "/lock"

// Holder says which process holds an output directory's lock.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Started time.Time `json:"started"`
}

// ThisProcess is the Holder a lock taken by this process records.
func ThisProcess() Holder {
	host, _ := os.Hostname() // a name for a message; "" is said as such
	return Holder{PID: os.Getpid(), Host: host, Started: time.Now().UTC().Truncate(time.Second)}
}

func (h Holder) String() string {
	return fmt.Sprintf("gridrun pid %d on %s since %s", h.PID, h.Host, h.Started.Format(time.RFC3339))
}

// DecodeHolder reads a lock file's bytes; a lock file being written reads
// as the zero Holder.
func DecodeHolder(b []byte) Holder {
	var h Holder
	if b := strings.TrimSpace(string(b)); b != "" {
		_ = json.Unmarshal([]byte(b), &h) // a torn write reads as no one
	}
	return h
}

// Encode renders the holder as a lock file's bytes.
func (h Holder) Encode() []byte {
	b, _ := json.Marshal(h) // numbers, strings and a time always marshal
	return append(b, '\n')
}

// InUseError is the error of a job refused an output directory another
// job holds.
type InUseError struct {
	Dir    string
	Holder Holder // zero when the holder had not yet written itself
}

func (e *InUseError) Error() string {
	who := "another gridrun process"
	if e.Holder.PID != 0 {
		who = e.Holder.String()
	}
	return fmt.Sprintf("output directory %s is in use by %s: wait for that job to end, or choose another directory", e.Dir, who)
}

// Lock is a local output directory's lock, held until Unlock or the
// process's death: the kernel releases a flock when its holder dies, so a
// lock left by a killed job is taken by the next one with no cleaning.
type Lock struct {
	f       *os.File
	dir     string
	created bool // the directory did not exist before Lock
}

// TakeLock creates dir (and its StateDir) if need be and takes its lock
// without waiting, before anything else reads or writes the directory: two
// jobs started at the same instant on one new directory cannot both find
// it empty. A directory another process holds is refused with an
// *InUseError inside a *jobspec.Error.
func TakeLock(dir string) (*Lock, error) {
	_, err := os.Stat(dir)
	created := errors.Is(err, os.ErrNotExist)
	if err := os.MkdirAll(filepath.Join(dir, StateDir), 0o755); err != nil {
		return nil, &jobspec.Error{Err: err}
	}
	path := filepath.Join(dir, LockFile)
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, &jobspec.Error{Err: err}
		}
		if err := flock(f); err != nil {
			f.Close()
			if !errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, &jobspec.Error{Err: fmt.Errorf("%s: %w", path, err)}
			}
			return nil, &jobspec.Error{Err: &InUseError{Dir: dir, Holder: readHolder(path)}}
		}
		// The file locked must still be the one at the path: a job that
		// gave up a new directory removes its lock file, and a lock on a
		// removed file excludes no one.
		if same(f, path) {
			l := &Lock{f: f, dir: dir, created: created}
			if err := l.record(); err != nil {
				l.Unlock()
				return nil, &jobspec.Error{Err: err}
			}
			return l, nil
		}
		f.Close()
	}
}

// readHolder reads who holds a lock. A holder writes itself just after it
// takes the lock: one that has not yet is given a moment, for the message.
func readHolder(path string) Holder {
	var h Holder
	for range 50 {
		b, _ := os.ReadFile(path) // a failed read says nothing
		if h = DecodeHolder(b); h.PID != 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	return h
}

func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func same(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// record writes this process into the lock file, in place: the file
// locked is the one others read.
func (l *Lock) record() error {
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	_, err := l.f.WriteAt(ThisProcess().Encode(), 0)
	return err
}

// Unlock releases the lock. The file stays, for the next job to lock.
func (l *Lock) Unlock() {
	if l != nil && l.f != nil {
		// Released explicitly, not by the close: a child forked by another
		// goroutine and not yet exec'd shares the open file, and would
		// hold the lock until its exec.
		syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
		l.f.Close()
		l.f = nil
	}
}

// Abandon releases the lock of a new job that could not start, and removes
// what TakeLock made, so that the directory is left as the job found it:
// absent, or empty, or holding its saved input only.
func (l *Lock) Abandon() {
	if l == nil || l.f == nil {
		return
	}
	os.Remove(filepath.Join(l.dir, LockFile)) // while still held: see TakeLock
	l.Unlock()
	os.Remove(filepath.Join(l.dir, StateDir)) // each only if empty
	if l.created {
		os.Remove(l.dir)
	}
}

// isNew reports whether a directory's entries are those of a new job's:
// none, or a StateDir holding nothing but the lock, a saved standard input
// and temporary files.
func isNew(dir string, entries []os.DirEntry) bool {
	switch {
	case len(entries) == 0:
		return true
	case len(entries) > 1 || entries[0].Name() != StateDir:
		return false
	}
	inner, err := os.ReadDir(filepath.Join(dir, StateDir))
	if err != nil {
		return false
	}
	for _, e := range inner {
		n := e.Name()
		if n != filepath.Base(LockFile) && !strings.HasPrefix(n, "stdin.") && !atomicfile.IsTemp(n) {
			return false
		}
	}
	return true
}
