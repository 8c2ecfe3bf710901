package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Fields finds a message's fields by their proto name or JSON name.
type Fields struct {
	desc   protoreflect.MessageDescriptor
	byName map[string]protoreflect.FieldDescriptor
}

// NewFields indexes the fields of desc.
func NewFields(desc protoreflect.MessageDescriptor) *Fields {
	f := &Fields{desc: desc, byName: map[string]protoreflect.FieldDescriptor{}}
	fs := desc.Fields()
	for i := range fs.Len() {
		fd := fs.Get(i)
		f.byName[string(fd.Name())] = fd
		f.byName[fd.JSONName()] = fd
	}
	return f
}

// Desc returns the message type.
func (f *Fields) Desc() protoreflect.MessageDescriptor { return f.desc }

// Lookup returns the field called name, or nil.
func (f *Fields) Lookup(name string) protoreflect.FieldDescriptor { return f.byName[name] }

// SetString sets field fd of m from its text form, as found in a CSV cell or
// a Bigtable cell. An empty string leaves the field unset.
func SetString(m protoreflect.Message, fd protoreflect.FieldDescriptor, s string) error {
	if s == "" {
		return nil
	}
	if fd.IsList() || fd.IsMap() || fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		// Composite values are written as JSON in text columns; a bare
		// string is a JSON string (a Timestamp, a Duration, a wrapper).
		raw := []byte(s)
		if !json.Valid(raw) || !(s[0] == '{' || s[0] == '[') {
			raw, _ = json.Marshal(s)
		}
		return setComposite(m, fd, raw)
	}
	v, err := parseScalar(fd, s)
	if err != nil {
		return &FieldError{Field: string(fd.Name()), Msg: err.Error()}
	}
	m.Set(fd, v)
	return nil
}

// The typed setters below set a field from a value that already has a type
// (a Parquet column's) with the outcome SetJSON has on the value's JSON:
// the kinds that match are set directly, everything else goes through the
// value's text, so that a value fails or converts the same way in every
// format.

// setInt sets fd from a signed integer.
func setInt(m protoreflect.Message, fd protoreflect.FieldDescriptor, n int64) error {
	if !fd.IsList() && !fd.IsMap() {
		switch fd.Kind() {
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			m.Set(fd, protoreflect.ValueOfInt64(n))
			return nil
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			if n == int64(int32(n)) {
				m.Set(fd, protoreflect.ValueOfInt32(int32(n)))
				return nil
			}
		case protoreflect.DoubleKind:
			m.Set(fd, protoreflect.ValueOfFloat64(float64(n))) // rounds as ParseFloat does
			return nil
		}
	}
	return SetJSON(m, fd, strconv.AppendInt(nil, n, 10))
}

// setUint sets fd from an unsigned integer.
func setUint(m protoreflect.Message, fd protoreflect.FieldDescriptor, n uint64) error {
	if !fd.IsList() && !fd.IsMap() {
		switch fd.Kind() {
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			m.Set(fd, protoreflect.ValueOfUint64(n))
			return nil
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
			if n == uint64(uint32(n)) {
				m.Set(fd, protoreflect.ValueOfUint32(uint32(n)))
				return nil
			}
		}
	}
	return SetJSON(m, fd, strconv.AppendUint(nil, n, 10))
}

// setFloat sets fd from a floating-point number of the given size in bits.
// A float32 goes to a double field through its shortest text, as it would
// from a JSON file written from it: 0.1, not 0.10000000149011612.
func setFloat(m protoreflect.Message, fd protoreflect.FieldDescriptor, f float64, bits int) error {
	if !fd.IsList() && !fd.IsMap() {
		switch {
		case fd.Kind() == protoreflect.DoubleKind && bits == 64:
			m.Set(fd, protoreflect.ValueOfFloat64(f))
			return nil
		case fd.Kind() == protoreflect.FloatKind && bits == 32:
			m.Set(fd, protoreflect.ValueOfFloat32(float32(f)))
			return nil
		}
	}
	return SetJSON(m, fd, appendJSONFloat(nil, f, bits))
}

