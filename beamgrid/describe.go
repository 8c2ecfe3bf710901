package beamgrid

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/graphx"
	pipepb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/pipeline_v1"
)

// Model returns the pipeline as a runner receives it (the Beam model's
// Pipeline proto), with its user code in a container of image.
func Model(ctx context.Context, p *beam.Pipeline, image string) (*pipepb.Pipeline, error) {
	edges, _, err := p.Build()
	if err != nil {
		return nil, err
	}
	env, err := graphx.CreateEnvironment(ctx, graphx.URNEnvDocker, func(context.Context) string { return image })
	if err != nil {
		return nil, err
	}
	return graphx.Marshal(edges, &graphx.Options{Environment: env})
}

// Describe writes a summary of a pipeline's model: one line per
// transform, in the order they were built (the order data flows), with
// what it is and the collections it reads and writes.
func Describe(w io.Writer, model *pipepb.Pipeline) error {
	c := model.GetComponents()
	// A collection is named by the transform that makes it.
	producer := map[string]string{}
	for _, t := range c.GetTransforms() {
		if len(t.GetSubtransforms()) == 0 {
			for _, id := range t.GetOutputs() {
				producer[id] = t.GetUniqueName()
			}
		}
	}
	name := func(ids map[string]string) string {
		var names []string
		for _, id := range ids {
			names = append(names, cmp.Or(producer[id], c.GetPcollections()[id].GetUniqueName()))
		}
		slices.Sort(names)
		return strings.Join(names, ", ")
	}
	var n int
	var walk func(ids []string) error
	walk = func(ids []string) error {
		for _, id := range ids {
			t := c.GetTransforms()[id]
			if subs := t.GetSubtransforms(); len(subs) > 0 {
				if err := walk(subs); err != nil {
					return err
				}
				continue
			}
			n++
			line := fmt.Sprintf("  %-44s %-13s", t.GetUniqueName(), shortURN(t.GetSpec().GetUrn()))
			if in := name(t.GetInputs()); in != "" {
				line += " <- " + in
			}
			if _, err := fmt.Fprintln(w, strings.TrimRight(line, " ")); err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := fmt.Fprintln(w, "transforms:"); err != nil {
		return err
	}
	if err := walk(model.GetRootTransformIds()); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d transforms, %d collections, %d coders\n", n, len(c.GetPcollections()), len(c.GetCoders()))
	return err
}

// shortURN is "pardo" for beam:transform:pardo:v1.
func shortURN(urn string) string {
	parts := strings.Split(urn, ":")
	if len(parts) >= 4 && parts[0] == "beam" {
		return strings.Join(parts[2:len(parts)-1], ":")
	}
	return urn
}
