package beamgrid

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"time"

	"github.com/gridrun/gridrun/internal/blob"
	"github.com/gridrun/gridrun/outdir"
)

// A Beam job cannot hold a kernel lock for its life: its workers are other
// machines. It creates the lock object (outdir.LockFile) with a
// does-not-exist precondition, so that of two jobs started on one output
// one only gets it, and deletes it when the pipeline ends: the manifest's
// DoFn does, and gridrun-beam after a pipeline that failed. A lock left by
// a job killed outright stays until it is removed by hand (docs/operations.md).

// takeLock creates the output's lock object, or refuses the job naming the
// job that holds it. It returns the bytes written, by which release knows
// its own lock.
func lockOutput(ctx context.Context, output string) ([]byte, error) {
	out, err := openStore(ctx, output)
	if err != nil {
		return nil, configErr("output directory %s: %w", output, err)
	}
	return takeLock(ctx, out, output)
}

func takeLock(ctx context.Context, out *store, output string) ([]byte, error) {
	holder := outdir.ThisProcess().Encode()
	err := out.b.Write(ctx, outdir.LockFile, func(w io.Writer) error {
		_, err := w.Write(holder)
		return err
	}, &blob.WriteOptions{IfNotExist: true})
	switch {
	case errors.Is(err, fs.ErrExist):
		b, _ := out.read(ctx, outdir.LockFile) // a holder says who it is; a failed read says nothing
		return nil, configErr("%w (a Beam job killed outright leaves its lock: once it is gone, remove %s by hand)",
			&outdir.InUseError{Dir: output, Holder: outdir.DecodeHolder(b)}, out.path(outdir.LockFile))
	case err != nil:
		return nil, configErr("output directory %s: cannot create its lock: %w", output, err)
	}
	return holder, nil
}

// releaseLock deletes the output's lock object if it is still the one
// holder wrote.
func releaseLock(ctx context.Context, output string, holder []byte) error {
	if len(holder) == 0 {
		return nil
	}
	out, err := openStore(ctx, output)
	if err != nil {
		return err
	}
	b, err := out.read(ctx, outdir.LockFile)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !bytes.Equal(b, holder) {
		return nil // released, or another job's since
	}
	if err != nil {
		return err
	}
	return out.remove(ctx, outdir.LockFile)
}

// Unlock releases the output's lock the plan took, if the pipeline has not
// released it: for a runner to call once the pipeline has ended, whether
// it failed or not.
func (p *Plan) Unlock(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return releaseLock(ctx, p.Step.spec.Job.Output, p.lock)
}
