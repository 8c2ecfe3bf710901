package codec

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
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
	fields  *Fields
	opts    DecoderOptions
	name    string
	format  Format
	idFD    protoreflect.FieldDescriptor // nil when the id is not a message field
	header  []string                     // CSV and Parquet
	columns []protoreflect.FieldDescriptor
	idCol   int
	// fast holds *fastJSON decoders of a flat message's JSON lines, one per
	// goroutine at a time; nil when the message is not flat.
	fast *sync.Pool
}

// NewDecoder checks the options against the message type and, for CSV and
// Parquet, the columns, so that a misconfigured job stops before any
// subprocess starts.
func NewDecoder(msg protoreflect.MessageDescriptor, in Reader, format Format, opts DecoderOptions) (*Decoder, error) {
	if opts.IDField == "" {
		opts.IDField = "id"
	}
	d := &Decoder{fields: NewFields(msg), opts: opts, name: in.Name(), format: format, idCol: -1}
	d.idFD = d.fields.Lookup(opts.IDField)
	if d.idFD != nil && (d.idFD.IsList() || d.idFD.IsMap() || d.idFD.Kind() == protoreflect.MessageKind || d.idFD.Kind() == protoreflect.BytesKind) {
		return nil, fmt.Errorf("%s: id field %q of %s is not a string or number", d.name, opts.IDField, msg.FullName())
	}
	// Fields the rows themselves may carry besides the message's.
	var extra []string
	switch format {
	case CSV:
		extra = in.Header()
		d.header = extra
		d.columns = make([]protoreflect.FieldDescriptor, len(extra))
		for i, col := range extra {
			if col == opts.IDField {
				d.idCol = i
			}
			fd := d.fields.Lookup(col)
			if fd == nil && col != opts.IDField && !opts.IgnoreUnknown {
				return nil, fmt.Errorf("%s:1: column %q is not a field of %s (fields: %s)", d.name, col, msg.FullName(), fieldList(msg))
			}
			d.columns[i] = fd
		}
		if d.idCol < 0 {
			return nil, fmt.Errorf("%s:1: no id column %q in the header; name the id column with --id-field", d.name, opts.IDField)
		}
	case Parquet:
		if err := parquetFields(d, in); err != nil {
			return nil, err
		}
		extra = d.header
	case JSONL:
		extra = []string{opts.IDField}
		if newFastJSON(msg, opts) != nil {
			d.fast = &sync.Pool{New: func() any { return newFastJSON(msg, opts) }}
		}
	case Delimited:
		if d.idFD == nil {
			return nil, fmt.Errorf("%s: id field %q is not a field of %s (fields: %s)", d.name, opts.IDField, msg.FullName(), fieldList(msg))
		}
	}
	if opts.Key != nil {
		for _, f := range opts.Key.Fields() {
			// A CSV row renders its key from its cells: a field of the
			// message without a column would be missing from every row.
			if format == CSV && !slices.Contains(d.header, f) {
				return nil, fmt.Errorf("%s:1: join key %q: no column %q (columns: %s)", d.name, opts.Key, f, strings.Join(d.header, ", "))
			}
			if d.fields.Lookup(f) == nil && !slices.Contains(extra, f) && !(format == JSONL && opts.IgnoreUnknown) {
				return nil, fmt.Errorf("%s: join key %q: %q is not a field of %s (fields: %s)", d.name, opts.Key, f, msg.FullName(), fieldList(msg))
			}
		}
	}
	return d, nil
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
	if row.Err != nil {
		re := rowError(d.name, row.Line, row.Err)
		re.ID = d.idOf(row)
		return Element{}, re
	}
	var (
		e   Element
		err error
	)
	switch d.format {
	case JSONL:
		e, err = d.decodeJSON(row.Data)
	case CSV:
		e, err = d.decodeCSV(row.Cells)
	case Delimited:
		e, err = d.decodePB(row.Data)
	case Parquet:
		e, err = d.decodeParquet(row.parquet)
	}
	if err != nil {
		re := rowError(d.name, row.Line, err)
		re.ID = d.idOf(row)
		return Element{}, re
	}
	return e, nil
}

// idOf reads the id of a row that did not decode, or returns "" when the
// id itself cannot be read. Only failed rows come here, so it takes the
// slow paths.
func (d *Decoder) idOf(row Row) string {
	var (
		id string
		ok bool
	)
	switch d.format {
	case JSONL:
		var obj map[string]json.RawMessage
		if json.Unmarshal(row.Data, &obj) == nil {
			id, ok = JSONKeyText(obj[d.opts.IDField])
		}
	case CSV:
		if d.idCol < len(row.Cells) {
			id, ok = row.Cells[d.idCol], true
		}
	case Parquet:
		if row.parquet != nil {
			id, ok = row.parquet.text(row.parquet.split(), d.opts.IDField)
		}
	case Delimited:
		m := dynamicpb.NewMessage(d.fields.Desc())
		if d.idFD != nil && proto.Unmarshal(row.Data, m) == nil && m.Has(d.idFD) {
			id, ok = FieldText(m, d.idFD)
		}
	}
	if !ok {
		return ""
	}
	return id
}

