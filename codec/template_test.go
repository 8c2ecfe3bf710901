package codec_test

import (
	"errors"
	"slices"
	"testing"

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
	} {
		tm, err := codec.ParseTemplate(tc.tmpl)
		if err == nil {
			t.Errorf("ParseTemplate(%q) = %q, want an error", tc.tmpl, tm.Fields())
			continue
		}
		contains(t, err, tc.msg, `"`+tc.tmpl+`"`)
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
