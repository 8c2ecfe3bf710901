package codec_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gridrun/gridrun/codec"
)

func getter(m map[string]string) func(string) (string, bool) {
	return func(f string) (string, bool) {
		v, ok := m[f]
		return v, ok
	}
}

func TestTemplateRender(t *testing.T) {
	t.Parallel()
	row := map[string]string{"underlying": "AAPL", "ccy": "USD", "tenor": "5Y", "a": "x", "b": "", "{x}": "brace"}
	for _, tc := range []struct {
		tmpl   string
		fields []string
		want   string
	}{
		{"{underlying}", []string{"underlying"}, "AAPL"},
		{"{ccy}/{tenor}", []string{"ccy", "tenor"}, "USD/5Y"},
		{"fx:{ccy}:{tenor}:end", []string{"ccy", "tenor"}, "fx:USD:5Y:end"},
		{"{ underlying }", []string{"underlying"}, "AAPL"},
		{"{a}{a}", []string{"a", "a"}, "xx"},
		{"{{lit}}-{a}", []string{"a"}, "{lit}-x"},
		{"{{{a}}}", []string{"a"}, "{x}"},
		{"}}{a}{{", []string{"a"}, "}x{"},
		{"<{b}>", []string{"b"}, "<>"},
		{"{b}", []string{"b"}, ""},
		{"ünï/{a}/€", []string{"a"}, "ünï/x/€"},
	} {
		tm, err := codec.ParseTemplate(tc.tmpl)
		if err != nil {
			t.Errorf("ParseTemplate(%q): %v", tc.tmpl, err)
			continue
		}
		if tm.String() != tc.tmpl {
			t.Errorf("ParseTemplate(%q).String() = %q", tc.tmpl, tm.String())
		}
		if !slices.Equal(tm.Fields(), tc.fields) {
			t.Errorf("ParseTemplate(%q).Fields() = %q, want %q", tc.tmpl, tm.Fields(), tc.fields)
		}
		got, err := tm.Render(getter(row))
		if err != nil || got != tc.want {
			t.Errorf("%q.Render = %q, %v; want %q", tc.tmpl, got, err, tc.want)
		}
	}
}

func TestParseTemplateErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ tmpl, msg string }{
		{"", "names no field"},
		{"underlying", "names no field"},
		{"{{underlying}}", "names no field"},
		{"{underlying", "unclosed {"},
		{"{a}/{b", "unclosed {"},
		{"underlying}", "} without {"},
		{"{a}}", "} without {"},
		{"{}", "empty {}"},
		{"x{ }y", "empty {}"},
		{"{a}#{asof:}", "needs a Go time layout"},
		{"{a}#{asof}", "needs a Go time layout"},
		{"{a}#{as_of:2006}", "neither a field nor {asof:LAYOUT}"},
		{"{asof:20060102}", "names no field"},
	} {
		tm, err := codec.ParseTemplate(tc.tmpl)
		if err == nil {
			t.Errorf("ParseTemplate(%q) = %q, want an error", tc.tmpl, tm.Fields())
			continue
		}
		contains(t, err, tc.msg, `"`+tc.tmpl+`"`)
	}
}

// An as-of part renders the bound time in UTC with its layout, and is no
// field; unbound, it fails as a missing field would.
func TestTemplateAsOf(t *testing.T) {
	t.Parallel()
	tm, err := codec.ParseTemplate("EQ#{underlying}#{asof:20060102}")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tm.Fields(), []string{"underlying"}) || !tm.UsesAsOf() {
		t.Fatalf("fields %q, uses as-of %v", tm.Fields(), tm.UsesAsOf())
	}
	if layout, ok := tm.TrailingAsOf(); !ok || layout != "20060102" {
		t.Errorf("TrailingAsOf = %q, %v", layout, ok)
	}
	row := getter(map[string]string{"underlying": "AAPL"})
	var fe *codec.FieldError
	if _, err := tm.Render(row); !errors.As(err, &fe) || fe.Field != "asof:20060102" {
		t.Errorf("unbound Render: %v, want a *FieldError for asof:20060102", err)
	}
	// 23:30 in New York on the 1st is the 2nd in UTC.
	ny := time.FixedZone("EST", -5*3600)
	bound := tm.WithAsOf(time.Date(2026, 12, 1, 23, 30, 0, 0, ny))
	if got, err := bound.Render(row); err != nil || got != "EQ#AAPL#20261202" {
		t.Errorf("Render = %q, %v; want EQ#AAPL#20261202", got, err)
	}
	if _, ok := tm.AsOf(); ok {
		t.Error("WithAsOf changed the template it was called on")
	}
	for _, s := range []string{"{underlying}", "{asof:2006}-{underlying}", "{underlying}#{asof:2006}#"} {
		tm, _ := codec.ParseTemplate(s)
		if layout, ok := tm.TrailingAsOf(); ok {
			t.Errorf("%q.TrailingAsOf = %q, want none", s, layout)
		}
	}
}

func TestTemplateRenderMissingField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ tmpl, missing string }{
		{"{underlying}", "underlying"},
		{"{ccy}/{tenor}", "tenor"},
		{"{tenor}/{ccy}", "tenor"},
		{"x{nope}", "nope"},
	} {
		tm, err := codec.ParseTemplate(tc.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tm.Render(getter(map[string]string{"underlying": "U", "ccy": "USD"}))
		if tc.missing == "underlying" {
			// Sanity: the one-field template renders when the field is there.
			if err != nil || got != "U" {
				t.Fatalf("%q.Render = %q, %v", tc.tmpl, got, err)
			}
			got, err = tm.Render(getter(nil))
		}
		var fe *codec.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.missing {
			t.Errorf("%q.Render = %q, %v; want a *FieldError for %s", tc.tmpl, got, err, tc.missing)
			continue
		}
		contains(t, err, "field "+tc.missing)
		if got != "" {
			t.Errorf("%q.Render returned %q with an error", tc.tmpl, got)
		}
	}
}
