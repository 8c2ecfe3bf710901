package grid

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/internal/inputs"
	"github.com/gridrun/gridrun/join"
	"github.com/gridrun/gridrun/outdir"
)

// Plan is what a job would do, found by DryRun without running it.
type Plan struct {
	// Binary is the staged binary: its source as given, the sha256 of the
	// verified bytes, and its own name and version when it says.
	Binary BinaryInfo
	// Input, Result and Side are the binary's message types; Side is ""
	// when it takes no side rows.
	Input, Result, Side string
	// Inputs are the input files, each with its rows counted.
	Inputs []PlannedInput
	// Rows is the rows of every input; BadRows those that would be
	// bad_input dead letters (a malformed line, a value that does not fit
	// its field).
	Rows, BadRows int64
	// Batches estimates the calls: the rows over the first batch size (or
	// the fixed one); adaptive sizing changes it once calls are timed.
	Batches int64
	// Common is the job's common data, read and checked against the
	// binary's common type; nil without.
	Common *outdir.CommonInfo
	// Join is the join's plan, nil without a join.
	Join *PlannedJoin
	// Output is the output directory; OutputExists says it exists already
	// (empty, or the job to resume).
	Output       string
	OutputExists bool
	Resume       bool
}

// PlannedInput is one input file of a Plan.
type PlannedInput struct {
	Path   string
	Format codec.Format
	Size   int64
	Rows   int64
}

// PlannedJoin is the join of a Plan: where the rows come from, and how the
// inputs' keys find them.
type PlannedJoin struct {
	Source string
	Key    string
	// Keys is the distinct keys of the inputs' rows; Missing those with no
	// row in the table (the first few in MissingKeys), each element of
	// which becomes a missing_join dead letter (or runs without a row,
	// with --join-missing pass). Checked is false when there were more
	// distinct keys than a dry run looks up (dryRunMaxKeys).
	Keys, Missing int64
	MissingKeys   []string
	Checked       bool
	// Unused are the table's columns that fill no field of the side
	// message, when the table says (a file table does when it opens).
	Unused []string
}

// dryRunMaxKeys bounds the distinct join keys a dry run holds and looks
// up; past it, the keys are not checked (a table keyed by trade rather
// than by underlying, say).
const dryRunMaxKeys = 1 << 20

// dryRunLookupKeys is how many keys one lookup of a dry run reads.
const dryRunLookupKeys = 1000

// DryRun checks everything Run checks before its first call, and more, and
// returns the plan, without calling the binary on any element and without
// writing to the output directory: the output directory (new, empty or the
// job to resume, and writable), the inputs (found, formats, columns
// against the binary's input message, every row read, counted and
// decoded), the binary (staged, verified, asked for its messages), the
// join (the table's columns against the side message, and every distinct
// key of the inputs looked up), and the resume check. A *ConfigError, or
// another error reading the world, says what would stop the job.
//
// The one process it may start is the binary answering
// --gridrun-describe; the binary is staged into the cache as Run would.
// Standard input cannot be counted without being consumed, so an input
// "-" is refused unless a resume would read the copy its first run saved.
func DryRun(ctx context.Context, job Job, hooks *Hooks) (*Plan, error) {
	j, err := WithDefaults(job)
	if err != nil {
		return nil, err
	}
	if slices.Contains(j.Inputs, inputs.Stdin) {
		saved, err := stdinPath(j)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(saved); err != nil || !j.Resume {
			return nil, configErr("a dry run cannot count standard input (-) without consuming it: save it to a file and give that")
		}
	}
	if err := outdir.CheckNew(j.Output, j.Resume); err != nil {
		return nil, err
	}
	exists, err := checkWritable(j.Output)
	if err != nil {
		return nil, err
	}
	p := &plan{job: j, hooks: hooks.withDefaults()}
	defer func() {
		if p.table != nil {
			p.table.Close()
		}
		if p.image != nil {
			p.image.Close()
		}
	}()
	key, _, err := p.stage(ctx)
	if err != nil {
		return nil, err
	}
	have, _, err := outdir.ReadState(j.Output)
	if err != nil && j.Resume {
		return nil, err
	}
	key = p.joinKey(key, have)
	if err := p.checkMessages(ctx, key); err != nil {
		return nil, err
	}
	pl := &Plan{
		Binary: BinaryInfo{URI: p.staged.Source, SHA256: p.staged.SHA256, Name: p.schema.Name, Version: p.schema.Version},
		Input:  string(p.schema.Input.FullName()), Result: string(p.schema.Result.FullName()),
		Output: j.Output, OutputExists: exists, Resume: j.Resume,
	}
	if p.schema.Side != nil {
		pl.Side = string(p.schema.Side.FullName())
	}
	pl.Common = p.common.Info()
	if j.Join != nil {
		if err := p.openJoin(ctx, key); err != nil {
			return nil, err
		}
		pl.Join = &PlannedJoin{Source: j.Join.Source, Key: j.Join.Key, Checked: true}
	}
	keys := map[string]struct{}{}
	for _, in := range p.inputs {
		rows, bad, err := in.count(ctx, keys, pl.Join)
		if err != nil {
			return nil, err
		}
		pl.Inputs = append(pl.Inputs, PlannedInput{Path: in.path, Format: in.format, Size: in.size, Rows: rows})
		pl.Rows += rows
		pl.BadRows += bad
	}
	pl.Batches = (pl.Rows - pl.BadRows + int64(j.BatchSize) - 1) / int64(j.BatchSize)
	if pl.Join != nil {
		if err := lookUpKeys(ctx, p.table, keys, pl.Join); err != nil {
			return nil, err
		}
	}
	return pl, nil
}

