package join_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/gridrun/gridrun/join"
)

// A file table is checked when it opens: every field of the side message
// needs a column unless optional.
func TestOpenFileChecksColumnsFillTheSideMessage(t *testing.T) {
	t.Parallel()
	spec := join.Spec{Side: quoteDesc(t), Key: tmpl(t, "{underlying}")}
	for name, data := range map[string]string{
		"q.csv":   "underlying,spot,vol,rate,div\nAAPL,1,0.2,0.01,0.02\n",
		"q.jsonl": `{"underlying":"AAPL","spot":1,"vol":0.2,"rate":0.01,"div":0.02}` + "\n" + `{"underlying":"KO","spot":1}` + "\n",
	} {
		path := write(t, name, data)
		_, err := join.Open(context.Background(), path, spec, nil)
		var ce *join.CoverageError
		if !errors.As(err, &ce) || ce.Field != "dividend" || !slices.Contains(ce.Columns, "div") {
			t.Fatalf("%s: err = %v, want a CoverageError for dividend", name, err)
		}
		contains(t, err, "join "+path+": no column fills field dividend of pricer.Quote (columns: ", "); name it, map a column to it with --join-column, or list it in --join-optional")

		opt := spec
		opt.Optional = []string{"dividend"}
		tab, err := join.Open(context.Background(), path, opt, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c := tab.Coverage()
		if c == nil || !slices.Equal(c.Unused, []string{"div"}) || !slices.Equal(c.Unfilled, []string{"dividend"}) {
			t.Errorf("%s: coverage %+v", name, c)
		}
		tab.Close()
	}
}

// lazyColumns is a store that learns its columns from its first read, as
// Bigtable does.
type lazyColumns struct {
	*fakeDriver
	cols []string
	mu   sync.Mutex
	read bool
}

func (d *lazyColumns) ReadRows(ctx context.Context, keys []string) (map[string]join.Row, error) {
	rows, err := d.fakeDriver.ReadRows(ctx, keys)
	d.mu.Lock()
	d.read = d.read || len(rows) > 0
	d.mu.Unlock()
	return rows, err
}

func (d *lazyColumns) Columns() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.read {
		return nil
	}
	return d.cols
}

// FieldOf names columns after the fields of pricer.Quote they are.
func (d *lazyColumns) FieldOf(col string) string {
	if slices.Contains([]string{"underlying", "spot", "vol", "rate", "dividend"}, col) {
		return col
	}
	return ""
}

// A store's columns are checked after the first read that returns rows:
// that Lookup and every later one fail, so that no call runs with them.
func TestLookupChecksColumnsOnceKnown(t *testing.T) {
	t.Parallel()
	d := &lazyColumns{fakeDriver: newFake("k"), cols: []string{"spot", "vol", "rate", "div"}}
	join.Register("lazytest", func(context.Context, string, join.Spec) (join.Driver, error) { return d, nil })
	tab, err := join.Open(context.Background(), "lazytest://t", join.Spec{Side: quoteDesc(t), Key: tmpl(t, "{underlying}")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	if rows, err := tab.Lookup(context.Background(), []string{"none"}); err != nil || len(rows) != 0 {
		t.Fatalf("a read without rows: %v %v", rows, err)
	}
	for range 2 {
		_, err := tab.Lookup(context.Background(), []string{"k"})
		var ce *join.CoverageError
		if !errors.As(err, &ce) || ce.Field != "underlying" {
			t.Fatalf("err = %v, want a CoverageError for underlying", err)
		}
	}
}
