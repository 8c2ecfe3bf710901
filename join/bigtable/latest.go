package bigtable

import (
	"slices"
	"strings"
	"time"

	bt "cloud.google.com/go/bigtable"

	"github.com/gridrun/gridrun/codec"
)

// latest finds, for keys that end with the as-of date ({asof:LAYOUT} last
// in the template), the row of the same prefix with the latest date at or
// before it: a feed that writes a row per day has none for a holiday, and
// the job prices with the day before's.
//
// Each key is one range of the read, from its prefix to its own key, so
// that a batch is still one ReadRows call. Bigtable cannot limit a range
// to its last row, so the rows of a key's earlier dates are read and all
// but the latest dropped as they stream; a table that keeps a long
// history is best read with a Bigtable garbage-collection rule, or a key
// whose date has a coarser layout. Rows whose suffix is not a date of the
// layout (another key's rows under a prefix that is also this one's) are
// skipped.
type latest struct {
	layout string
	suffix string    // the as-of date, as the layout writes it
	limit  time.Time // the as-of date, read back: the latest date a row may have
}

// newLatest is the finder of key's dates; the key is bound to its as-of
// time and ends with it (join.Spec.Prepare checks both).
func newLatest(key *codec.Template) *latest {
	layout, _ := key.TrailingAsOf()
	asOf, _ := key.AsOf()
	l := &latest{layout: layout, suffix: asOf.Format(layout)}
	var err error
	if l.limit, err = time.Parse(layout, l.suffix); err != nil {
		// A layout that does not read back what it writes (a zone name,
		// say): the dates compare as text instead.
		l.limit = time.Time{}
	}
	return l
}

// ranges returns the ranges to read for keys, and the picker that keeps
// each key's latest row; a nil set when no key ends with the as-of date.
func (l *latest) ranges(keys []string) (bt.RowSet, *picker) {
	p := &picker{l: l, byPrefix: map[string]*pick{}}
	var prefixes []string
	for _, k := range keys {
		prefix, ok := strings.CutSuffix(k, l.suffix)
		if !ok {
			continue // rendered from another as-of: it has no row here
		}
		if _, dup := p.byPrefix[prefix]; !dup {
			p.byPrefix[prefix] = &pick{key: k}
			prefixes = append(prefixes, prefix)
		}
		p.maxPrefix = max(p.maxPrefix, len(prefix))
	}
	if len(prefixes) == 0 {
		return nil, p
	}
	slices.Sort(prefixes)
	// One range per key, [prefix, key], merged where they overlap (a
	// prefix that is another's start), which a read may not send.
	var rl bt.RowRangeList
	start, end := prefixes[0], prefixes[0]+l.suffix+"\x00"
	for _, pr := range prefixes[1:] {
		if pr < end {
			end = max(end, pr+l.suffix+"\x00")
			continue
		}
		rl = append(rl, bt.NewRange(start, end))
		start, end = pr, pr+l.suffix+"\x00"
	}
	rl = append(rl, bt.NewRange(start, end))
	return rl, p
}

// picker keeps, per key, the row with the latest date seen so far.
type picker struct {
	l         *latest
	byPrefix  map[string]*pick
	maxPrefix int
}

type pick struct {
	key  string // the key asked for
	date string // the best row's date, as written
	at   time.Time
	row  bt.Row
}

// add considers a row for every key whose prefix it starts with.
func (p *picker) add(r bt.Row) {
	rk := r.Key()
	for n := min(len(rk), p.maxPrefix); n >= 0; n-- {
		pk := p.byPrefix[rk[:n]]
		if pk == nil {
			continue
		}
		date := rk[n:]
		at, ok := p.l.date(date)
		if !ok {
			continue
		}
		if pk.row == nil || at.After(pk.at) || at.Equal(pk.at) && date > pk.date {
			pk.row, pk.at, pk.date = r, at, date
		}
	}
}

// date reads a row key's date, and reports whether it is one of the
// layout at or before the as-of date.
func (l *latest) date(s string) (time.Time, bool) {
	if l.limit.IsZero() {
		return time.Time{}, len(s) == len(l.suffix) && s <= l.suffix
	}
	at, err := time.Parse(l.layout, s)
	if err != nil || at.After(l.limit) {
		return time.Time{}, false
	}
	return at, true
}

// into adds each key's latest row to out, under the key asked for.
func (p *picker) into(out map[string]bt.Row) {
	for _, pk := range p.byPrefix {
		if pk.row != nil {
			out[pk.key] = pk.row
		}
	}
}
