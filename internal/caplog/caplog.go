// Package caplog captures a subprocess's output stream in a file of bounded
// size: the head of the stream goes to the file as it arrives, the tail is
// kept in a ring buffer and appended on Close, and whatever lies between is
// dropped with a marker. A binary that writes a gigabyte to stderr costs
// head+tail bytes of disk and tail bytes of memory.
package caplog

import (
	"fmt"
	"os"
	"sync"
)

// Writer is an io.Writer over a capped log file. It is safe for concurrent
// use, so one Writer can take both stdout and stderr.
type Writer struct {
	mu       sync.Mutex
	f        *os.File
	path     string
	headMax  int64
	written  int64 // bytes of the stream seen so far
	ring     []byte
	ringPos  int  // next write position in ring
	ringFull bool // ring has wrapped at least once
	err      error
}

// Create opens path for a stream whose first head bytes and last tail bytes
// are kept.
func Create(path string, head, tail int) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	return &Writer{f: f, path: path, headMax: int64(head), ring: make([]byte, tail)}, nil
}

// Path returns the file's path.
func (w *Writer) Path() string { return w.path }

// Write never fails for the writer of the stream: a subprocess must not die
// of a full disk on our side. The first file error is kept for Close.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	if room := w.headMax - w.written; room > 0 && w.err == nil {
		h := p
		if int64(len(h)) > room {
			h = h[:room]
		}
		if _, err := w.f.Write(h); err != nil {
			w.err = err
		}
	}
	w.written += int64(n)
	w.remember(p)
	return n, nil
}

func (w *Writer) remember(p []byte) {
	if len(w.ring) == 0 {
		return
	}
	if len(p) >= len(w.ring) {
		copy(w.ring, p[len(p)-len(w.ring):])
		w.ringPos, w.ringFull = 0, true
		return
	}
	c := copy(w.ring[w.ringPos:], p)
	if c < len(p) {
		copy(w.ring, p[c:])
		w.ringFull = true
	}
	w.ringPos = (w.ringPos + len(p)) % len(w.ring)
	if w.ringPos == 0 && len(p) > 0 {
		w.ringFull = true
	}
}

// ringBytes returns the last bytes of the stream, oldest first.
func (w *Writer) ringBytes() []byte {
	if !w.ringFull {
		return append([]byte(nil), w.ring[:w.ringPos]...)
	}
	out := make([]byte, 0, len(w.ring))
	out = append(out, w.ring[w.ringPos:]...)
	return append(out, w.ring[:w.ringPos]...)
}

// Tail returns up to n of the last bytes written.
func (w *Writer) Tail(n int) []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.ringBytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return b
}

// Size returns the length of the whole stream, dropped bytes included.
func (w *Writer) Size() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

// Close appends the part of the tail that is not already in the file,
// preceded by a marker when bytes were dropped, and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return w.err
	}
	head := min(w.written, w.headMax)
	tail := w.ringBytes()
	if missing := w.written - head; missing > 0 && w.err == nil {
		if dropped := missing - int64(len(tail)); dropped > 0 {
			_, w.err = fmt.Fprintf(w.f, "\n[... %d bytes dropped ...]\n", dropped)
		} else {
			tail = tail[int64(len(tail))-missing:]
		}
		if w.err == nil {
			_, w.err = w.f.Write(tail)
		}
	}
	if err := w.f.Close(); err != nil && w.err == nil {
		w.err = err
	}
	w.f = nil
	return w.err
}
