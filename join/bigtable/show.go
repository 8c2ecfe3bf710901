package bigtable

import (
	"context"
	"maps"
	"slices"

	bt "cloud.google.com/go/bigtable"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/join"
)

// RowView is one row as a join reads it: what a user looks at when a join
// finds nothing, or finds something else than expected.
type RowView struct {
	// Key is the row key read: the key asked for, or with
	// join.Layout.Latest the key of its latest dated row.
	Key string
	// Cells are the cells the join reads, families in name order: the
	// latest of each column at or before the as-of time, of the family
	// and the message column the spec narrows the read to.
	Cells []bt.ReadItem
	// Message is the side message the row becomes; nil when Err says why
	// it does not.
	Message *dynamicpb.Message
	Err     error
}

// Show reads the row of key, the key a job's template renders, as a join
// of spec would, in one ReadRows call. It returns nil and no error when
// there is no such row.
func Show(ctx context.Context, uri, key string, spec join.Spec, opts *Options) (*RowView, error) {
	d, err := open(ctx, uri, spec, opts)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	rows, err := d.read(ctx, []string{key})
	if err != nil {
		return nil, err
	}
	r, ok := rows[key]
	if !ok {
		return nil, nil
	}
	v := &RowView{Key: r.Key()}
	for _, fam := range slices.Sorted(maps.Keys(r)) {
		v.Cells = append(v.Cells, r[fam]...)
	}
	payload, err := d.convert(r)
	if err != nil {
		v.Err = err
		return v, nil
	}
	m := dynamicpb.NewMessage(d.mapping.Fields().Desc())
	if err := proto.Unmarshal(payload, m); err != nil {
		return nil, err
	}
	v.Message = m
	return v, nil
}
