package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteReplacesWholeOrNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "manifest.json")
	if err := WriteFile(path, []byte("first\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, 0o644, func(w io.Writer) error {
		w.Write([]byte("half of the sec"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want the fill's error", err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "first\n" {
		t.Fatalf("after a failed write the file holds %q, want the first write", b)
	}
	if err := WriteFile(path, []byte("second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	st, _ := os.Stat(path)
	if string(b) != "second\n" || st.Mode().Perm() != 0o600 {
		t.Fatalf("file holds %q mode %v, want %q mode 0600", b, st.Mode().Perm(), "second\n")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want the file alone (no temporary left)", len(entries))
	}
}

func TestIsTemp(t *testing.T) {
	for name, want := range map[string]bool{
		".manifest.json.tmp-123": true,
		"manifest.json":          false,
		"results-00001.jsonl":    false,
		".hidden":                false,
	} {
		if got := IsTemp(name); got != want {
			t.Errorf("IsTemp(%q) = %v, want %v", name, got, want)
		}
	}
}

// A full disk fails the writes to the temporary file; the error names the
// file being written, not the temporary name a user never sees.
func TestWriteErrorNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "manifest.json")
	testHookWriter = func(f *os.File) io.Writer { return enospc{f.Name()} }
	t.Cleanup(func() { testHookWriter = nil })
	err := WriteFile(path, []byte("{}\n"), 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("WriteFile = %v, want ENOSPC", err)
	}
	if want := "write " + path + ": no space left on device"; err.Error() != want {
		t.Errorf("WriteFile = %q, want %q", err, want)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("a failed write left %v", left)
	}
}

// enospc fails every write as a full disk does, naming the file.
type enospc struct{ name string }

func (e enospc) Write([]byte) (int, error) {
	return 0, &os.PathError{Op: "write", Path: e.name, Err: syscall.ENOSPC}
}
