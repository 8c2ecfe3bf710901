package codec

import (
	"fmt"
	"strings"
)

// Template renders a key from a row's fields: "{underlying}" or
// "{ccy}/{tenor}". Text outside braces is copied; "{{" and "}}" are
// literal braces.
type Template struct {
	src    string
	parts  []string // literal, field, literal, field, ..., literal
	fields []string
}

// ParseTemplate parses a key template.
func ParseTemplate(s string) (*Template, error) {
	t := &Template{src: s}
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("key template %q: unclosed {", s)
			}
			name := strings.TrimSpace(s[i+1 : i+end])
			if name == "" {
				return nil, fmt.Errorf("key template %q: empty {}", s)
			}
			t.parts = append(t.parts, lit.String(), name)
			t.fields = append(t.fields, name)
			lit.Reset()
			i += end
		case c == '}':
			return nil, fmt.Errorf("key template %q: } without {", s)
		default:
			lit.WriteByte(c)
		}
	}
	if len(t.fields) == 0 {
		return nil, fmt.Errorf("key template %q names no field; write e.g. {underlying}", s)
	}
	t.parts = append(t.parts, lit.String())
	return t, nil
}

// String returns the template as written.
func (t *Template) String() string { return t.src }

// Fields returns the field names the template uses, in order.
func (t *Template) Fields() []string { return t.fields }

// Render builds the key from field values. get reports false for a field
// the row does not have, which is an error naming the field.
func (t *Template) Render(get func(field string) (string, bool)) (string, error) {
	if len(t.parts) == 3 && t.parts[0] == "" && t.parts[2] == "" {
		v, ok := get(t.parts[1])
		if !ok {
			return "", &FieldError{Field: t.parts[1], Msg: "join key field is missing"}
		}
		return v, nil
	}
	var b strings.Builder
	for i, p := range t.parts {
		if i%2 == 0 {
			b.WriteString(p)
			continue
		}
		v, ok := get(p)
		if !ok {
			return "", &FieldError{Field: p, Msg: "join key field is missing"}
		}
		b.WriteString(v)
	}
	return b.String(), nil
}
