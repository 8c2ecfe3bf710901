package join

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gridrun/gridrun/codec"
)

// Cell encodings, for Layout.CellEncoding.
const (
	// EncodingText holds a value as a CSV cell would: "101.5", "CALL".
	EncodingText = "text"
	// EncodingBinary holds numbers and bools as HBase's Bytes.toBytes
	// writes them (see DecodeBinary); what the HBase client and many
	// Java market-data writers produce.
	EncodingBinary = "binary"
)

// Message formats, for Layout.MessageFormat.
const (
	// MessageProto is the side message's protobuf wire bytes.
	MessageProto = "proto"
	// MessageJSON is the side message as protojson writes it.
	MessageJSON = "json"
)

// Layout says how a table's rows hold the side message. The zero value is
// the layout gridrun marketdata load writes unless told otherwise: one
// column per field, named after it, holding the value as text, in the row
// the key template renders.
type Layout struct {
	// CellEncoding is how a column holds its field's value: EncodingText
	// or EncodingBinary. Defaults to EncodingText. It applies to columns,
	// not to a MessageColumn.
	CellEncoding string `json:"cell_encoding,omitempty"`
	// MessageColumn, FAMILY:QUALIFIER, is the one column that holds the
	// whole side message, in MessageFormat; no other column is read.
	// Bigtable only.
	MessageColumn string `json:"message_column,omitempty"`
	// MessageFormat is MessageProto or MessageJSON. Defaults to
	// MessageProto when there is a MessageColumn.
	MessageFormat string `json:"message_format,omitempty"`
	// Columns map fields to columns named otherwise, each FIELD=COLUMN:
	// for Bigtable COLUMN is FAMILY:QUALIFIER (or a QUALIFIER of any
	// family), for a file table a header or JSON key. A field not mapped
	// is filled by the column named after it, as without a mapping.
	Columns []string `json:"columns,omitempty"`
	// Latest reads, for each key, the row whose key is the key's with the
	// latest date at or before the as-of time, rather than the row of the
	// key itself: the key template must end with {asof:LAYOUT}, whose
	// layout sorts as the dates do (e.g. 20060102). Bigtable only.
	Latest bool `json:"latest,omitempty"`
}

// WithDefaults returns the layout with its defaults filled in.
func (l Layout) WithDefaults() Layout {
	if l.CellEncoding == "" {
		l.CellEncoding = EncodingText
	}
	if l.MessageColumn != "" && l.MessageFormat == "" {
		l.MessageFormat = MessageProto
	}
	return l
}

// Check checks what the layout says on its own, with the names of the
// command-line flags in its messages; what needs the side message or the
// store is checked when the table opens.
func (l Layout) Check() error {
	switch l.CellEncoding {
	case "", EncodingText, EncodingBinary:
	default:
		return fmt.Errorf("--join-cell-encoding %q: want %s or %s", l.CellEncoding, EncodingText, EncodingBinary)
	}
	switch l.MessageFormat {
	case "", MessageProto, MessageJSON:
	default:
		return fmt.Errorf("--join-message-format %q: want %s or %s", l.MessageFormat, MessageProto, MessageJSON)
	}
	if l.MessageColumn != "" {
		fam, qual, ok := strings.Cut(l.MessageColumn, ":")
		if !ok || fam == "" || qual == "" {
			return fmt.Errorf("--join-message-column %q: want FAMILY:QUALIFIER, e.g. md:quote", l.MessageColumn)
		}
		if len(l.Columns) > 0 {
			return fmt.Errorf("--join-column maps fields to columns, and --join-message-column %s holds the whole message: give one or the other", l.MessageColumn)
		}
		if l.CellEncoding == EncodingBinary {
			return fmt.Errorf("--join-cell-encoding binary is for a column per field; --join-message-column %s holds the whole message in --join-message-format", l.MessageColumn)
		}
	} else if l.MessageFormat != "" {
		return fmt.Errorf("--join-message-format %s needs --join-message-column", l.MessageFormat)
	}
	_, err := parseColumns(l.Columns)
	return err
}

// columnMap is one FIELD=COLUMN of Layout.Columns.
type columnMap struct{ field, column string }

