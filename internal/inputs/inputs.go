// Package inputs turns a job's input patterns into files and opens them,
// the same for every engine: local paths and globs, file:// URIs, gs://
// objects and gs:// globs, each with its format (named by the job, or
// guessed from the file's name through codec's registry).
package inputs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/internal/blob"
)

// Stdin is the input name that reads standard input.
const Stdin = "-"

// File is one input file of a job.
type File struct {
	Path   string
	Format codec.Format
	Gzip   bool
	// Size is the file's size in bytes; 0 for an object in Cloud Storage
	// until it is opened.
	Size int64
}

// Options configure Expand and Open. The zero value is usable.
type Options struct {
	// Stdin is the file standard input ("-") was saved to; "" refuses "-"
	// with StdinRefusal.
	Stdin string
	// StdinRefusal is why "-" cannot be read, when Stdin is "".
	StdinRefusal string
	// Store configures reads from Cloud Storage.
	Store *blob.Options
	// Wrap, when set, is what Open reads the file through (to hash it as
	// it is read, say).
	Wrap func(Source) Source
}

// Source is an open input file: read as a stream, or at offsets.
type Source interface {
	io.Reader
	io.ReaderAt
	io.Closer
	// Size is the file's size in bytes.
	Size() int64
}

// Expand resolves patterns into files, in order, and checks that each
// exists, is a file and has a known format. format, when not "", is the
// format of every input. Each error is a problem with the job's inputs,
// named in its message.
func Expand(ctx context.Context, patterns []string, format string, o *Options) ([]File, error) {
	var opts Options
	if o != nil {
		opts = *o
	}
	var forced codec.Format
	if format != "" {
		f, err := codec.ParseFormat(format)
		if err != nil {
			return nil, err
		}
		forced = f
	}
	var files []File
	for _, pattern := range patterns {
		paths, err := expand(ctx, pattern, opts)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			f := File{Path: p, Format: forced}
			if blob.IsLocal(p) {
				st, err := os.Stat(p)
				if err != nil {
					return nil, fmt.Errorf("input %s: %w", p, UnwrapPath(err))
				}
				if st.IsDir() {
					return nil, fmt.Errorf("input %s: is a directory: name its files or a pattern such as %s", p, filepath.Join(p, "*.jsonl"))
				}
				f.Size = st.Size()
			}
			guessed, gz, err := codec.FormatOf(p)
			f.Gzip = gz
			if forced == "" {
				if err != nil {
					return nil, err
				}
				f.Format = guessed
			}
			files = append(files, f)
		}
	}
	return files, nil
}

// expand resolves one pattern.
func expand(ctx context.Context, pattern string, o Options) ([]string, error) {
	if pattern == Stdin {
		if o.Stdin == "" {
			return nil, fmt.Errorf("input -: %s", o.StdinRefusal)
		}
		return []string{o.Stdin}, nil
	}
	path := strings.TrimPrefix(pattern, "file://")
	if !strings.ContainsAny(path, "*?[") {
		return []string{path}, nil
	}
	var paths []string
	var err error
	if blob.IsLocal(path) {
		paths, err = filepath.Glob(path)
	} else {
		paths, err = blob.Glob(ctx, path, o.Store)
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("input %s: %w", pattern, err)
	case len(paths) == 0:
		return nil, fmt.Errorf("input %s: no file matches", pattern)
	}
	return paths, nil
}

// Open opens the file's rows: a stream from its start, or, for a format
// read from its end (Parquet), by ranges. The caller closes the returned
// reader once the rows are read.
func Open(ctx context.Context, f File, o *Options) (Source, codec.Reader, error) {
	var opts Options
	if o != nil {
		opts = *o
	}
	var src Source
	src, err := blob.Open(ctx, f.Path, opts.Store)
	if err != nil {
		return nil, nil, err
	}
	if opts.Wrap != nil {
		src = opts.Wrap(src)
	}
	r, err := codec.Open(src, f.Path, f.Format, f.Gzip)
	if err != nil {
		src.Close()
		return nil, nil, err
	}
	return src, r, nil
}

// UnwrapPath drops the operation and path of a file error, for messages
// that name the file themselves.
func UnwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Count returns the rows of f, counted much faster than they are read (see
// codec.Count): lines, length prefixes, a Parquet footer. An object in
// Cloud Storage is read whole to be counted. ctx stops the count between
// reads.
func Count(ctx context.Context, f File, o *Options) (int64, error) {
	var opts Options
	if o != nil {
		opts = *o
	}
	src, err := blob.Open(ctx, f.Path, opts.Store)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	return codec.Count(ctxSource{ctx, src}, f.Path, f.Format, f.Gzip)
}

// ctxSource stops a count once ctx ends: a count runs beside the job and
// must not outlive it.
type ctxSource struct {
	ctx context.Context
	Source
}

func (s ctxSource) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	return s.Source.Read(p)
}

func (s ctxSource) ReadAt(p []byte, off int64) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	return s.Source.ReadAt(p, off)
}
