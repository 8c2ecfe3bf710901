package grid

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/internal/inputs"
	"github.com/gridrun/gridrun/jobspec"
	"github.com/gridrun/gridrun/outdir"
)

// Scenario is one market scenario every element runs under.
type Scenario struct {
	// ID names the scenario in results and dead letters, e.g. "base".
	ID string
	// Payload is the binary's scenario message, serialized.
	Payload []byte
}

// Scenarios is a job's scenarios file, read whole and checked.
type Scenarios struct {
	// Path is the file as the job names it.
	Path string
	// SHA256 is the file's sha256, for the resume check and the manifest.
	SHA256 string
	// List holds the scenarios in file order; a scenario's index in it is
	// the one results are committed under, so the order matters to a
	// resume (the sha256 keeps it).
	List []Scenario
}

// ScenarioBlockRows is the number of input rows that run under every
// scenario before the next rows are read: the feeder reads a block, then
// hands out its rows under the first scenario, then under the second, and
// so on. A batch so holds one scenario and many elements when a block has
// many rows (a binary amortises its per-scenario work over them), and
// several scenarios when it has few (a small portfolio still fills its
// batches). Memory stays bounded by the block, not by rows × scenarios.
//
// The journal names an outcome by a virtual row: a block's rows under its
// scenarios are numbered scenario-major from the block's first row times
// the number of scenarios, so that what a run commits is a few ranges.
// Each scenario of a block has ScenarioBlockRows numbers, used or not (the
// last block of an input is short), so that the numbering depends on
// nothing but the row, the scenario and the block size: an input that
// ended early in one run and whole in its resume numbers alike. A resume
// must number them alike: the block size is part of the resume
// fingerprint.
const ScenarioBlockRows = 1024

// virtualRow numbers (row, scenario) for the journal: the block starts at
// row start, a multiple of ScenarioBlockRows.
func virtualRow(row, start int64, scenario, scenarios int) int64 {
	return start*int64(scenarios) + int64(scenario)*ScenarioBlockRows + (row - start)
}

// Seed is the deterministic seed of an element under a scenario
// (Element.seed): the first 8 bytes, big-endian, of sha256("gridrun.seed.v1"
// 0x00 elementID 0x00 scenarioID). A job without scenarios seeds with
// scenarioID "". It is the same whatever the batching, the attempt or the
// engine.
func Seed(elementID, scenarioID string) uint64 {
	// Built on the stack for the usual short ids: every element of every
	// job gets a seed, so it must cost no allocation.
	var buf [96]byte
	b := append(buf[:0], "gridrun.seed.v1\x00"...)
	b = append(b, elementID...)
	b = append(b, 0)
	b = append(b, scenarioID...)
	sum := sha256.Sum256(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// LoadScenarios reads and checks a scenarios file (any registered input
// format; local or gs://): every row a msg with an id, no id twice, at most
// jobspec.MaxScenarios rows. Its errors are *ConfigError naming the file,
// the line and the field.
func LoadScenarios(ctx context.Context, path string, msg protoreflect.MessageDescriptor) (*Scenarios, error) {
	if msg == nil {
		return nil, configErr("--scenarios %s: the binary takes no scenarios (its description names no scenario type): "+
			"declare a scenario message with the SDK (gridrun::Serve<In, Out, Side, Scenario>) to run under scenarios", path)
	}
	files, err := inputs.Expand(ctx, []string{path}, "", nil)
	if err != nil {
		return nil, configErr("--scenarios: %v", err)
	}
	if len(files) != 1 {
		return nil, configErr("--scenarios %s: names %d files; give one", path, len(files))
	}
	f := files[0]
	src, r, err := inputs.Open(ctx, f, nil)
	if err != nil {
		return nil, configErr("--scenarios: %v", err)
	}
	defer src.Close()
	d, err := codec.NewDecoder(msg, r, f.Format, codec.DecoderOptions{IDField: "id"})
	if err != nil {
		return nil, configErr("--scenarios %s: %v", path, err)
	}
	if h := r.Header(); h != nil {
		// Every field of a scenario may be left out (a shock of zero), but
		// a column that fills none is a misspelt one.
		var all []string
		fields := msg.Fields()
		for i := range fields.Len() {
			all = append(all, string(fields.Get(i).Name()))
		}
		if c := codec.Cover(msg, h, all, []string{"id"}); len(c.Unused) > 0 {
			return nil, configErr("--scenarios %s: column %q fills no field of %s (fields: %s)",
				path, c.Unused[0], msg.FullName(), codec.Columns(all))
		}
	}
	s := &Scenarios{Path: path}
	line := map[string]int64{}
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, configErr("--scenarios %s: %v", path, err)
		}
		e, err := d.Decode(row)
		if err != nil {
			var re *codec.RowError
			if errors.As(err, &re) {
				return nil, configErr("--scenarios %v", re)
			}
			return nil, configErr("--scenarios %s:%d: %v", path, row.Line, err)
		}
		if first, dup := line[e.ID]; dup {
			return nil, configErr("--scenarios %s:%d: field id: duplicate scenario id %q (first on line %d)", path, row.Line, e.ID, first)
		}
		if len(s.List) == jobspec.MaxScenarios {
			return nil, configErr("--scenarios %s:%d: more than %d scenarios: they are held in memory whole and every element runs under each; split the job", path, row.Line, jobspec.MaxScenarios)
		}
		line[e.ID] = row.Line
		s.List = append(s.List, Scenario{ID: e.ID, Payload: e.Payload})
	}
	if len(s.List) == 0 {
		return nil, configErr("--scenarios %s: no scenarios in the file", path)
	}
	st, err := outdir.Stamp(ctx, f.Path, true, nil)
	if err != nil {
		return nil, configErr("--scenarios %s: %v", path, err)
	}
	s.SHA256 = st.SHA256
	return s, nil
}

// IDs returns the scenarios' ids in order.
func (s *Scenarios) IDs() []string {
	ids := make([]string, len(s.List))
	for i, sc := range s.List {
		ids[i] = sc.ID
	}
	return ids
}

// count returns the number of scenarios, 0 without any.
func (s *Scenarios) count() int {
	if s == nil {
		return 0
	}
	return len(s.List)
}
