package codec

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Coverage is how the columns of a table (a CSV or Parquet input, a join
// table) fill the fields of a message. A field no column fills is zero in
// every message made, and a zero that is a valid value (a dividend, a
// rate) cannot be told from a real one: such a field is either filled or
// named optional.
type Coverage struct {
	// Missing are the required fields no column fills.
	Missing []string `json:"missing_fields,omitempty"`
	// Unfilled are the optional fields no column fills.
	Unfilled []string `json:"unfilled_fields,omitempty"`
	// Unused are the columns that fill no field, besides those the key
	// or the id read.
	Unused []string `json:"unused_columns,omitempty"`
}

// Cover compares columns with the fields of msg. A field is optional when
// optional names it (by its proto or JSON name), when it is declared with
// proto3's optional, in a oneof or as a message (the message then says
// whether it was set), or when it is repeated or a map (a row may hold
// none).
// extra are columns read otherwise (the id, the key's fields): never
// unused.
func Cover(msg protoreflect.MessageDescriptor, columns, optional, extra []string) Coverage {
	fields := NewFields(msg)
	filled := map[protoreflect.FieldNumber]bool{}
	var c Coverage
	for _, col := range columns {
		if fd := fields.Lookup(col); fd != nil {
			filled[fd.Number()] = true
		} else if !slices.Contains(extra, col) {
			c.Unused = append(c.Unused, col)
		}
	}
	opt := map[protoreflect.FieldNumber]bool{}
	for _, name := range optional {
		if fd := fields.Lookup(name); fd != nil {
			opt[fd.Number()] = true
		}
	}
	fs := msg.Fields()
	for i := range fs.Len() {
		fd := fs.Get(i)
		if filled[fd.Number()] {
			continue
		}
		if opt[fd.Number()] || OptionalByItself(fd) {
			c.Unfilled = append(c.Unfilled, string(fd.Name()))
		} else {
			c.Missing = append(c.Missing, string(fd.Name()))
		}
	}
	return c
}

// OptionalByItself reports whether a field needs no column to be told
// apart from a zero: it has presence of its own (proto3 optional, a
// oneof member, a message) or is repeated or a map.
func OptionalByItself(fd protoreflect.FieldDescriptor) bool {
	return fd.HasPresence() || fd.IsList() || fd.IsMap()
}

// CheckNames checks that every name in names is a field of msg, for a
// list of optional fields a user typed.
func CheckNames(msg protoreflect.MessageDescriptor, names []string, option string) error {
	fields := NewFields(msg)
	for _, n := range names {
		if fields.Lookup(n) == nil {
			return fmt.Errorf("%s %s: not a field of %s (fields: %s)", option, n, msg.FullName(), fieldList(msg))
		}
	}
	return nil
}

// Columns returns the header, for messages: "a, b, c", or "none".
func Columns(header []string) string {
	if len(header) == 0 {
		return "none"
	}
	return strings.Join(header, ", ")
}
