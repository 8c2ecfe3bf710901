package aggregate

import (
	"fmt"
	"strconv"
	"unicode"
)

// Functions an aggregate spec may name.
const (
	FuncSum      = "sum"
	FuncCount    = "count"
	FuncMean     = "mean"
	FuncMin      = "min"
	FuncMax      = "max"
	FuncQuantile = "quantile"
)

// ScenarioField names the scenario id of a result in a spec.
const ScenarioField = "scenario"

// Spec is one parsed aggregate spec:
//
//	FUNC(ARGS) [over FIELD] [by FIELD, ...]
//
// sum, mean, min and max take one or more numeric fields; count takes
// none; quantile takes the quantile, in [0, 1], then numeric fields. Each
// group (the distinct values of the by fields) gets one row. With over,
// the values are first totalled per value of the over field within the
// group, and the function applies across those totals: quantile(0.99,
// value) over scenario by underlying is, per underlying, the 99th
// percentile of the per-scenario total value (the shape of a VaR figure);
// count() over scenario counts the scenarios.
type Spec struct {
	// Text is the spec as given.
	Text string `json:"spec"`
	Func string `json:"func"`
	// Q is quantile's quantile.
	Q      float64  `json:"q,omitempty"`
	Fields []string `json:"fields,omitempty"`
	Over   string   `json:"over,omitempty"`
	By     []string `json:"by,omitempty"`
}

// SyntaxError is a spec that does not parse.
type SyntaxError struct {
	Spec string
	// Column is the 1-based column of the spec where the problem is.
	Column int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("--aggregate %q: column %d: %s", e.Spec, e.Column, e.Msg)
}

// Parse parses one spec. A spec that does not parse is a *SyntaxError.
func Parse(text string) (*Spec, error) {
	p := &parser{text: text}
	s := &Spec{Text: text}
	fn := p.ident()
	switch fn {
	case FuncSum, FuncCount, FuncMean, FuncMin, FuncMax, FuncQuantile:
		s.Func = fn
	case "":
		return nil, p.fail("want a function (sum, count, mean, min, max, quantile)")
	default:
		return nil, p.failAt(p.last, "unknown function %q: want sum, count, mean, min, max or quantile", fn)
	}
	if !p.punct('(') {
		return nil, p.fail("want ( after %s", fn)
	}
	if fn == FuncQuantile {
		at := p.skip()
		num := p.number()
		q, err := strconv.ParseFloat(num, 64)
		if num == "" || err != nil || q < 0 || q > 1 {
			return nil, p.failAt(at, "quantile wants a number in [0, 1] first, e.g. quantile(0.99, value)")
		}
		s.Q = q
		if !p.punct(',') {
			return nil, p.fail("want , and a field after the quantile")
		}
	}
	if fn == FuncCount {
		if !p.punct(')') {
			return nil, p.fail("count takes no field: count()")
		}
	} else {
		for {
			f := p.field()
			if f == "" {
				return nil, p.fail("want a field name")
			}
			s.Fields = append(s.Fields, f)
			if p.punct(')') {
				break
			}
			if !p.punct(',') {
				return nil, p.fail("want , or )")
			}
		}
	}
	overAt := 0
	for p.skip() < len(p.text) {
		at := p.pos
		switch kw := p.ident(); kw {
		case "over":
			if s.Over != "" {
				return nil, p.failAt(at, "over given twice")
			}
			if s.Over = p.field(); s.Over == "" {
				return nil, p.fail("want a field after over")
			}
			overAt = p.last
		case "by":
			if s.By != nil {
				return nil, p.failAt(at, "by given twice")
			}
			for {
				f := p.field()
				if f == "" {
					return nil, p.fail("want a field name")
				}
				s.By = append(s.By, f)
				if !p.punct(',') {
					break
				}
			}
		default:
			return nil, p.failAt(at, "want over or by, or the end of the spec")
		}
	}
	for _, b := range s.By {
		if b == s.Over {
			return nil, p.failAt(overAt, "%s is both the over field and a by field", b)
		}
	}
	return s, nil
}

type parser struct {
	text string
	pos  int
	last int // where the last token began
}

func (p *parser) skip() int {
	for p.pos < len(p.text) && p.text[p.pos] == ' ' || p.pos < len(p.text) && p.text[p.pos] == '\t' {
		p.pos++
	}
	return p.pos
}

func (p *parser) scan(ok func(r rune) bool) string {
	p.last = p.skip()
	start := p.pos
	for p.pos < len(p.text) && ok(rune(p.text[p.pos])) {
		p.pos++
	}
	return p.text[start:p.pos]
}

func (p *parser) ident() string {
	return p.scan(func(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) })
}

// field is a field name, maybe qualified: value, input.strike.
func (p *parser) field() string {
	return p.scan(func(r rune) bool { return r == '_' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r) })
}

func (p *parser) number() string {
	return p.scan(func(r rune) bool {
		return r == '.' || r == 'e' || r == 'E' || r == '-' || r == '+' || unicode.IsDigit(r)
	})
}

func (p *parser) punct(c byte) bool {
	p.skip()
	if p.pos < len(p.text) && p.text[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *parser) fail(format string, args ...any) error { return p.failAt(p.skip(), format, args...) }

func (p *parser) failAt(at int, format string, args ...any) error {
	return &SyntaxError{Spec: p.text, Column: at + 1, Msg: fmt.Sprintf(format, args...)}
}
