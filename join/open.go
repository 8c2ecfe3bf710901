package join

import (
	"context"
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
		d, err := OpenFile(uri, spec.Side, spec.Key)
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

func prefixAll(ss []string) string {
	var b strings.Builder
	for _, s := range ss {
		b.WriteString(", " + s)
	}
	return b.String()
}
