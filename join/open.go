package join

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gridrun/gridrun/codec"
)

// Spec is what a driver needs to know of the job to read rows.
type Spec struct {
	// Side is the message type rows become.
	Side protoreflect.MessageDescriptor
	// Key renders an element's key; file tables render their rows' keys
	// with it too.
	Key *codec.Template
	// Family narrows a read to one column family, where the store has them.
	Family string
	// AsOf reads the latest values at or before this time; zero reads the
	// latest.
	AsOf time.Time
	// Optional names fields of Side that may stay without a column: each
	// other field must be filled by a column of the table (see Cover).
	Optional []string
	// Layout says how the table's rows hold Side; the zero value is the
	// layout gridrun marketdata load writes by default.
	Layout Layout
}

// Prepare checks the spec against itself and binds the key template's
// {asof:...} parts to AsOf; drivers open a prepared spec. A template that
// renders the as-of date needs an as-of time, and Latest needs a template
// that ends with one.
func (s Spec) Prepare() (Spec, error) {
	if err := s.Layout.Check(); err != nil {
		return s, err
	}
	s.Layout = s.Layout.WithDefaults()
	if s.Key == nil {
		if s.Layout.Latest {
			return s, errors.New("--join-latest needs a key template ending with {asof:LAYOUT}")
		}
		return s, nil
	}
	if s.Key.UsesAsOf() {
		if _, bound := s.Key.AsOf(); !bound {
			if s.AsOf.IsZero() {
				return s, fmt.Errorf("join key %q renders the as-of date, and the join has no as-of time", s.Key)
			}
			s.Key = s.Key.WithAsOf(s.AsOf)
		}
	}
	if _, ok := s.Key.TrailingAsOf(); s.Layout.Latest && !ok {
		return s, fmt.Errorf("--join-latest: join key %q must end with {asof:LAYOUT}, e.g. EQ#{underlying}#{asof:20060102}: the latest row is found among the key's dates", s.Key)
	}
	return s, nil
}

// Opener opens a driver for a source URI of its scheme.
type Opener func(ctx context.Context, uri string, spec Spec) (Driver, error)

var (
	mu      sync.RWMutex
	openers = map[string]Opener{}
)

// Register makes Open handle URIs of scheme ("bigtable" for
// bigtable://...). Driver packages call it from init, so that importing
// them is all a program does to use them.
func Register(scheme string, o Opener) {
	mu.Lock()
	defer mu.Unlock()
	openers[scheme] = o
}

// Open opens the table at uri: a local CSV or JSONL file (a path or a
// file:// URI), or a URI of a registered scheme.
func Open(ctx context.Context, uri string, spec Spec, opts *Options) (*Table, error) {
	scheme, _, found := strings.Cut(uri, "://")
	if !found || scheme == "file" {
		// Said rather than ignored: a job that asked for a snapshot must
		// not price the file's only one without knowing.
		if spec.Family != "" || !spec.AsOf.IsZero() {
			return nil, fmt.Errorf("join source %s: a file table has no column families or timestamps to read as of", uri)
		}
		if err := checkFileLayout(uri, spec); err != nil {
			return nil, err
		}
		spec, err := spec.Prepare()
		if err != nil {
			return nil, fmt.Errorf("join source %s: %w", uri, err)
		}
		d, err := OpenFile(uri, spec)
		if err != nil {
			return nil, err
		}
		return newCheckedTable(d, spec, opts)
	}
	mu.RLock()
	o := openers[scheme]
	known := slices.Sorted(maps.Keys(openers))
	mu.RUnlock()
	if o == nil {
		return nil, fmt.Errorf("join source %s: no driver for %s:// (known: file%s)", uri, scheme, prefixAll(known))
	}
	spec, err := spec.Prepare()
	if err != nil {
		return nil, fmt.Errorf("join source %s: %w", uri, err)
	}
	d, err := o(ctx, uri, spec)
	if err != nil {
		return nil, err
	}
	return newCheckedTable(d, spec, opts)
}

// newCheckedTable is a Table that checks the driver's columns against
// spec's side message: now, when the driver knows them (a file), or after
// the first read that returns rows (Bigtable).
func newCheckedTable(d Driver, spec Spec, opts *Options) (*Table, error) {
	t := NewTable(d, opts)
	t.cover = &coverage{spec: spec}
	if err := t.checkCoverage(); err != nil {
		d.Close()
		return nil, err
	}
	return t, nil
}

// checkFileLayout refuses what a file table cannot be: a file's cells
// are text, and its rows are keyed by their own fields, not by dates.
func checkFileLayout(uri string, spec Spec) error {
	l := spec.Layout
	switch {
	case l.CellEncoding == EncodingBinary:
		return fmt.Errorf("join source %s: a file table holds text; --join-cell-encoding binary is for Bigtable", uri)
	case l.MessageColumn != "" || l.MessageFormat != "":
		return fmt.Errorf("join source %s: --join-message-column is for Bigtable; a file table has a column per field (map them with --join-column)", uri)
	case l.Latest:
		return fmt.Errorf("join source %s: --join-latest is for Bigtable, whose row keys carry dates; a file table is keyed by its rows' fields", uri)
	case spec.Key != nil && spec.Key.UsesAsOf():
		return fmt.Errorf("join source %s: join key %q renders the as-of date, and a file table's rows are keyed by their own fields", uri, spec.Key)
	}
	return nil
}

func prefixAll(ss []string) string {
	var b strings.Builder
	for _, s := range ss {
		b.WriteString(", " + s)
	}
	return b.String()
}