func (d *Decoder) decodeJSON(line []byte) (Element, error) {
	if d.fast != nil {
		f := d.fast.Get().(*fastJSON)
		payload, ok := f.decode(line, d.opts.IgnoreUnknown)
		if ok {
			e, err := d.identify(f.text)
			if err == nil {
				e.Payload = payload
				d.fast.Put(f)
				return e, nil
			}
		}
		d.fast.Put(f)
		// Declined: the general path decodes the row, or says what is wrong.
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return Element{}, fmt.Errorf("not a JSON object: %v", err)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same row fails the same way every time
	m := dynamicpb.NewMessage(d.fields.Desc())
	for _, k := range keys {
		fd := d.fields.Lookup(k)
		if fd == nil {
			if k == d.opts.IDField || d.opts.IgnoreUnknown {
				continue
			}
			return Element{}, &FieldError{Field: k, Msg: "not a field of " + string(d.fields.Desc().FullName())}
		}
		if err := SetJSON(m, fd, obj[k]); err != nil {
			return Element{}, err
		}
	}
	get := func(name string) (string, bool) { return JSONKeyText(obj[name]) }
	return d.finish(m, get)
}

func (d *Decoder) decodeCSV(cells []string) (Element, error) {
	m := dynamicpb.NewMessage(d.fields.Desc())
	for i, fd := range d.columns {
		if fd == nil {
			continue
		}
		if err := SetString(m, fd, cells[i]); err != nil {
			return Element{}, err
		}
	}
	get := func(name string) (string, bool) {
		i := slices.Index(d.header, name)
		if i < 0 || cells[i] == "" {
			return "", false
		}
		return cells[i], true
	}
	return d.finish(m, get)
}

func (d *Decoder) decodeParquet(row *parquetRow) (Element, error) {
	if row == nil {
		return Element{}, errors.New("not a row of a Parquet file")
	}
	m := dynamicpb.NewMessage(d.fields.Desc())
	cols := row.split()
	if err := row.set(m, d.columns, cols); err != nil {
		return Element{}, err
	}
	return d.finish(m, func(name string) (string, bool) { return row.text(cols, name) })
}

func (d *Decoder) decodePB(data []byte) (Element, error) {
	m := dynamicpb.NewMessage(d.fields.Desc())
	if err := proto.Unmarshal(data, m); err != nil {
		return Element{}, fmt.Errorf("not a %s: %v", d.fields.Desc().FullName(), err)
	}
	e, err := d.finish(m, func(name string) (string, bool) {
		fd := d.fields.Lookup(name)
		if fd == nil || !m.Has(fd) {
			return "", false
		}
		return FieldText(m, fd)
	})
	e.Payload = data // passed through untouched
	return e, err
}

// finish extracts the id and the key and serializes the message.
func (d *Decoder) finish(m *dynamicpb.Message, get func(string) (string, bool)) (Element, error) {
	e, err := d.identify(get)
	if err != nil {
		return e, err
	}
	if d.format != Delimited {
		b, err := Marshal(m)
		if err != nil {
			return e, err
		}
		e.Payload = b
	}
	return e, nil
}

// identify reads an element's id and renders its key.
func (d *Decoder) identify(get func(string) (string, bool)) (Element, error) {
	var e Element
	id, ok := get(d.opts.IDField)
	if !ok || id == "" {
		return e, &FieldError{Field: d.opts.IDField, Msg: "missing id"}
	}
	e.ID = id
	if d.opts.Key != nil {
		key, err := d.opts.Key.Render(get)
		if err != nil {
			return e, err
		}
		e.Key = key
	}
	return e, nil
}

// FieldText returns the text form of a singular scalar field, as a key
// template or an id uses it.
func FieldText(m protoreflect.Message, fd protoreflect.FieldDescriptor) (string, bool) {
	if fd.IsList() || fd.IsMap() {
		return "", false
	}
	v := m.Get(fd)
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
	return ElementJSON(row, d.format, d.fields.Desc())
}

// ElementJSON is Decoder.ElementJSON for rows that failed before a Decoder
// existed; msg may be nil.
func ElementJSON(row Row, format Format, msg protoreflect.MessageDescriptor) json.RawMessage {
	switch format {
	case JSONL:
		if json.Valid(row.Data) {
			return json.RawMessage(slices.Clone(row.Data))
		}
		b, _ := json.Marshal(string(row.Data))
		return b
	case CSV:
		obj := make([]byte, 0, 64)
		obj = append(obj, '{')
		for i, c := range row.Cells {
			name := fmt.Sprintf("column %d", i+1)
			if i < len(row.Header) {
				name = row.Header[i]
			}
			if i > 0 {
				obj = append(obj, ',')
			}
			k, _ := json.Marshal(name)
			v, _ := json.Marshal(c)
			obj = append(append(append(obj, k...), ':'), v...)
		}
		return append(obj, '}')
	case Delimited:
		if msg != nil {
			m := dynamicpb.NewMessage(msg)
			if proto.Unmarshal(row.Data, m) == nil {
				if b, err := protojson.Marshal(m); err == nil {
					return compact(b)
				}
			}
		}
		b, _ := json.Marshal(row.Data) // base64
		return b
	case Parquet:
		if row.parquet != nil {
			return row.parquet.JSON()
		}
	}
	return json.RawMessage(`null`)
}