func parseColumns(cols []string) ([]columnMap, error) {
	var out []columnMap
	for _, c := range cols {
		field, column, ok := strings.Cut(c, "=")
		field, column = strings.TrimSpace(field), strings.TrimSpace(column)
		if !ok || field == "" || column == "" {
			return nil, fmt.Errorf("--join-column %q: want FIELD=FAMILY:QUALIFIER (Bigtable) or FIELD=HEADER (a file), e.g. spot=px:px_last", c)
		}
		for _, o := range out {
			switch {
			case o.field == field:
				return nil, fmt.Errorf("--join-column: field %s is mapped twice (to %s and %s)", field, o.column, column)
			case o.column == column:
				return nil, fmt.Errorf("--join-column: column %s is mapped to two fields (%s and %s)", column, o.field, field)
			}
		}
		out = append(out, columnMap{field, column})
	}
	return out, nil
}

// Mapping finds the field of the side message a column fills, under a
// Layout's Columns.
type Mapping struct {
	fields   *codec.Fields
	byColumn map[string]protoreflect.FieldDescriptor
	byField  map[protoreflect.FieldNumber]string
	// required are the mapped fields a row must have a column for: those
	// not optional.
	required []protoreflect.FieldDescriptor
}

// NewMapping resolves l.Columns against side; a field that side lacks is
// an error naming it and the fields side has. optional names the fields
// a row may lack (Spec.Optional).
func NewMapping(side protoreflect.MessageDescriptor, l Layout, optional []string) (*Mapping, error) {
	cols, err := parseColumns(l.Columns)
	if err != nil {
		return nil, err
	}
	m := &Mapping{fields: codec.NewFields(side), byColumn: map[string]protoreflect.FieldDescriptor{}, byField: map[protoreflect.FieldNumber]string{}}
	opt := map[protoreflect.FieldNumber]bool{}
	for _, name := range optional {
		if fd := m.fields.Lookup(name); fd != nil {
			opt[fd.Number()] = true
		}
	}
	for _, c := range cols {
		if err := codec.CheckNames(side, []string{c.field}, "--join-column"); err != nil {
			return nil, err
		}
		fd := m.fields.Lookup(c.field)
		if prev, dup := m.byField[fd.Number()]; dup {
			return nil, fmt.Errorf("--join-column: field %s is mapped twice (to %s and %s)", fd.Name(), prev, c.column)
		}
		m.byColumn[c.column] = fd
		m.byField[fd.Number()] = c.column
		if !opt[fd.Number()] && !codec.OptionalByItself(fd) {
			m.required = append(m.required, fd)
		}
	}
	return m, nil
}

// Field returns the field the column fills, or nil: the field it is
// mapped to, or else the field its bare name (a Bigtable qualifier
// without its family) names, unless that field is mapped to another
// column.
func (m *Mapping) Field(column, bare string) protoreflect.FieldDescriptor {
	if fd := m.byColumn[column]; fd != nil {
		return fd
	}
	if fd := m.byColumn[bare]; fd != nil { // mapped to a qualifier of any family
		return fd
	}
	fd := m.fields.Lookup(bare)
	if fd == nil {
		return nil
	}
	if _, mapped := m.byField[fd.Number()]; mapped {
		return nil
	}
	return fd
}

// Column returns the column fd is mapped to, if any.
func (m *Mapping) Column(fd protoreflect.FieldDescriptor) (string, bool) {
	c, ok := m.byField[fd.Number()]
	return c, ok
}

// Required are the mapped fields that are not optional: a row without
// their column is an error rather than a zero.
func (m *Mapping) Required() []protoreflect.FieldDescriptor { return slices.Clip(m.required) }

// Fields returns the side message's fields.
func (m *Mapping) Fields() *codec.Fields { return m.fields }

// MissingColumnError is a row without the column a field is mapped to,
// or without the column holding the whole message.
type MissingColumnError struct {
	Row    string
	Column string
	// Want says what the column was to hold: "field spot", or "the whole
	// pricer.Quote (proto)".
	Want string
}

func (e *MissingColumnError) Error() string {
	return fmt.Sprintf("row %q has no column %s (want %s)", e.Row, e.Column, e.Want)
}
