package codec

import (
	"fmt"
	"strings"
	"time"
)

// Template renders a key from a row's fields: "{underlying}" or
// "{ccy}/{tenor}". Text outside braces is copied; "{{" and "}}" are
// literal braces. "{asof:LAYOUT}" is the job's as-of time written with a
// Go time layout (e.g. {asof:20060102}, in UTC), for stores whose row keys
// carry a date; it renders once the time is bound with WithAsOf.
type Template struct {
	src    string
	parts  []part // literal, token, literal, token, ..., literal
	fields []string
	// asOf is the time {asof:...} parts render; bound is false until
	// WithAsOf sets it.
	asOf  time.Time
	bound bool
}

// part is literal text, a field, or an as-of date.
type part struct {
	lit    string
	field  string
	layout string // set for {asof:LAYOUT}
}

// asOfPrefix introduces an as-of part. No field can be named so: a proto
// field name has no colon.
const asOfPrefix = "asof:"

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
			t.parts = append(t.parts, part{lit: lit.String()})
			lit.Reset()
			switch layout, isAsOf := strings.CutPrefix(name, asOfPrefix); {
			case name == "":
				return nil, fmt.Errorf("key template %q: empty {}", s)
			case isAsOf && layout == "":
				return nil, fmt.Errorf("key template %q: {asof:} needs a Go time layout, e.g. {asof:20060102}", s)
			case isAsOf:
				t.parts = append(t.parts, part{layout: layout})
			case name == "asof":
				return nil, fmt.Errorf("key template %q: {asof} needs a Go time layout, e.g. {asof:20060102}", s)
			case strings.Contains(name, ":"):
				return nil, fmt.Errorf("key template %q: {%s} is neither a field nor {asof:LAYOUT}", s, name)
			default:
				t.parts = append(t.parts, part{field: name})
				t.fields = append(t.fields, name)
			}
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
	t.parts = append(t.parts, part{lit: lit.String()})
	return t, nil
}

// String returns the template as written.
func (t *Template) String() string { return t.src }

// Fields returns the field names the template uses, in order.
func (t *Template) Fields() []string { return t.fields }

// UsesAsOf reports whether the template has an {asof:LAYOUT} part.
func (t *Template) UsesAsOf() bool {
	for i := 1; i < len(t.parts); i += 2 {
		if t.parts[i].layout != "" {
			return true
		}
	}
	return false
}

// TrailingAsOf returns the layout of the template's last part when it is
// {asof:LAYOUT} with no text after it: the keys of such a template end
// with a date, and a store can look for the latest of a key's dates.
func (t *Template) TrailingAsOf() (layout string, ok bool) {
	n := len(t.parts)
	if n < 3 || t.parts[n-1].lit != "" || t.parts[n-2].layout == "" {
		return "", false
	}
	return t.parts[n-2].layout, true
}

// WithAsOf returns the template with its {asof:...} parts bound to asOf,
// written in UTC.
func (t *Template) WithAsOf(asOf time.Time) *Template {
	c := *t
	c.asOf, c.bound = asOf.UTC(), true
	return &c
}

// AsOf returns the time WithAsOf bound, and whether one was.
func (t *Template) AsOf() (time.Time, bool) { return t.asOf, t.bound }

// Render builds the key from field values. get reports false for a field
// the row does not have, which is an error naming the field; so is an
// {asof:...} part with no time bound.
func (t *Template) Render(get func(field string) (string, bool)) (string, error) {
	if len(t.parts) == 3 && t.parts[0].lit == "" && t.parts[2].lit == "" && t.parts[1].field != "" {
		v, ok := get(t.parts[1].field)
		if !ok {
			return "", &FieldError{Field: t.parts[1].field, Msg: "join key field is missing"}
		}
		return v, nil
	}
	var b strings.Builder
	for i, p := range t.parts {
		switch {
		case i%2 == 0:
			b.WriteString(p.lit)
		case p.layout != "":
			if !t.bound {
				return "", &FieldError{Field: asOfPrefix + p.layout, Msg: "the join key's as-of time is not known"}
			}
			b.WriteString(t.asOf.Format(p.layout))
		default:
			v, ok := get(p.field)
			if !ok {
				return "", &FieldError{Field: p.field, Msg: "join key field is missing"}
			}
			b.WriteString(v)
		}
	}
	return b.String(), nil
}
