package grid

// What follows a call that did not settle all its elements: a retry, the
// isolation of the element it failed on, a dead letter; and the logs it
// leaves.

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gridrun/gridrun/wrapper"
)

// emitDead emits a dead letter for e unless e already has an outcome.
func emitDead(emit func(Outcome), e *Element, d *DeadLetter) {
	if e.claim() {
		emit(deadOutcome(e, d))
	}
}

func deadOutcome(e *Element, d *DeadLetter) Outcome {
	d.ID = e.ID
	d.Element = e.given()
	o := Outcome{Source: e.Source, ID: e.ID, Dead: d, Input: e.Payload}
	if e.Scenario != nil {
		d.Scenario, o.Scenario = e.Scenario.ID, e.Scenario.ID
	}
	return o
}

// follow decides what happens to the elements a call left pending, and
// returns the dead-letter kind of the call's failure, if it failed.
func (x *Executor) follow(ctx context.Context, t *Task, pending []*Element, out *wrapper.Outcome, err error, logRef string, emit func(Outcome)) ([]*Task, string) {
	if ctx.Err() != nil {
		return nil, "" // cancelled: the journal does not hold them, a resume will
	}
	kind, transient := x.classify(err)
	if kind != "" {
		x.logFailure(t, out, err, kind)
	}
	if len(pending) == 0 {
		return nil, kind
	}
	if kind == "" {
		if out.Stopped {
			x.splits.Add(1)
			return []*Task{t.sub(pending, "split")}, ""
		}
		// Exit 0 without a result: the binary broke the protocol for the
		// first pending element (or, not streaming, for one of them).
		kind, err = KindBadOutput, errors.New("binary exited 0 without a result for the element")
	}
	if transient && t.retried < x.cfg.Retries {
		r := t.sub(pending, "retry")
		r.Batch = t.Batch // the same call again
		r.Attempt, r.retried, r.alone = t.Attempt+1, t.retried+1, t.alone
		r.NotBefore = time.Now().Add(x.backoff(t.retried))
		x.retries.Add(1)
		return []*Task{r}, kind
	}
	if len(pending) == 1 {
		e := pending[0]
		d := &DeadLetter{Kind: kind, Message: err.Error(), Batch: t.Batch, Attempts: t.Attempt}
		var ee *wrapper.ExitError
		if errors.As(err, &ee) {
			d.Message = ee.Error()
			if i := strings.Index(d.Message, "; stderr ends:"); i >= 0 {
				d.Message = d.Message[:i]
			}
			d.ExitCode, d.Stderr = ee.Code, string(ee.Stderr)
		}
		d.Log = logRef
		emitDead(emit, e, d)
		return nil, kind
	}
	// Isolate. A streaming binary got as far as the first pending element:
	// that is the suspect; run it alone and the rest without it, O(1) extra
	// calls. Otherwise bisect, O(log n).
	var parts [][]*Element
	if x.cfg.Schema.StreamsResults {
		parts = [][]*Element{pending[:1], pending[1:]}
	} else {
		parts = [][]*Element{pending[:len(pending)/2], pending[len(pending)/2:]}
	}
	next := make([]*Task, 0, 2)
	for _, p := range parts {
		s := t.sub(p, "isolate")
		s.Attempt = t.Attempt + 1
		s.alone = len(p) == 1
		next = append(next, s)
	}
	x.isolations.Add(int64(len(next)))
	return next, kind
}

// classify maps a call's error to a dead-letter kind, and says whether the
// user declared it transient.
func (x *Executor) classify(err error) (kind string, transient bool) {
	var (
		ee *wrapper.ExitError
		oe *wrapper.OutputError
		se *wrapper.StartError
	)
	switch {
	case err == nil:
		return "", false
	case errors.Is(err, errTimeout):
		return KindTimeout, false
	case errors.As(err, &ee):
		return KindCrash, slices.Contains(x.cfg.RetryExitCodes, ee.Code)
	case errors.As(err, &oe):
		return KindBadOutput, false
	case errors.As(err, &se):
		return KindCrash, true // our side: no disk, no fds; worth another go
	}
	return KindCrash, false
}

func (x *Executor) backoff(retried int) time.Duration {
	d := min(x.cfg.Backoff<<retried, time.Minute)
	return time.Duration(rand.Int64N(int64(d)) + 1) // full jitter
}

func (x *Executor) logFailure(t *Task, out *wrapper.Outcome, err error, kind string) {
	ids := make([]string, 0, min(len(out.Pending), 5))
	for _, p := range out.Pending[:min(len(out.Pending), 5)] {
		ids = append(ids, t.Elements[p].ID)
	}
	attrs := []any{"batch", t.Batch, "attempt", t.Attempt, "kind", kind, "elements", len(t.Elements),
		"results", len(out.Results), "pending", len(out.Pending), "first_pending", ids, "err", firstLine(err.Error())}
	if out.Stderr.Path != "" {
		attrs = append(attrs, "stderr_head", head(out.Stderr.Path, 10, 2048), "stderr", out.Stderr.Path)
	}
	x.cfg.Logger.Warn("call failed", attrs...)
}

// head returns up to n lines, at most max bytes, from the start of a file:
// the first lines go to the structured log, where they are read first, and
// the whole file is kept.
func head(path string, n, max int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b := make([]byte, max)
	k, _ := io.ReadFull(f, b)
	b = b[:k]
	for i, c := range b {
		if c == '\n' {
			if n--; n == 0 {
				return string(b[:i])
			}
		}
	}
	return strings.TrimRight(string(b), "\n")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// keepLogs uploads a failed call's logs when the job says where, and
// returns where its stderr is: the upload, or the kept file relative to the
// output directory.
func (x *Executor) keepLogs(ctx context.Context, out *wrapper.Outcome) string {
	ref := ""
	if out.Stderr.Path != "" && x.cfg.LogRoot != "" {
		ref, _ = filepath.Rel(x.cfg.LogRoot, out.Stderr.Path)
	}
	if x.cfg.UploadLog == nil {
		return ref
	}
	for _, l := range []wrapper.Log{out.Stdout, out.Stderr} {
		if l.Path == "" {
			continue
		}
		uri, err := x.cfg.UploadLog(ctx, l.Path)
		if err != nil {
			x.cfg.Logger.Error("cannot upload a failed call's log", "log", l.Path, "err", err)
			continue
		}
		if l == out.Stderr {
			ref = uri
		}
	}
	return ref
}

// sampled says whether a good call's logs are kept: one call in
// LogSample. A failed call's logs are always kept.
func (x *Executor) sampled() bool {
	return x.cfg.LogSample > 0 && x.good.Add(1)%int64(x.cfg.LogSample) == 1%int64(x.cfg.LogSample)
}

func removeLogs(out *wrapper.Outcome) {
	if out.Shared {
		return // a worker's, removed with it
	}
	for _, p := range []string{out.Stdout.Path, out.Stderr.Path} {
		if p != "" {
			os.Remove(p)
		}
	}
}
