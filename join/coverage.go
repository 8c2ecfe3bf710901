package join

import (
	"fmt"
	"slices"
	"sync"

	"github.com/gridrun/gridrun/codec"
)

// ColumnLister is a Driver that knows the columns of its rows: a file
// table from its header (or its rows' keys), a Bigtable table from the
// qualifiers its first read returned. Columns returns nil while they are
// not known yet.
type ColumnLister interface {
	Columns() []string
	// FieldOf names the field of the side message a column fills under
	// the table's layout (its name, or a --join-column mapping), "" for
	// none.
	FieldOf(column string) string
}

// Coverage is how a table's columns fill the side message's fields.
type Coverage struct {
	// Columns are the columns the table has (for Bigtable, those of the
	// first read's rows).
	Columns []string `json:"columns,omitempty"`
	codec.Coverage
}

// CoverageError reports a field of the side message that no column of
// the table fills: every element would be priced with its zero value.
type CoverageError struct {
	Source  string
	Side    string // the side message's full name
	Field   string
	Columns []string
	// Mapped is the column --join-column maps Field to, if any.
	Mapped string
}

func (e *CoverageError) Error() string {
	if e.Mapped != "" {
		return fmt.Sprintf("join %s: no column %s, which --join-column maps to field %s of %s (columns: %s); correct the mapping, or list the field in --join-optional",
			e.Source, e.Mapped, e.Field, e.Side, codec.Columns(e.Columns))
	}
	return fmt.Sprintf("join %s: no column fills field %s of %s (columns: %s); name it, map a column to it with --join-column, or list it in --join-optional",
		e.Source, e.Field, e.Side, codec.Columns(e.Columns))
}

// coverage checks, once the driver knows its columns, that they fill the
// side message. Its result is kept: every Lookup after a failed check
// fails with the same error, so that no call runs with the table.
type coverage struct {
	spec Spec

	mu   sync.Mutex
	done bool
	cov  Coverage
	err  error
}

// check compares the driver's columns with the side message, once they
// are known.
func (c *coverage) check(d Driver) (*Coverage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return &c.cov, c.err
	}
	l, ok := d.(ColumnLister)
	// A message column holds the whole message: its fields have no
	// columns to check.
	if !ok || c.spec.Side == nil || c.spec.Layout.MessageColumn != "" {
		c.done = true
		return nil, nil
	}
	cols := l.Columns()
	if cols == nil {
		return nil, nil
	}
	c.done = true
	var extra []string
	if c.spec.Key != nil {
		extra = c.spec.Key.Fields()
	}
	// Cover sees the fields the columns fill; the columns that fill none
	// are the unused ones, besides those the key reads.
	var filled, unused []string
	for _, col := range cols {
		if f := l.FieldOf(col); f != "" {
			filled = append(filled, f)
		} else if !slices.Contains(extra, col) {
			unused = append(unused, col)
		}
	}
	cov := codec.Cover(c.spec.Side, filled, c.spec.Optional, nil)
	cov.Unused = unused
	c.cov = Coverage{Columns: cols, Coverage: cov}
	if len(c.cov.Missing) > 0 {
		ce := &CoverageError{Source: d.Describe(), Side: string(c.spec.Side.FullName()), Field: c.cov.Missing[0], Columns: cols}
		if m, err := NewMapping(c.spec.Side, c.spec.Layout, nil); err == nil {
			if fd := m.Fields().Lookup(ce.Field); fd != nil {
				ce.Mapped, _ = m.Column(fd)
			}
		}
		c.err = ce
	}
	return &c.cov, c.err
}

// Coverage returns how the table's columns fill the side message, nil
// until the columns are known (a Bigtable table's first read).
func (t *Table) Coverage() *Coverage {
	if t.cover == nil {
		return nil
	}
	t.cover.mu.Lock()
	defer t.cover.mu.Unlock()
	if !t.cover.done || t.cover.cov.Columns == nil {
		return nil
	}
	c := t.cover.cov
	return &c
}

// checkCoverage is nil unless the table knows its columns and they leave
// a required field of the side message unfilled.
func (t *Table) checkCoverage() error {
	if t.cover == nil {
		return nil
	}
	_, err := t.cover.check(t.d)
	return err
}

// fileColumns lists a file table's columns: the header, or the keys of
// its JSON rows in the order first seen.
type fileColumns struct {
	seen map[string]bool
	cols []string
}

func (f *fileColumns) add(names ...string) {
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	for _, n := range names {
		if !f.seen[n] {
			f.seen[n] = true
			f.cols = append(f.cols, n)
		}
	}
}