// setBool sets fd from a boolean.
func setBool(m protoreflect.Message, fd protoreflect.FieldDescriptor, b bool) error {
	if fd.Kind() == protoreflect.BoolKind && !fd.IsList() && !fd.IsMap() {
		m.Set(fd, protoreflect.ValueOfBool(b))
		return nil
	}
	return SetJSON(m, fd, strconv.AppendBool(nil, b))
}

// setBytes sets fd from raw bytes: a bytes field takes them as they are,
// any other field takes them as text.
func setBytes(m protoreflect.Message, fd protoreflect.FieldDescriptor, b []byte) error {
	if fd.Kind() == protoreflect.BytesKind && !fd.IsList() && !fd.IsMap() {
		m.Set(fd, protoreflect.ValueOfBytes(bytes.Clone(b)))
		return nil
	}
	return setText(m, fd, string(b))
}

// setText sets fd from a string value as SetJSON sets it from a JSON
// string: "" is a value, which a string field takes and a number field
// refuses, not the missing value of an empty CSV cell. A message, list or
// map field also takes JSON text, as from a CSV cell.
func setText(m protoreflect.Message, fd protoreflect.FieldDescriptor, s string) error {
	if fd.IsList() || fd.IsMap() || fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		if s == "" {
			return setComposite(m, fd, []byte(`""`))
		}
		return SetString(m, fd, s)
	}
	v, err := parseScalar(fd, s)
	if err != nil {
		return &FieldError{Field: string(fd.Name()), Msg: err.Error()}
	}
	m.Set(fd, v)
	return nil
}

// formatFloat is the text of a number as JSON and CSV files hold it: the
// shortest that reads back the same, and NaN and infinities spelled the way
// protobuf's JSON mapping spells them.
func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

// SetJSON sets field fd of m from a JSON value. null leaves it unset.
func SetJSON(m protoreflect.Message, fd protoreflect.FieldDescriptor, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if fd.IsMap() || fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		return setComposite(m, fd, raw)
	}
	if fd.IsList() {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return &FieldError{Field: string(fd.Name()), Msg: "want a JSON array"}
		}
		list := m.Mutable(fd).List()
		for i, it := range items {
			if string(it) == "null" {
				// Not an unset value here: a list has no place for one.
				return &FieldError{Field: fmt.Sprintf("%s[%d]", fd.Name(), i), Msg: "null in a list"}
			}
			s, err := jsonScalarText(it)
			var v protoreflect.Value
			if err == nil {
				v, err = parseScalar(fd, s)
			}
			if err != nil {
				return &FieldError{Field: fmt.Sprintf("%s[%d]", fd.Name(), i), Msg: err.Error()}
			}
			list.Append(v)
		}
		return nil
	}
	s, err := jsonScalarText(raw)
	if err == nil {
		var v protoreflect.Value
		if v, err = parseScalar(fd, s); err == nil {
			m.Set(fd, v)
			return nil
		}
	}
	return &FieldError{Field: string(fd.Name()), Msg: err.Error()}
}

// setComposite hands a message, map or repeated message field to protojson,
// which knows the well-known types' JSON forms.
func setComposite(m protoreflect.Message, fd protoreflect.FieldDescriptor, raw []byte) error {
	var buf bytes.Buffer
	buf.WriteString(`{"`)
	buf.WriteString(fd.JSONName())
	buf.WriteString(`":`)
	buf.Write(raw)
	buf.WriteByte('}')
	tmp := m.New()
	// AllowPartial: tmp holds this one field, so the required fields of a
	// proto2 message are all missing from it. They are checked when the
	// whole message is serialized.
	if err := (protojson.UnmarshalOptions{AllowPartial: true}).Unmarshal(buf.Bytes(), tmp.Interface()); err != nil {
		return &FieldError{Field: string(fd.Name()), Msg: strings.TrimPrefix(err.Error(), "proto: ")}
	}
	if !tmp.Has(fd) {
		// An empty list or map: Get returns a read-only empty value, which
		// Set refuses with a panic.
		m.Clear(fd)
		return nil
	}
	m.Set(fd, tmp.Get(fd))
	return nil
}

