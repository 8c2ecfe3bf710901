package bigtable

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	bt "cloud.google.com/go/bigtable"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/join"
)

func init() {
	join.Register(Scheme, func(ctx context.Context, uri string, spec join.Spec) (join.Driver, error) {
		return Open(ctx, uri, spec, nil)
	})
}

// Options configure a driver. The zero value is usable.
type Options struct {
	// ReadTimeout bounds one ReadRows call, the client's own resends of
	// it included, so that a stalled server costs a batch a bounded wait
	// before join.Table's retries take over. Defaults to 10s; the URI's
	// read_timeout parameter overrides it.
	ReadTimeout time.Duration
	// Config configures the client. The URI's app_profile parameter sets
	// Config.AppProfile.
	Config bt.ClientConfig
	// ClientOptions are added to the client's own, e.g. option.WithGRPCConn
	// for a server in the same process (the client closes that
	// connection when it closes). When any are given and
	// Config.MetricsProvider is nil, the client's built-in metrics are
	// off: their exporter would look for Google credentials that a
	// connection to a local server has no use for. Leave
	// BIGTABLE_EMULATOR_HOST unset when passing a connection: the client
	// would dial that emulator too, and never close that connection.
	ClientOptions []option.ClientOption
}

// driver reads rows of one table for join.Table.
type driver struct {
	loc     Location
	client  *bt.Client
	tbl     *bt.Table
	fields  *codec.Fields
	filter  bt.Filter
	timeout time.Duration

	// columns are the qualifiers of the first read that returned rows,
	// for join.Table's check that they fill the side message.
	mu      sync.Mutex
	columns []string
}

// Open opens the table at uri (bigtable://PROJECT/INSTANCE/TABLE) for
// joining rows of type spec.Side, narrowed to spec.Family and read as of
// spec.AsOf. It checks that the table can be read, so that a misspelt
// name or a missing permission stops the job before it starts; a
// transient failure of that check does not, since the reads retry.
func Open(ctx context.Context, uri string, spec join.Spec, opts *Options) (join.Driver, error) {
	loc, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	if spec.Side == nil {
		return nil, fmt.Errorf("%s: no side message type to read rows into", loc)
	}
	if spec.Family != "" {
		if err := checkFamily(spec.Family); err != nil {
			return nil, fmt.Errorf("%s: %w", loc, err)
		}
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	o.ReadTimeout = cmpDuration(loc.ReadTimeout, o.ReadTimeout, 10*time.Second)
	client, err := newClient(ctx, loc, o.Config, o.ClientOptions)
	if err != nil {
		return nil, err
	}
	d := &driver{
		loc:     loc,
		client:  client,
		tbl:     client.Open(loc.Table),
		fields:  codec.NewFields(spec.Side),
		filter:  readFilter(spec.Family, spec.AsOf),
		timeout: o.ReadTimeout,
	}
	if err := d.probe(ctx); err != nil {
		client.Close()
		return nil, err
	}
	return d, nil
}

func newClient(ctx context.Context, loc Location, cfg bt.ClientConfig, opts []option.ClientOption) (*bt.Client, error) {
	if loc.AppProfile != "" {
		cfg.AppProfile = loc.AppProfile
	}
	if len(opts) > 0 && cfg.MetricsProvider == nil {
		cfg.MetricsProvider = bt.NoopMetricsProvider{}
	}
	c, err := bt.NewClientWithConfig(ctx, loc.Project, loc.Instance, cfg, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", loc, err)
	}
	return c, nil
}

func cmpDuration(ds ...time.Duration) time.Duration {
	for _, d := range ds {
		if d > 0 {
			return d
		}
	}
	return 0
}

// readFilter keeps one cell per column, the latest (at or before asOf when
// set), of one family when family is set. The timestamp range comes
// before the latest-cell limit: the other way round would drop the
// snapshot's cell whenever a newer one exists.
func readFilter(family string, asOf time.Time) bt.Filter {
	var fs []bt.Filter
	if family != "" {
		fs = append(fs, bt.FamilyFilter(regexp.QuoteMeta(family)))
	}
	if !asOf.IsZero() {
		// The range's end is exclusive and cells have millisecond
		// timestamps: a cell written at asOf's millisecond is included.
		end := bt.Time(asOf).TruncateToMilliseconds() + 1000
		fs = append(fs, bt.TimestampRangeFilterMicros(0, end))
	}
	fs = append(fs, bt.LatestNFilter(1))
	if len(fs) == 1 {
		return fs[0]
	}
	return bt.ChainFilters(fs...)
}

// probe asks for the table's sample row keys: cheap, and answered with
// NotFound or PermissionDenied when reads would be.
func (d *driver) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	_, err := d.tbl.SampleRowKeys(ctx)
	if err != nil && !IsTransient(err) {
		return fmt.Errorf("%s: %w", d.loc, err)
	}
	return nil
}

