package grid

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/aggregate"
	"github.com/gridrun/gridrun/outdir"
	"github.com/gridrun/gridrun/wrapper"
)

// The sink totals outcomes by their scenario (Outcome.Scenario, as a job
// with scenarios sets it) across commits, dead letters in their
// scenario's group, and the merged partials give the figures computed
// here from the outcomes emitted.
func TestSinkAggregatesByScenario(t *testing.T) {
	t.Parallel()
	schema, err := wrapper.SchemaFromProtoFiles(context.Background(),
		[]string{"../native/examples/pricer/pricer.proto"}, nil, "pricer.Trade", "pricer.Price", "pricer.Quote")
	if err != nil {
		t.Fatal(err)
	}
	specs := []string{"sum(value) by underlying, scenario", "quantile(0.5, value) over scenario by underlying", "count() by scenario"}
	plan, err := aggregate.Compile(specs, aggregate.Schema{Result: schema.Result, Input: schema.Input, Scenarios: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	j, _, err := outdir.Prepare(dir, false, resultExts())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	s, err := newSink(dir, 1, []string{"in.jsonl"}, j, nil, func() int64 { return 0 }, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	s.format, s.resultType, s.agg = resultFormats["jsonl"], schema.Result, plan

	marshal := func(md protoreflect.MessageDescriptor, kv map[string]protoreflect.Value) []byte {
		m := dynamicpb.NewMessage(md)
		for k, v := range kv {
			m.Set(md.Fields().ByName(protoreflect.Name(k)), v)
		}
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	type key struct{ under, scen string }
	values := map[key][]float64{}
	dead := map[key]int{}
	unders, scens := []string{"KO", "NVDA"}, []string{"base", "up", "down"}
	for i := range 60 {
		k := key{unders[i%2], scens[i%3]}
		o := Outcome{Source: Position{Index: int64(i), Line: int64(i + 1)}, ID: fmt.Sprintf("T%02d", i), Scenario: k.scen,
			Input: marshal(schema.Input, map[string]protoreflect.Value{"underlying": protoreflect.ValueOfString(k.under)})}
		if i%11 == 5 {
			o.Dead = &DeadLetter{Kind: KindElementError, Message: "no"}
			dead[k]++
		} else {
			v := float64(i)*1.1 - 20 + 1e-9*float64(i*i)
			values[k] = append(values[k], v)
			o.Payload = marshal(schema.Result, map[string]protoreflect.Value{"value": protoreflect.ValueOfFloat64(v)})
			o.Line = []byte(fmt.Sprintf(`{"id":%q,"result":{"value":%v}}`+"\n", o.ID, v))
		}
		s.emit(o)
		if i == 25 {
			if err := s.commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.commit(); err != nil {
		t.Fatal(err)
	}
	commits := s.committed()
	if len(commits) != 2 {
		t.Fatalf("%d commits", len(commits))
	}
	for _, c := range commits {
		names := []string{}
		for _, f := range c.Files {
			names = append(names, f.Name)
			if err := outdir.CheckShard(dir, f); err != nil {
				t.Error(err)
			}
		}
		if !slices.Contains(names, outdir.PartialsName(c.Seq)) {
			t.Errorf("commit %d names %v, not its partials", c.Seq, names)
		}
	}
	infos, err := writeAggregates(Job{Output: dir}, plan, commits, ".jsonl")
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) []map[string]any {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var rows []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r map[string]any
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, r)
		}
		return rows
	}
	sum := func(xs []float64) float64 {
		acc := new(big.Float).SetPrec(2048)
		for _, x := range xs {
			acc.Add(acc, new(big.Float).SetPrec(2048).SetFloat64(x))
		}
		f, _ := acc.Float64()
		return f
	}
	rows := read(infos[0].File)
	if len(rows) != 6 {
		t.Fatalf("%s: %d rows, want 6", infos[0].File, len(rows))
	}
	for _, r := range rows {
		k := key{r["underlying"].(string), r["scenario"].(string)}
		if r["sum_value"] != sum(values[k]) || r["results"] != float64(len(values[k])) || r["dead_letters"] != float64(dead[k]) {
			t.Errorf("%v: want sum %v, %d results, %d dead letters", r, sum(values[k]), len(values[k]), dead[k])
		}
	}
	for _, r := range read(infos[1].File) {
		var totals []float64
		for _, sc := range scens {
			totals = append(totals, sum(values[key{r["underlying"].(string), sc}]))
		}
		slices.Sort(totals)
		if got := r["quantile_0_5_value"].(float64); math.Abs(got-totals[1]) > 1e-12*math.Abs(totals[1]) {
			t.Errorf("%v: want the median scenario total %v of %v", r, totals[1], totals)
		}
	}
	for _, r := range read(infos[2].File) {
		n, d := 0, 0
		for _, u := range unders {
			n += len(values[key{u, r["scenario"].(string)}])
			d += dead[key{u, r["scenario"].(string)}]
		}
		if r["count"] != float64(n) || r["dead_letters"] != float64(d) {
			t.Errorf("%v: want count %d, %d dead letters", r, n, d)
		}
	}
}