// jsonScalarText returns the text of a JSON string, number or boolean.
func jsonScalarText(raw json.RawMessage) (string, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	if len(raw) > 0 && (raw[0] == '{' || raw[0] == '[') {
		return "", fmt.Errorf("want a scalar, got %s", describeJSON(raw))
	}
	return string(raw), nil
}

func describeJSON(raw json.RawMessage) string {
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return string(raw)
}

// parseScalar parses s as a value of fd's scalar kind.
func parseScalar(fd protoreflect.FieldDescriptor, s string) (protoreflect.Value, error) {
	bad := func(what string) (protoreflect.Value, error) {
		return protoreflect.Value{}, fmt.Errorf("%q is not %s", s, what)
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return bad("a boolean")
		}
		return protoreflect.ValueOfBool(b), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := parseInt(s, 32)
		if err != nil {
			return bad("a 32-bit integer")
		}
		return protoreflect.ValueOfInt32(int32(n)), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := parseInt(s, 64)
		if err != nil {
			return bad("a 64-bit integer")
		}
		return protoreflect.ValueOfInt64(n), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := parseUint(s, 32)
		if err != nil {
			return bad("an unsigned 32-bit integer")
		}
		return protoreflect.ValueOfUint32(uint32(n)), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := parseUint(s, 64)
		if err != nil {
			return bad("an unsigned 64-bit integer")
		}
		return protoreflect.ValueOfUint64(n), nil
	case protoreflect.FloatKind:
		f, err := parseFloat(s, 32)
		if err != nil {
			return bad("a number")
		}
		return protoreflect.ValueOfFloat32(float32(f)), nil
	case protoreflect.DoubleKind:
		f, err := parseFloat(s, 64)
		if err != nil {
			return bad("a number")
		}
		return protoreflect.ValueOfFloat64(f), nil
	case protoreflect.BytesKind:
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(s); err == nil {
				return protoreflect.ValueOfBytes(b), nil
			}
		}
		return bad("base64")
	case protoreflect.EnumKind:
		ed := fd.Enum()
		if v := ed.Values().ByName(protoreflect.Name(s)); v != nil {
			return protoreflect.ValueOfEnum(v.Number()), nil
		}
		if n, err := strconv.ParseInt(s, 10, 32); err == nil {
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), nil
		}
		// Case-insensitive names: CSV exports often lowercase them.
		vals := ed.Values()
		for i := range vals.Len() {
			if strings.EqualFold(string(vals.Get(i).Name()), s) {
				return protoreflect.ValueOfEnum(vals.Get(i).Number()), nil
			}
		}
		return bad("a value of " + string(ed.FullName()))
	}
	return protoreflect.Value{}, fmt.Errorf("cannot set a %v field from text", fd.Kind())
}

// parseInt accepts integers written as JSON numbers may be, e.g. "1e3" or
// "100.0", as long as they are whole.
func parseInt(s string, bits int) (int64, error) {
	n, err := strconv.ParseInt(s, 10, bits)
	if err == nil {
		return n, nil
	}
	if errors.Is(err, strconv.ErrRange) {
		return 0, err
	}
	f, err := strconv.ParseFloat(s, 64)
	// -2^63 is also what the float64 of a slightly smaller number rounds to,
	// so the float form of that bound cannot be told from one out of range.
	lo := -math.Ldexp(1, bits-1)
	if err != nil || f != math.Trunc(f) || f < lo || f == lo && bits == 64 || f >= -lo {
		return 0, strconv.ErrSyntax
	}
	return int64(f), nil
}

func parseUint(s string, bits int) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, bits)
	if err == nil {
		return n, nil
	}
	if errors.Is(err, strconv.ErrRange) {
		return 0, err
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f < 0 || f >= math.Ldexp(1, bits) {
		return 0, strconv.ErrSyntax
	}
	return uint64(f), nil
}

func parseFloat(s string, bits int) (float64, error) {
	switch s {
	case "NaN":
		return math.NaN(), nil
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(s, bits)
}
