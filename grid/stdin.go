package grid

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/term"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/internal/atomicfile"
	"github.com/gridrun/gridrun/internal/ctxio"
	"github.com/gridrun/gridrun/internal/inputs"
	"github.com/gridrun/gridrun/outdir"
)

// stdinPath is where a job reading standard input keeps it: in its output
// directory, so that it is read like any file (checked, then read) and a
// resumed job reads it again after a kill. A gzipped stream is kept
// uncompressed.
func stdinPath(j Job) (string, error) {
	f := codec.JSONL
	if j.InputFormat != "" {
		var err error
		if f, err = codec.ParseFormat(j.InputFormat); err != nil {
			return "", &ConfigError{Err: err}
		}
	}
	return filepath.Join(j.Output, outdir.StateDir, "stdin"+f.Ext()), nil
}

// saveStdin copies standard input to stdinPath before the job reads its
// inputs, when one of them is "-". A resumed job reads what its first run
// saved, and not standard input. undo removes what a new job saved, for a
// job that then cannot start: its output directory must stay empty for the
// next try.
func saveStdin(ctx context.Context, j Job, h Hooks) (undo func(), err error) {
	n := 0
	for _, in := range j.Inputs {
		if in == inputs.Stdin {
			n++
		}
	}
	switch {
	case n == 0:
		return func() {}, nil
	case n > 1:
		return nil, configErr("input -: standard input can be read once; give - at most once")
	}
	path, err := stdinPath(j)
	if err != nil {
		return nil, err
	}
	if j.Resume {
		if _, err := os.Stat(path); err != nil {
			return nil, configErr("input -: cannot resume: the first run did not save its standard input as %s", path)
		}
		return func() {}, nil
	}
	in := h.Stdin
	if in == nil {
		if term.IsTerminal(int(os.Stdin.Fd())) {
			return nil, configErr("input -: standard input is a terminal; pipe the input in")
		}
		in = os.Stdin
	}
	undo = func() {
		os.Remove(path)
		os.Remove(filepath.Dir(path)) // each only if empty
		os.Remove(j.Output)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, &ConfigError{Err: err}
	}
	h.Logger.Info("saving standard input; the job starts when it ends", "path", path)
	err = copyStdin(path, ctxio.Reader(ctx, in))
	switch {
	case ctx.Err() != nil:
		undo()
		return nil, fmt.Errorf("input -: stopped reading standard input: %w", ctx.Err())
	case err != nil:
		undo()
		return nil, configErr("input -: %v", err)
	}
	return undo, nil
}

func copyStdin(path string, in io.Reader) error {
	br := bufio.NewReaderSize(in, 1<<20)
	var r io.Reader = br
	if magic, _ := br.Peek(2); slices.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, r)
		return err
	})
}
