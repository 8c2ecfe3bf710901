package beamgrid

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/outdir"
)

// fingerprint stamps a Beam job as the local engine stamps its own (see
// grid), but for the inputs' sha256: workers read them in pieces on other
// machines, so inputs are hashed here, while their bytes fit in
// outdir.SmallFile, and on resume any whose modification time changed. A
// store with timestamps is read as of the first start's time unless the
// job names one; the step's spec carries it to the workers.
func fingerprint(ctx context.Context, st *Step, inputs []InputFile, have *outdir.Fingerprint) (*outdir.Fingerprint, error) {
	j := st.spec.Job
	fp := &outdir.Fingerprint{Options: outdir.ResultOptions(j)}
	// The scenarios' contents, as the local engine records them: a resume
	// with another file is refused.
	var sum string
	var block int
	if sc := st.spec.Scenarios; sc != nil {
		sum, block = sc.SHA256, grid.ScenarioBlockRows
	}
	fp.Options = append(fp.Options,
		outdir.Option{Name: "scenarios_sha256", Value: strconv.Quote(sum)},
		outdir.Option{Name: "scenario_block_rows", Value: strconv.Itoa(block)})
	budget := int64(outdir.SmallFile) // bytes hashed of inputs not known to have changed
	for i, in := range inputs {
		s, err := stamp(ctx, in.Path, false)
		if err != nil {
			return nil, configErr("input %s: %v", in.Path, err)
		}
		hash := s.Size <= budget
		if have != nil && i < len(have.Inputs) && have.Inputs[i].Path == in.Path {
			hash = have.Inputs[i].NeedsHash(s, budget)
			if hash && !have.Inputs[i].ModTime.Equal(s.ModTime) {
				budget += s.Size // a changed file is hashed whatever its size
			}
		}
		if hash {
			budget -= s.Size
			if s, err = stamp(ctx, in.Path, true); err != nil {
				return nil, configErr("input %s: %v", in.Path, err)
			}
		}
		fp.Inputs = append(fp.Inputs, s)
	}
	fp.Common = st.spec.Common.Stamp()
	if j.Join == nil {
		return fp, nil
	}
	js := &outdir.JoinStamp{Source: j.Join.Source}
	scheme, _, found := strings.Cut(j.Join.Source, "://")
	if !found || scheme == "file" {
		s, err := outdir.StampFile(strings.TrimPrefix(j.Join.Source, "file://"), true)
		if err != nil {
			return nil, configErr("join source %s: %v", j.Join.Source, err)
		}
		js.File = &s
	} else {
		js.AsOf = j.Join.AsOf
		if js.AsOf.IsZero() {
			js.AsOf = time.Now().UTC().Truncate(time.Millisecond)
			if have != nil && have.Join != nil && have.Join.Source == js.Source {
				js.AsOf = have.Join.AsOf
			}
			join := *j.Join
			join.AsOf = js.AsOf
			st.spec.Job.Join = &join
		}
	}
	fp.Join = js
	return fp, nil
}

// stamp stamps an input, local or in Cloud Storage.
func stamp(ctx context.Context, uri string, hash bool) (outdir.FileStamp, error) {
	opts, err := storeOptions(ctx, uri)
	if err != nil {
		return outdir.FileStamp{}, err
	}
	return outdir.Stamp(ctx, uri, hash, opts)
}