// count reads every row of the input, decoding each as a call would
// receive it, and gathers the distinct join keys into keys (up to
// dryRunMaxKeys, past which j.Checked is false).
func (in *input) count(ctx context.Context, keys map[string]struct{}, j *PlannedJoin) (rows, bad int64, err error) {
	f, r, d, err := in.open(ctx, nil)
	if err != nil {
		return 0, 0, &ConfigError{Err: err}
	}
	defer f.Close()
	for {
		if rows%4096 == 0 && ctx.Err() != nil {
			return rows, bad, ctx.Err()
		}
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, bad, nil
		}
		if err != nil {
			return rows, bad, configErr("input %s: %v", in.path, err)
		}
		rows++
		e, err := d.Decode(row)
		if err != nil {
			bad++
			continue
		}
		if j != nil && j.Checked {
			if len(keys) >= dryRunMaxKeys {
				j.Checked = false
				clear(keys)
				continue
			}
			keys[e.Key] = struct{}{}
		}
	}
}

// lookUpKeys looks every key up in the table, a batch of keys a read as
// the job would, and records the ones without a row.
func lookUpKeys(ctx context.Context, t *join.Table, keys map[string]struct{}, j *PlannedJoin) error {
	if !j.Checked {
		return nil
	}
	all := make([]string, 0, len(keys))
	for k := range keys {
		all = append(all, k)
	}
	slices.Sort(all)
	j.Keys = int64(len(all))
	for chunk := range slices.Chunk(all, dryRunLookupKeys) {
		rows, err := t.Lookup(ctx, chunk)
		if err != nil {
			return &ConfigError{Err: err}
		}
		for _, k := range chunk {
			if _, ok := rows[k]; !ok {
				j.Missing++
				if len(j.MissingKeys) < 5 {
					j.MissingKeys = append(j.MissingKeys, k)
				}
			}
		}
	}
	if c := t.Coverage(); c != nil {
		j.Unused = c.Unused
	}
	return nil
}

// checkWritable checks that the output directory could be made and
// written: it, or the nearest directory above it that exists, is a
// directory this process may write. It reports whether it exists.
func checkWritable(dir string) (exists bool, err error) {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		switch {
		case errors.Is(err, os.ErrNotExist) && d != filepath.Dir(d):
			continue
		case err != nil:
			return false, configErr("output %s: %v", dir, inputs.UnwrapPath(err))
		case !st.IsDir():
			return false, configErr("output %s: %s is not a directory", dir, d)
		}
		if err := unix.Access(d, unix.W_OK|unix.X_OK); err != nil {
			return false, configErr("output %s: cannot write in %s: %v", dir, d, err)
		}
		return d == filepath.Clean(dir), nil
	}
}

// String is the plan in a line, for logs.
func (pl *Plan) String() string {
	return fmt.Sprintf("%d rows in %d inputs, about %d batches, binary %s", pl.Rows, len(pl.Inputs), pl.Batches, pl.Binary.URI)
}
