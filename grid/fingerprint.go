package grid

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gridrun/gridrun/outdir"
)

// fingerprint stamps the job as it starts, for its state: a resume is
// checked against the first run's (have, nil for a new job). An input is
// hashed here only when a resume needs it (see FileStamp.NeedsHash); a new
// job's inputs are hashed as the feeder reads them (recordInputHash).
func (p *plan) fingerprint(ctx context.Context, have *outdir.Fingerprint) (*outdir.Fingerprint, error) {
	j := p.job
	fp := &outdir.Fingerprint{Options: outdir.ResultOptions(j)}
	// The scenarios' contents and how (row, scenario) is numbered in the
	// journal: a resume with another file, or another numbering, would
	// skip the wrong outcomes.
	var sum string
	var block int
	if p.scen != nil {
		sum, block = p.scen.SHA256, ScenarioBlockRows
	}
	fp.Options = append(fp.Options,
		outdir.Option{Name: "scenarios_sha256", Value: strconv.Quote(sum)},
		outdir.Option{Name: "scenario_block_rows", Value: strconv.Itoa(block)})
	budget := int64(outdir.SmallFile)
	for i, in := range p.inputs {
		s, err := outdir.Stamp(ctx, in.path, false, nil)
		if err != nil {
			return nil, configErr("input %s: %v", in.path, err)
		}
		if have != nil && i < len(have.Inputs) && have.Inputs[i].Path == in.path && have.Inputs[i].NeedsHash(s, budget) {
			if have.Inputs[i].ModTime.Equal(s.ModTime) {
				budget -= s.Size
			}
			if s, err = outdir.Stamp(ctx, in.path, true, nil); err != nil {
				return nil, configErr("input %s: %v", in.path, err)
			}
		}
		fp.Inputs = append(fp.Inputs, s)
	}
	if j.Join != nil {
		js := &outdir.JoinStamp{Source: j.Join.Source}
		if path, ok := fileTable(j.Join.Source); ok {
			// A file table is read whole when it opens: hashing it again
			// costs little.
			s, err := outdir.StampFile(path, true)
			if err != nil {
				return nil, configErr("join source %s: %v", j.Join.Source, err)
			}
			js.File = &s
		} else {
			js.AsOf = p.joinAsOf
		}
		fp.Join = js
	}
	fp.Common = p.common.Stamp()
	return fp, nil
}

// fileTable returns the path of a join source that is a local file, as
// join.Open tells them.
func fileTable(source string) (string, bool) {
	scheme, _, found := strings.Cut(source, "://")
	if !found || scheme == "file" {
		return strings.TrimPrefix(source, "file://"), true
	}
	return "", false
}

// joinAsOf is the snapshot a store with timestamps is read as of: the
// job's own, or the one its first run read (have's), or else now, so that
// a resume reads what the first run read. A file table has none.
func joinAsOf(j Job, have outdir.State, now time.Time) time.Time {
	switch {
	case j.Join == nil:
		return time.Time{}
	case !j.Join.AsOf.IsZero():
		return j.Join.AsOf
	}
	if _, ok := fileTable(j.Join.Source); ok {
		return time.Time{}
	}
	if f := have.Fingerprint; f != nil && f.Join != nil && f.Join.Source == j.Join.Source && !f.Join.AsOf.IsZero() {
		return f.Join.AsOf
	}
	if j.Resume && have.Fingerprint == nil && have.JobID != "" {
		return time.Time{} // a job from before fingerprints read the latest: so does its resume
	}
	// Bigtable keeps milliseconds: the time recorded is the time read.
	return now.UTC().Truncate(time.Millisecond)
}

// hashingSource hashes an input as the feeder reads it as a stream; a
// format read at offsets (Parquet) leaves it without a sum.
type hashingSource struct {
	source
	h      *outdir.HashingReader
	random bool
}

func newHashingSource(s source) *hashingSource {
	return &hashingSource{source: s, h: outdir.NewHashingReader(s)}
}

func (s *hashingSource) Read(p []byte) (int, error) { return s.h.Read(p) }

func (s *hashingSource) ReadAt(p []byte, off int64) (int, error) {
	s.random = true
	return s.source.ReadAt(p, off)
}

// sum returns the sha256 of the whole input, once read to its end as a
// stream, and its length.
func (s *hashingSource) sum() (string, int64, bool) {
	if s.random {
		return "", 0, false
	}
	sum, n, err := s.h.Sum()
	return sum, n, err == nil
}

// recordInputHash records input i's sha256 in the job's state once the
// feeder has read it whole: from then on a resume can tell a rewritten
// input from a touched one.
func (p *plan) recordInputHash(i int, sum string, n int64) {
	fp := p.state.Fingerprint
	if fp == nil || i >= len(fp.Inputs) {
		return
	}
	s := &fp.Inputs[i]
	switch {
	case s.Size != n || s.SHA256 != "" && s.SHA256 != sum:
		p.hooks.Logger.Warn("an input changed while the job read it: its results may mix two versions of it",
			"input", s.Path, "size", s.Size, "bytes_read", n, "sha256", s.SHA256, "sha256_read", sum)
	case s.SHA256 == "":
		s.SHA256 = sum
		if err := outdir.WriteState(p.job.Output, p.state); err != nil {
			p.hooks.Logger.Warn("cannot record an input's sha256 in the job state", "input", s.Path, "err", err)
		}
	}
}
