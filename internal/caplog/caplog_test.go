package caplog

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeepsEverythingUnderTheCap(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	w, err := Create(path, 10, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"hello ", "world", ", again"} { // 18 bytes < 10+10
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "hello world, again" {
		t.Fatalf("file = %q", got)
	}
}

func TestDropsTheMiddleWithAMarker(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	w, err := Create(path, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	stream := "abcdefghijklmnopqrstuvwxyz"
	for i := 0; i < len(stream); i += 5 { // uneven chunks cross the ring's end
		w.Write([]byte(stream[i:min(i+5, len(stream))]))
	}
	if got := string(w.Tail(2)); got != "yz" {
		t.Errorf("Tail(2) = %q", got)
	}
	if w.Size() != 26 {
		t.Errorf("Size = %d", w.Size())
	}
	w.Close()
	got, _ := os.ReadFile(path)
	want := "abcd\n[... 19 bytes dropped ...]\nxyz"
	if string(got) != want {
		t.Fatalf("file = %q, want %q", got, want)
	}
}

func TestAHugeStreamCostsBoundedDisk(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "log")
	w, _ := Create(path, 1<<10, 1<<10)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for range 1 << 10 { // 64 MiB
		w.Write(chunk)
	}
	w.Write([]byte("END"))
	w.Close()
	st, _ := os.Stat(path)
	if st.Size() > 3<<10 {
		t.Fatalf("file is %d bytes", st.Size())
	}
	got, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(got), "xxxEND") || !strings.Contains(string(got), "bytes dropped") {
		t.Fatalf("file does not end with the stream's tail: %q", got[len(got)-40:])
	}
}
