// Package atomicfile writes local files so that a reader, or a process
// started after a crash, sees the whole new file or the old one, never a
// part: a temporary file in the same directory, synced, renamed into place,
// then the directory synced so that the rename itself survives a crash.
//
// The temporary name is unique per write (os.CreateTemp), so two writers of
// one name (a retry and a straggler of the first attempt) never write into
// each other's file: the last rename wins, whole.
package atomicfile

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// WriteFile writes data to path atomically with the given permissions.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// testHookWriter, when set, is written to instead of the temporary file
// f, so that a test can make the writes fail as a full disk does.
var testHookWriter func(f *os.File) io.Writer

// Write writes path atomically with what fill writes, buffered. A fill
// error leaves path as it was and no temporary file behind. Errors name
// path, not the temporary file: a user looks for the file being written.
func Write(path string, perm os.FileMode, fill func(io.Writer) error) error {
	dir := filepath.Dir(path)
	pattern := "." + filepath.Base(path) + ".tmp-*"
	err := write(dir, pattern, path, perm, fill)
	var pe *os.PathError
	if errors.As(err, &pe) && filepath.Dir(pe.Path) == dir && IsTemp(filepath.Base(pe.Path)) {
		return &os.PathError{Op: "write", Path: path, Err: pe.Err}
	}
	var le *os.LinkError // the rename
	if errors.As(err, &le) {
		return &os.PathError{Op: "write", Path: path, Err: le.Err}
	}
	return err
}

func write(dir, pattern, path string, perm os.FileMode, fill func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	var dst io.Writer = f
	if testHookWriter != nil {
		dst = testHookWriter(f)
	}
	w := bufio.NewWriterSize(dst, 256<<10)
	if err := fill(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes the entries of dir (files created, renamed or removed in
// it) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// IsTemp reports whether name (a base name) is one of the temporary files
// Write creates: a crash can leave them behind, and they are never a file
// of their own.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-")
}
