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
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
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
	spec    join.Spec // prepared: its key's {asof:...} bound
	mapping *join.Mapping
	filter  bt.Filter
	timeout time.Duration
	// latest, with join.Layout.Latest, finds each key's latest dated row.
	latest *latest

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
	d, err := open(ctx, uri, spec, opts)
	if err != nil {
		return nil, err
	}
	return d, nil
}

func open(ctx context.Context, uri string, spec join.Spec, opts *Options) (*driver, error) {
	loc, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	if spec.Side == nil {
		return nil, fmt.Errorf("%s: no side message type to read rows into", loc)
	}
	if spec, err = spec.Prepare(); err != nil {
		return nil, fmt.Errorf("%s: %w", loc, err)
	}
	mapping, err := join.NewMapping(spec.Side, spec.Layout, spec.Optional)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", loc, err)
	}
	if err := checkFamilies(spec); err != nil {
		return nil, fmt.Errorf("%s: %w", loc, err)
	}
	var lt *latest
	if spec.Layout.Latest {
		lt = newLatest(spec.Key)
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
		spec:    spec,
		mapping: mapping,
		filter:  readFilter(spec.Family, spec.Layout.MessageColumn, spec.AsOf),
		timeout: o.ReadTimeout,
		latest:  lt,
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

// checkFamilies checks the families the spec names, and that a family
// the read is narrowed to holds the columns the layout names.
func checkFamilies(spec join.Spec) error {
	var named []string // families of the layout's columns
	if mc := spec.Layout.MessageColumn; mc != "" {
		fam, _, _ := strings.Cut(mc, ":")
		named = append(named, fam)
	}
	for _, c := range spec.Layout.Columns {
		_, col, _ := strings.Cut(c, "=")
		if fam, _, ok := strings.Cut(strings.TrimSpace(col), ":"); ok {
			named = append(named, fam)
		}
	}
	for _, fam := range append(named, spec.Family) {
		if fam == "" {
			continue
		}
		if err := checkFamily(fam); err != nil {
			return err
		}
	}
	if spec.Family != "" {
		for _, fam := range named {
			if fam != spec.Family {
				return fmt.Errorf("--join-family %s narrows the reads to that family, and the layout names a column of family %s", spec.Family, fam)
			}
		}
	}
	return nil
}

// readFilter keeps one cell per column, the latest (at or before asOf when
// set), of one family when family is set. The timestamp range comes
// before the latest-cell limit: the other way round would drop the
// snapshot's cell whenever a newer one exists.
//
// With a message column, it keeps that column's cell only; a row without
// it keeps one cell stripped of its value, so that the row is still
// returned and said to lack the column, rather than taken for absent.
func readFilter(family, messageColumn string, asOf time.Time) bt.Filter {
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
	if fam, qual, ok := strings.Cut(messageColumn, ":"); ok {
		fs = append(fs, bt.FamilyFilter(regexp.QuoteMeta(fam)), bt.ColumnFilter(regexp.QuoteMeta(qual)))
		has := bt.ChainFilters(fs...)
		return bt.ConditionFilter(has,
			bt.ChainFilters(has, bt.LatestNFilter(1)),
			bt.ChainFilters(bt.CellsPerRowLimitFilter(1), bt.StripValueFilter()))
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

// ReadRows reads keys in one ReadRows call: with a RowList, or with
// join.Layout.Latest a RowRangeList of one range per key.
func (d *driver) ReadRows(ctx context.Context, keys []string) (map[string]join.Row, error) {
	found, err := d.read(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[string]join.Row, len(found))
	var cols []string
	seen := map[string]bool{}
	for k, r := range found {
		payload, err := d.convert(r)
		out[k] = join.Row{Key: k, Payload: payload, Err: err}
		for _, items := range r {
			for _, it := range items {
				if !seen[it.Column] {
					seen[it.Column] = true
					cols = append(cols, it.Column)
				}
			}
		}
	}
	if len(cols) > 0 {
		d.mu.Lock()
		if d.columns == nil {
			slices.Sort(cols)
			d.columns = cols
		}
		d.mu.Unlock()
	}
	return out, nil
}

// read reads the rows of keys, by key: the row of the key itself, or with
// Latest the key's latest dated row.
func (d *driver) read(ctx context.Context, keys []string) (map[string]bt.Row, error) {
	// Bigtable has no empty row key, and an empty RowList would mean the
	// whole table: an empty key simply has no row.
	keys = slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == "" })
	out := make(map[string]bt.Row, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var (
		set  bt.RowSet
		add  func(bt.Row)
		pick *picker
	)
	if d.latest != nil {
		set, pick = d.latest.ranges(keys)
		if set == nil {
			return out, nil
		}
		add = pick.add
	} else {
		set = bt.RowList(keys)
		add = func(r bt.Row) { out[r.Key()] = r }
	}
	err := d.tbl.ReadRows(ctx, set, func(r bt.Row) bool {
		add(r)
		return true
	}, bt.RowFilter(d.filter))
	if err != nil {
		return nil, fmt.Errorf("ReadRows of %d keys: %w", len(keys), err)
	}
	if pick != nil {
		pick.into(out)
	}
	return out, nil
}

// Columns are the columns (FAMILY:QUALIFIER) of the first read that
// returned rows; nil before it.
func (d *driver) Columns() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.columns
}

// FieldOf names the field a column fills: the one --join-column maps it
// to, or the one its qualifier names.
func (d *driver) FieldOf(column string) string {
	_, qual, _ := strings.Cut(column, ":")
	if fd := d.mapping.Field(column, qual); fd != nil {
		return string(fd.Name())
	}
	return ""
}

// CellError is a cell that does not convert to the field its column
// fills.
type CellError struct {
	Row    string
	Column string // family:qualifier
	Value  string // the cell's bytes
	Err    error
}

func (e *CellError) Error() string {
	return fmt.Sprintf("row %q column %s: %v", e.Row, e.Column, e.Err)
}
func (e *CellError) Unwrap() error { return e.Err }

// convert turns a row into the side message.
func (d *driver) convert(r bt.Row) ([]byte, error) {
	if d.spec.Layout.MessageColumn != "" {
		return d.convertMessage(r)
	}
	return d.convertColumns(r)
}

// convertColumns fills each field from the first cell whose column fills
// it, families in name order (the client hands them over as a map),
// qualifiers in Bigtable's order within a family. A mapped field that is
// not optional must have its column.
func (d *driver) convertColumns(r bt.Row) ([]byte, error) {
	m := dynamicpb.NewMessage(d.mapping.Fields().Desc())
	set := map[protoreflect.FieldNumber]bool{}
	binary := d.spec.Layout.CellEncoding == join.EncodingBinary
	for _, fam := range slices.Sorted(maps.Keys(r)) {
		for _, it := range r[fam] {
			fd := d.mapping.Field(it.Column, strings.TrimPrefix(it.Column, fam+":"))
			if fd == nil || set[fd.Number()] {
				continue
			}
			set[fd.Number()] = true
			var err error
			if binary {
				err = join.SetBinary(m, fd, it.Value)
			} else {
				err = codec.SetString(m, fd, string(it.Value))
			}
			if err != nil {
				return nil, &CellError{Row: it.Row, Column: it.Column, Value: string(it.Value), Err: err}
			}
		}
	}
	for _, fd := range d.mapping.Required() {
		if !set[fd.Number()] {
			col, _ := d.mapping.Column(fd)
			return nil, &join.MissingColumnError{Row: r.Key(), Column: col, Want: "field " + string(fd.Name())}
		}
	}
	return codec.Marshal(m)
}

// convertMessage decodes the message column's cell.
func (d *driver) convertMessage(r bt.Row) ([]byte, error) {
	l := d.spec.Layout
	fam, _, _ := strings.Cut(l.MessageColumn, ":")
	desc := d.mapping.Fields().Desc()
	var cell *bt.ReadItem
	for i, it := range r[fam] {
		if it.Column == l.MessageColumn {
			cell = &r[fam][i]
			break
		}
	}
	if cell == nil {
		return nil, &join.MissingColumnError{Row: r.Key(), Column: l.MessageColumn, Want: fmt.Sprintf("the whole %s, in %s", desc.FullName(), l.MessageFormat)}
	}
	m := dynamicpb.NewMessage(desc)
	var err error
	switch l.MessageFormat {
	case join.MessageJSON:
		// Fields this binary's message lacks are ignored, as columns are:
		// market data is shared by many binaries.
		if err = (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(cell.Value, m); err != nil {
			err = fmt.Errorf("not a %s in JSON (protojson): %v", desc.FullName(), err)
		}
	default:
		if err = proto.Unmarshal(cell.Value, m); err != nil {
			err = fmt.Errorf("not a %s in the protobuf wire format: %v", desc.FullName(), err)
		}
	}
	if err != nil {
		return nil, &CellError{Row: cell.Row, Column: cell.Column, Value: string(cell.Value), Err: err}
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