// ReadRows reads keys in one ReadRows call with a RowList.
func (d *driver) ReadRows(ctx context.Context, keys []string) (map[string]join.Row, error) {
	// Bigtable has no empty row key, and an empty RowList would mean the
	// whole table: an empty key simply has no row.
	list := make(bt.RowList, 0, len(keys))
	for _, k := range keys {
		if k != "" {
			list = append(list, k)
		}
	}
	out := make(map[string]join.Row, len(list))
	if len(list) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var quals []string
	seen := map[string]bool{}
	err := d.tbl.ReadRows(ctx, list, func(r bt.Row) bool {
		payload, err := d.convert(r)
		out[r.Key()] = join.Row{Key: r.Key(), Payload: payload, Err: err}
		for fam, items := range r {
			for _, it := range items {
				q := strings.TrimPrefix(it.Column, fam+":")
				if !seen[q] {
					seen[q] = true
					quals = append(quals, q)
				}
			}
		}
		return true
	}, bt.RowFilter(d.filter))
	if err != nil {
		return nil, fmt.Errorf("ReadRows of %d keys: %w", len(list), err)
	}
	if len(quals) > 0 {
		d.mu.Lock()
		if d.columns == nil {
			slices.Sort(quals)
			d.columns = quals
		}
		d.mu.Unlock()
	}
	return out, nil
}

// Columns are the qualifiers of the first read that returned rows; nil
// before it.
func (d *driver) Columns() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.columns
}

// CellError is a cell whose text does not convert to the field its
// qualifier names.
type CellError struct {
	Row    string
	Column string // family:qualifier
	Value  string
	Err    error
}

func (e *CellError) Error() string {
	return fmt.Sprintf("row %q column %s: %v", e.Row, e.Column, e.Err)
}
func (e *CellError) Unwrap() error { return e.Err }

// convert turns a row into the side message: each field takes the first
// cell that names it, families in name order (the client hands them over
// as a map), qualifiers in Bigtable's order within a family.
func (d *driver) convert(r bt.Row) ([]byte, error) {
	m := dynamicpb.NewMessage(d.fields.Desc())
	set := map[protoreflect.FieldNumber]bool{}
	for _, fam := range slices.Sorted(maps.Keys(r)) {
		for _, it := range r[fam] {
			fd := d.fields.Lookup(strings.TrimPrefix(it.Column, fam+":"))
			if fd == nil || set[fd.Number()] {
				continue
			}
			set[fd.Number()] = true
			if err := codec.SetString(m, fd, string(it.Value)); err != nil {
				return nil, &CellError{Row: it.Row, Column: it.Column, Value: string(it.Value), Err: err}
			}
		}
	}
	return codec.Marshal(m)
}

// IsTransient reports whether err is worth retrying: the server is
// unreachable or overloaded (Unavailable, ResourceExhausted), a read ran out
// of time (DeadlineExceeded), or a transaction conflicted (Aborted). Others
// are not: NotFound, PermissionDenied, InvalidArgument and
// FailedPrecondition stay true however often they are asked, Canceled means
// the job gave up, and Internal and Unknown may be a request the server
// cannot handle, which a retry would only send again.
func IsTransient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true // the read's own timeout; join.Table checks the job's context first
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return true
	}
	return false
}

func (d *driver) IsTransient(err error) bool { return IsTransient(err) }
func (d *driver) Describe() string           { return d.loc.String() }
func (d *driver) Close() error               { return d.client.Close() }
