package grid

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gridrun/gridrun/aggregate"
	"github.com/gridrun/gridrun/internal/atomicfile"
	"github.com/gridrun/gridrun/outdir"
	"github.com/gridrun/gridrun/wrapper"
)

// CompileAggregates binds the job's aggregate specs to the binary's
// messages: a spec that does not parse, or names a field that does not
// exist or is not a number where one is wanted, is a *ConfigError, before
// any call.
func CompileAggregates(j Job, s *wrapper.Schema) (*aggregate.Plan, error) {
	p, err := aggregate.Compile(j.Aggregates, aggregate.Schema{Result: s.Result, Input: s.Input, Scenarios: hasScenarios(j)})
	if err != nil {
		return nil, &ConfigError{Err: err}
	}
	return p, nil
}

// hasScenarios reports whether the job runs its elements under scenarios,
// which makes "scenario" a field of its aggregates.
func hasScenarios(j Job) bool { return j.Scenarios != "" }

// writeAggregates merges the partial aggregates of the commits standing
// and writes one aggregates file per spec, in the results' format (JSON
// lines unless Parquet). The partials hold exactly the committed rows, so
// a job killed and resumed writes the totals of a clean run.
func writeAggregates(j Job, p *aggregate.Plan, commits []outdir.Commit, ext string) ([]outdir.AggregateInfo, error) {
	total := p.NewSet()
	for _, c := range commits {
		if len(c.Retracts) > 0 {
			continue // a retraction record, no rows
		}
		name := outdir.PartialsName(c.Seq)
		found := false
		for _, f := range c.Files {
			found = found || f.Name == name
		}
		if !found {
			return nil, fmt.Errorf("aggregates: commit %d has no partial aggregates (%s): it was made without --aggregate; run the job again in a new output directory", c.Seq, name)
		}
		b, err := os.ReadFile(filepath.Join(j.Output, name))
		if err != nil {
			return nil, fmt.Errorf("aggregates: %w", err)
		}
		set, err := p.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		total.Merge(set)
	}
	write := aggregate.WriteJSONL
	if ext != ".jsonl" {
		if ext != ".parquet" {
			return nil, fmt.Errorf("aggregates: no aggregates format for results %s", ext)
		}
		write = aggregate.WriteParquet
	}
	var infos []outdir.AggregateInfo
	for i, o := range total.Outputs() {
		name := outdir.AggregatesName(i+1) + ext
		if err := atomicfile.Write(filepath.Join(j.Output, name), 0o644, func(w io.Writer) error { return write(w, o) }); err != nil {
			return nil, fmt.Errorf("aggregates: %w", err)
		}
		infos = append(infos, outdir.AggregateInfo{Spec: o.Spec.Text, File: name, Groups: len(o.Rows), Keys: o.Keys, Values: o.Values})
	}
	return infos, nil
}
