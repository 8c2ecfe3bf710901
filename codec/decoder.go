package codec

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// DecoderOptions configure a Decoder. The zero value is usable.
type DecoderOptions struct {
	// IDField names the field holding the element id. Defaults to "id".
	IDField string
	// Key renders each element's join key; nil when the job joins nothing.
	Key *Template
	// IgnoreUnknown accepts JSON keys and CSV columns that are not fields of
	// the input message, instead of treating them as mistakes.
	IgnoreUnknown bool
}

// Element is a decoded row.
type Element struct {
	ID string
	// Key is the join key, "" when there is no join.
	Key string
	// Payload is the serialized input message.
	Payload []byte
}

// Decoder turns the rows of one input into elements of one message type.
// It is safe for concurrent use.
type Decoder struct {
	b      *ElementBuilder
	rows   RowDecoder
	format Format
}

// NewDecoder checks the options against the message type and, for CSV and
// Parquet, the columns, so that a misconfigured job stops before any
// subprocess starts.
func NewDecoder(msg protoreflect.MessageDescriptor, in Reader, format Format, opts DecoderOptions) (*Decoder, error) {
	if opts.IDField == "" {
		opts.IDField = "id"
	}
	b := &ElementBuilder{fields: NewFields(msg), opts: opts, name: in.Name()}
	idFD := b.fields.Lookup(opts.IDField)
	if idFD != nil && (idFD.IsList() || idFD.IsMap() || idFD.Kind() == protoreflect.MessageKind || idFD.Kind() == protoreflect.BytesKind) {
		return nil, fmt.Errorf("%s: id field %q of %s is not a string or number", b.name, opts.IDField, msg.FullName())
	}
	spec, err := formatFor(b.name, format)
	if err != nil {
		return nil, err
	}
	rows, err := spec.NewDecoder(b, in)
	if err != nil {
		return nil, err
	}
	return &Decoder{b: b, rows: rows, format: format}, nil
}

// An ElementBuilder holds what every format's decoding shares: the input
// message, the options, and the last steps from a decoded row to an
// element. A format's NewDecoder is given one.
type ElementBuilder struct {
	fields *Fields
	opts   DecoderOptions
	name   string
}

// Fields are the input message's fields.
func (b *ElementBuilder) Fields() *Fields { return b.fields }

// Options are the decoder's options, with their defaults applied.
func (b *ElementBuilder) Options() DecoderOptions { return b.opts }

// Name is the input's name in messages.
func (b *ElementBuilder) Name() string { return b.name }

// CheckKey checks that the join key, if any, names only fields of the
// message or of extra, the names a row carries besides them.
func (b *ElementBuilder) CheckKey(extra ...string) error {
	if b.opts.Key == nil {
		return nil
	}
	for _, f := range b.opts.Key.Fields() {
		if b.fields.Lookup(f) == nil && !slices.Contains(extra, f) {
			msg := b.fields.Desc()
			return fmt.Errorf("%s: join key %q: %q is not a field of %s (fields: %s)", b.name, b.opts.Key, f, msg.FullName(), fieldList(msg))
		}
	}
	return nil
}

func fieldList(msg protoreflect.MessageDescriptor) string {
	var names []string
	fs := msg.Fields()
	for i := range fs.Len() {
		names = append(names, string(fs.Get(i).Name()))
	}
	return strings.Join(names, ", ")
}

var marshalOpts = proto.MarshalOptions{Deterministic: true}

// Marshal serializes m deterministically, so that the same row gives the
// same bytes in every run.
func Marshal(m proto.Message) ([]byte, error) { return marshalOpts.Marshal(m) }

// Decode turns a row into an element. Its errors are *RowError.
func (d *Decoder) Decode(row Row) (Element, error) {
	err := row.Err
	if err == nil {
		var e Element
		if e, err = d.rows.Decode(row); err == nil {
			return e, nil
		}
	}
	re := rowError(d.b.name, row.Line, err)
	if id, ok := d.rows.ID(row); ok {
		re.ID = id
	}
	return Element{}, re
}

// Build extracts the id and the key of a decoded row, whose named values
// get returns, and serializes its message m.
func (b *ElementBuilder) Build(m proto.Message, get func(string) (string, bool)) (Element, error) {
	e, err := b.Identify(get)
	if err != nil {
		return e, err
	}
	p, err := Marshal(m)
	if err != nil {
		return e, err
	}
	e.Payload = p
	return e, nil
}

// Identify reads an element's id and renders its key, for a format that
// has the payload already.
func (b *ElementBuilder) Identify(get func(string) (string, bool)) (Element, error) {
	var e Element
	id, ok := get(b.opts.IDField)
	if !ok || id == "" {
		return e, &FieldError{Field: b.opts.IDField, Msg: "missing id"}
	}
	// Ids are compared as bytes but written as JSON, which would turn
	// every invalid byte into U+FFFD: two ids differing only there would
	// become one.
	if !utf8.ValidString(id) {
		return e, invalidID(b.opts.IDField)
	}
	e.ID = id
	if b.opts.Key != nil {
		key, err := b.opts.Key.Render(get)
		if err != nil {
			return e, err
		}
		e.Key = key
	}
	return e, nil
}

func invalidID(field string) error {
	return &FieldError{Field: field, Msg: "id is not valid UTF-8: ids must be text, since results and dead letters carry them as JSON strings"}
}

// FieldText returns the text form of a singular scalar field, as a key
// template or an id uses it.
func FieldText(m protoreflect.Message, fd protoreflect.FieldDescriptor) (string, bool) {
	if fd.IsList() || fd.IsMap() {
		return "", false
	}
	return valueText(fd, m.Get(fd))
}

// valueText is FieldText of the value v of the singular field fd.
func valueText(fd protoreflect.FieldDescriptor, v protoreflect.Value) (string, bool) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return v.String(), true
	case protoreflect.BoolKind:
		return strconv.FormatBool(v.Bool()), true
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.FormatInt(v.Int(), 10), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.FormatUint(v.Uint(), 10), true
	case protoreflect.FloatKind:
		return strconv.FormatFloat(v.Float(), 'g', -1, 32), true
	case protoreflect.DoubleKind:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64), true
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name()), true
		}
		return strconv.Itoa(int(v.Enum())), true
	}
	return "", false
}

// ElementJSON renders a row as given, for the dead letters: the JSON line
// itself, a CSV row as an object of its cells, a Parquet row as an object
// of its columns, a protobuf record in protobuf's JSON mapping. What cannot
// be rendered so is a JSON string.
func (d *Decoder) ElementJSON(row Row) json.RawMessage {
	return ElementJSON(row, d.format, d.b.fields.Desc())
}

// ElementJSON is Decoder.ElementJSON for rows that failed before a Decoder
// existed; msg may be nil.
func ElementJSON(row Row, format Format, msg protoreflect.MessageDescriptor) json.RawMessage {
	if spec, ok := lookup(format); ok && spec.ElementJSON != nil {
		return spec.ElementJSON(row, msg)
	}
	return json.RawMessage(`null`)
}
