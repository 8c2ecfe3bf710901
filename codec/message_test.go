package codec_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/codec"
)

func field(tb testing.TB, desc protoreflect.MessageDescriptor, name string) protoreflect.FieldDescriptor {
	tb.Helper()
	fd := desc.Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		tb.Fatalf("%s has no field %s", desc.FullName(), name)
	}
	return fd
}

var (
	i32 = protoreflect.ValueOfInt32
	i64 = protoreflect.ValueOfInt64
	u32 = protoreflect.ValueOfUint32
	u64 = protoreflect.ValueOfUint64
	f32 = protoreflect.ValueOfFloat32
	f64 = protoreflect.ValueOfFloat64
	str = protoreflect.ValueOfString
	bin = protoreflect.ValueOfBytes
	boo = protoreflect.ValueOfBool
	enm = func(n int32) protoreflect.Value { return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)) }
)

// scalarCase is one conversion of a text or JSON value into a singular
// scalar field; a nil want means the conversion fails.
type scalarCase struct {
	field string
	in    string
	want  any // protoreflect.Value, or nil for an error
}

func checkScalar(t *testing.T, how string, desc protoreflect.MessageDescriptor, tc scalarCase, set func(protoreflect.Message, protoreflect.FieldDescriptor) error) {
	t.Helper()
	fd := field(t, desc, tc.field)
	m := dynamicpb.NewMessage(desc)
	err := set(m, fd)
	if tc.want == nil {
		var fe *codec.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s(%s, %s) = %v, want a *FieldError naming %s", how, tc.field, tc.in, err, tc.field)
		} else if !strings.ContainsAny(tc.in[:1], "{[") && !strings.Contains(fe.Msg, strings.Trim(tc.in, `"`)) {
			t.Errorf("%s(%s, %s): message %q does not quote the value", how, tc.field, tc.in, fe.Msg)
		}
		if m.Has(fd) {
			t.Errorf("%s(%s, %s) failed but set the field to %v", how, tc.field, tc.in, m.Get(fd))
		}
		return
	}
	if err != nil {
		t.Errorf("%s(%s, %s): %v", how, tc.field, tc.in, err)
		return
	}
	want := tc.want.(protoreflect.Value)
	got := m.Get(fd)
	switch w := want.Interface().(type) {
	case float32:
		g := float32(got.Float())
		if g != w && !(math.IsNaN(float64(g)) && math.IsNaN(float64(w))) {
			t.Errorf("%s(%s, %s) set %v, want %v", how, tc.field, tc.in, g, w)
		}
	case float64:
		g := got.Float()
		if g != w && !(math.IsNaN(g) && math.IsNaN(w)) {
			t.Errorf("%s(%s, %s) set %v, want %v", how, tc.field, tc.in, g, w)
		}
	case []byte:
		if string(got.Bytes()) != string(w) {
			t.Errorf("%s(%s, %s) set %x, want %x", how, tc.field, tc.in, got.Bytes(), w)
		}
	default:
		if !got.Equal(want) {
			t.Errorf("%s(%s, %s) set %v, want %v", how, tc.field, tc.in, got, want)
		}
	}
}

// Text values as CSV and Bigtable cells hold them. The cases are shared with
// the JSON tests below, where each is also given as a JSON string.
var textCases = []scalarCase{
	{"b", "true", boo(true)},
	{"b", "1", boo(true)},
	{"b", "FALSE", boo(false)},
	{"b", "yes", nil},

	{"i32", "-5", i32(-5)},
	{"i32", "+7", i32(7)},
	{"i32", "1e3", i32(1000)},
	{"i32", "100.0", i32(100)},
	{"i32", "-1.5e2", i32(-150)},
	{"i32", "2147483647", i32(math.MaxInt32)},
	{"i32", "-2147483648", i32(math.MinInt32)},
	{"i32", "2147483648", nil},
	{"i32", "-2147483649", nil},
	{"i32", "3e9", nil},
	{"i32", "1.5", nil},
	{"i32", "abc", nil},
	{"i32", "NaN", nil},
	{"i32", "Infinity", nil},
	{"i32", "0x10", nil},
	{"s32", "-2147483648", i32(math.MinInt32)},
	{"s32", "1e3", i32(1000)},
	{"sf32", "-12", i32(-12)},
	{"sf32", "2147483648", nil},

	{"i64", "9223372036854775807", i64(math.MaxInt64)},
	{"i64", "-9223372036854775808", i64(math.MinInt64)},
	// Exactly, not through a float64 (which would give ...992).
	{"i64", "9007199254740993", i64(9007199254740993)},
	{"i64", "1e3", i64(1000)},
	{"i64", "9223372036854775808", nil},
	{"i64", "-9223372036854775809", nil},
	{"i64", "-9223372036854775809.0", nil},
	{"i64", "-9.223372036854775809e18", nil},
	{"i64", "-9223372036854777000", nil},
	{"i64", "1e19", nil},
	{"s64", "-42", i64(-42)},
	{"sf64", "2.5e1", i64(25)},
	{"sf64", "0.5", nil},

	{"u32", "4294967295", u32(math.MaxUint32)},
	{"u32", "1e3", u32(1000)},
	{"u32", "0", u32(0)},
	{"u32", "4294967296", nil},
	{"u32", "-1", nil},
	{"u32", "-1e3", nil},
	{"fx32", "7", u32(7)},
	{"fx32", "5e9", nil},

	{"u64", "18446744073709551615", u64(math.MaxUint64)},
	{"u64", "1e3", u64(1000)},
	{"u64", "18446744073709551616", nil},
	{"u64", "-1", nil},
	{"fx64", "12", u64(12)},

	{"fl", "1.5", f32(1.5)},
	{"fl", "-0.25", f32(-0.25)},
	{"fl", "NaN", f32(float32(math.NaN()))},
	{"fl", "Infinity", f32(float32(math.Inf(1)))},
	{"fl", "-Infinity", f32(float32(math.Inf(-1)))},
	{"fl", "1e39", nil},
	{"fl", "abc", nil},
	{"db", "101.5", f64(101.5)},
	{"db", "1e308", f64(1e308)},
	{"db", "-3", f64(-3)},
	{"db", "NaN", f64(math.NaN())},
	{"db", "Infinity", f64(math.Inf(1))},
	{"db", "-Infinity", f64(math.Inf(-1))},
	{"db", "1e400", nil},
	{"db", "1,5", nil},

	{"by", base64.StdEncoding.EncodeToString([]byte{1, 2, 3, 0xfb, 0xff}), bin([]byte{1, 2, 3, 0xfb, 0xff})},
	{"by", base64.URLEncoding.EncodeToString([]byte{0xfb, 0xff}), bin([]byte{0xfb, 0xff})},
	{"by", base64.RawStdEncoding.EncodeToString([]byte{1, 2}), bin([]byte{1, 2})},
	{"by", base64.RawURLEncoding.EncodeToString([]byte{0xfb, 0xff}), bin([]byte{0xfb, 0xff})},
	{"by", "not base64!", nil},

	{"str", "hello, world", str("hello, world")},
	{"str", "42", str("42")},

	{"color", "RED", enm(1)},
	{"color", "green", enm(2)},
	{"color", "Green", enm(2)},
	{"color", "2", enm(2)},
	{"color", "0", enm(0)},
	{"color", "99", enm(99)}, // proto3 enums are open
	{"color", "PURPLE", nil},
	{"color", "1.0", nil},
}

func TestSetStringScalars(t *testing.T) {
	t.Parallel()
	desc := kindsDesc(t)
	for _, tc := range textCases {
		checkScalar(t, "SetString", desc, tc, func(m protoreflect.Message, fd protoreflect.FieldDescriptor) error {
			return codec.SetString(m, fd, tc.in)
		})
	}
}

// The same texts as JSON strings set the same values: quoted numbers are
// numbers.
func TestSetJSONQuotedScalars(t *testing.T) {
	t.Parallel()
	desc := kindsDesc(t)
	for _, tc := range textCases {
		raw, err := json.Marshal(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		tc.in = string(raw)
		checkScalar(t, "SetJSON", desc, tc, func(m protoreflect.Message, fd protoreflect.FieldDescriptor) error {
			return codec.SetJSON(m, fd, raw)
		})
	}
}

func TestSetJSONBareScalars(t *testing.T) {
	t.Parallel()
	desc := kindsDesc(t)
	for _, tc := range []scalarCase{
		{"b", "true", boo(true)},
		{"b", "false", boo(false)},
		{"i32", "-5", i32(-5)},
		{"i32", "1e3", i32(1000)},
		{"i32", "1E3", i32(1000)},
		{"i32", "2147483648", nil},
		{"i64", "9007199254740993", i64(9007199254740993)},
		{"u32", "3.0", u32(3)},
		{"u32", "-1", nil},
		{"u64", "18446744073709551615", u64(math.MaxUint64)},
		{"fl", "0.1", f32(0.1)},
		{"db", "0.1", f64(0.1)},
		{"db", " 2.5 ", f64(2.5)},
		{"color", "2", enm(2)},
		{"color", "7", enm(7)},
		{"str", "42", str("42")},
		{"str", "true", str("true")},
		{"i32", "true", nil},
		{"i32", `{"a":1}`, nil},
		{"str", `["a"]`, nil},
	} {
		checkScalar(t, "SetJSON", desc, tc, func(m protoreflect.Message, fd protoreflect.FieldDescriptor) error {
			return codec.SetJSON(m, fd, json.RawMessage(tc.in))
		})
	}
}

func TestSetJSONCompositeIsNotAScalar(t *testing.T) {
	t.Parallel()
	desc := kindsDesc(t)
	m := dynamicpb.NewMessage(desc)
	contains(t, codec.SetJSON(m, field(t, desc, "db"), json.RawMessage(`{"a":1}`)), "field db", "want a scalar, got an object")
	contains(t, codec.SetJSON(m, field(t, desc, "str"), json.RawMessage(`[1]`)), "field str", "want a scalar, got an array")
}

// Empty text and JSON null leave a field unset, whatever its kind.
func TestEmptyAndNullLeaveUnset(t *testing.T) {
	t.Parallel()
	desc := kindsDesc(t)
	fs := desc.Fields()
	for i := range fs.Len() {
		fd := fs.Get(i)
		m := dynamicpb.NewMessage(desc)
		if err := codec.SetString(m, fd, ""); err != nil || m.Has(fd) {
			t.Errorf("SetString(%s, \"\") = %v, set %v", fd.Name(), err, m.Has(fd))
		}
		for _, raw := range []string{"null", " null\t", ""} {
			if err := codec.SetJSON(m, fd, json.RawMessage(raw)); err != nil || m.Has(fd) {
				t.Errorf("SetJSON(%s, %q) = %v, set %v", fd.Name(), raw, err, m.Has(fd))
			}
		}
	}
}

func timestamp(tb testing.TB, desc protoreflect.MessageDescriptor, tm time.Time) protoreflect.Value {
	tb.Helper()
	ts := dynamicpb.NewMessage(desc)
	ts.Set(desc.Fields().ByName("seconds"), i64(tm.Unix()))
	if tm.Nanosecond() != 0 {
		ts.Set(desc.Fields().ByName("nanos"), i32(int32(tm.Nanosecond())))
	}
	return protoreflect.ValueOfMessage(ts)
}

// expectComposite builds, by hand, the Kinds message each composite case
// below should produce.
func expectComposite(t *testing.T, desc protoreflect.MessageDescriptor, fieldName string, fill func(m *dynamicpb.Message, fd protoreflect.FieldDescriptor)) *dynamicpb.Message {
	t.Helper()
	m := dynamicpb.NewMessage(desc)
	fill(m, field(t, desc, fieldName))
	return m
}

func TestSetComposite(t *testing.T) {
	t.Parallel()
	desc := kindsDesc(t)
	inner := field(t, desc, "inner").Message()
	mkInner := func(name string, n int32) protoreflect.Value {
		v := dynamicpb.NewMessage(inner)
		if name != "" {
			v.Set(inner.Fields().ByName("name"), str(name))
		}
		if n != 0 {
			v.Set(inner.Fields().ByName("n"), i32(n))
		}
		return protoreflect.ValueOfMessage(v)
	}
	list := func(vs ...protoreflect.Value) func(*dynamicpb.Message, protoreflect.FieldDescriptor) {
		return func(m *dynamicpb.Message, fd protoreflect.FieldDescriptor) {
			l := m.Mutable(fd).List()
			for _, v := range vs {
				l.Append(v)
			}
		}
	}
	set := func(v protoreflect.Value) func(*dynamicpb.Message, protoreflect.FieldDescriptor) {
		return func(m *dynamicpb.Message, fd protoreflect.FieldDescriptor) { m.Set(fd, v) }
	}
	counts := func(m *dynamicpb.Message, fd protoreflect.FieldDescriptor) {
		mp := m.Mutable(fd).Map()
		mp.Set(protoreflect.ValueOfString("a").MapKey(), i32(1))
		mp.Set(protoreflect.ValueOfString("b").MapKey(), i32(-2))
	}
	at := timestamp(t, field(t, desc, "at").Message(), time.Date(2024, 1, 2, 3, 4, 5, 500_000_000, time.UTC))
	for _, tc := range []struct {
		field string
		text  string // for SetString; "" to skip
		json  string // for SetJSON; "" to skip
		fill  func(*dynamicpb.Message, protoreflect.FieldDescriptor)
	}{
		{"ints", "[1,2,3]", `[1, "2", 3e0]`, list(i32(1), i32(2), i32(3))},
		{"ints", "[]", `[]`, list()},
		{"strs", `["a","b c"]`, `["a", "b c"]`, list(str("a"), str("b c"))},
		{"colors", `["RED","GREEN"]`, `["RED", "green", 2, "0"]`, nil},
		{"inner", `{"name":"x","n":3}`, `{"name": "x", "n": "3"}`, set(mkInner("x", 3))},
		{"inner", `{}`, `{}`, set(mkInner("", 0))},
		{"inners", `[{"name":"a"},{"n":2}]`, `[{"name":"a"},{"n":2}]`, list(mkInner("a", 0), mkInner("", 2))},
		{"counts", `{"a":1,"b":-2}`, `{"b": -2, "a": 1}`, counts},
		{"at", "2024-01-02T03:04:05.5Z", `"2024-01-02T03:04:05.500Z"`, set(at)},
		{"at", "2024-01-02T05:04:05.5+02:00", "", set(at)},
	} {
		fill := tc.fill
		if tc.field == "colors" {
			// The JSON form takes what scalar enums take; protojson (used
			// for text) takes exact names only.
			fill = list(enm(1), enm(2))
		}
		if tc.text != "" {
			m := dynamicpb.NewMessage(desc)
			if err := codec.SetString(m, field(t, desc, tc.field), tc.text); err != nil {
				t.Errorf("SetString(%s, %s): %v", tc.field, tc.text, err)
			} else if want := expectComposite(t, desc, tc.field, fill); !proto.Equal(m, want) {
				t.Errorf("SetString(%s, %s) = %v, want %v", tc.field, tc.text, m, want)
			}
		}
		if tc.json != "" {
			m := dynamicpb.NewMessage(desc)
			if tc.field == "colors" {
				fill = list(enm(1), enm(2), enm(2), enm(0))
			}
			if err := codec.SetJSON(m, field(t, desc, tc.field), json.RawMessage(tc.json)); err != nil {
				t.Errorf("SetJSON(%s, %s): %v", tc.field, tc.json, err)
			} else if want := expectComposite(t, desc, tc.field, fill); !proto.Equal(m, want) {
				t.Errorf("SetJSON(%s, %s) = %v, want %v", tc.field, tc.json, m, want)
			}
		}
	}
}

func TestSetCompositeErrors(t *testing.T) {
	t.Parallel()
	desc := kindsDesc(t)
	for _, tc := range []struct {
		field, text, json string
		errField          string
	}{
		{"ints", "1", `1`, "ints"},
		{"ints", `[1,"x"]`, `[1,"x"]`, ""},
		{"ints", "", `[1, 2147483648]`, "ints[1]"},
		{"ints", "", `[[1]]`, "ints[0]"},
		{"strs", "", `"a"`, "strs"},
		{"strs", "", `["a", null]`, "strs[1]"},
		{"ints", "", `[null]`, "ints[0]"},
		{"colors", `["BLUE"]`, `["RED","BLUE"]`, ""},
		{"inner", `{"nope":1}`, `{"nope": 1}`, "inner"},
		{"inner", `{"n":"x"}`, `{"n": "x"}`, "inner"},
		{"inner", "x", `"x"`, "inner"},
		{"inner", "", `[1]`, "inner"},
		{"counts", `{"a":"x"}`, `{"a":"x"}`, "counts"},
		{"counts", "", `[1]`, "counts"},
		{"at", "yesterday", `"yesterday"`, "at"},
		{"at", "", `12`, "at"},
	} {
		fd := field(t, desc, tc.field)
		check := func(how, in string, err error) {
			t.Helper()
			want := tc.errField
			if want == "" {
				want = tc.field
				if how == "SetJSON" {
					want = tc.field + "[1]"
				}
			}
			var fe *codec.FieldError
			if !errors.As(err, &fe) || fe.Field != want {
				t.Errorf("%s(%s, %s) = %v, want a *FieldError naming %s", how, tc.field, in, err, want)
			}
		}
		if tc.text != "" {
			check("SetString", tc.text, codec.SetString(dynamicpb.NewMessage(desc), fd, tc.text))
		}
		if tc.json != "" {
			check("SetJSON", tc.json, codec.SetJSON(dynamicpb.NewMessage(desc), fd, json.RawMessage(tc.json)))
		}
	}
}

// A composite field of a proto2 message with required fields sets like any
// other: the required fields are the row's business, checked when the whole
// message is serialized, not while one field is set.
func TestSetCompositeInProto2WithRequiredFields(t *testing.T) {
	t.Parallel()
	desc := schema(t, legacySchema).Input
	part := field(t, desc, "part")
	want := dynamicpb.NewMessage(desc)
	p := dynamicpb.NewMessage(part.Message())
	p.Set(part.Message().Fields().ByName("name"), str("x"))
	want.Set(part, protoreflect.ValueOfMessage(p))

	m := dynamicpb.NewMessage(desc)
	if err := codec.SetJSON(m, part, json.RawMessage(`{"name":"x"}`)); err != nil {
		t.Fatalf("SetJSON: %v", err)
	}
	if !proto.Equal(m, want) {
		t.Fatalf("SetJSON set %v, want %v", m, want)
	}
	m = dynamicpb.NewMessage(desc)
	if err := codec.SetString(m, part, `{"name":"x"}`); err != nil {
		t.Fatalf("SetString: %v", err)
	}
	if !proto.Equal(m, want) {
		t.Fatalf("SetString set %v, want %v", m, want)
	}
	// Still checked where it matters: a row without its required fields
	// does not serialize.
	if _, err := codec.Marshal(m); err == nil {
		t.Fatal("Marshal of a message missing required fields succeeded")
	}
}

// Errors name the field by its .proto name, also when the value was found
// under the JSON name.
func TestFieldsLookupBothNames(t *testing.T) {
	t.Parallel()
	desc := kindsDesc(t)
	f := codec.NewFields(desc)
	if f.Desc() != desc {
		t.Fatal("Desc is not the indexed descriptor")
	}
	for _, name := range []string{"trade_date", "tradeDate"} {
		fd := f.Lookup(name)
		if fd == nil || fd.Name() != "trade_date" {
			t.Fatalf("Lookup(%q) = %v", name, fd)
		}
	}
	if fd := f.Lookup("TradeDate"); fd != nil {
		t.Fatalf("Lookup is case-insensitive: found %v", fd.Name())
	}
	if fd := f.Lookup("nope"); fd != nil {
		t.Fatalf("Lookup(nope) = %v", fd.Name())
	}
}

func TestFieldText(t *testing.T) {
	t.Parallel()
	desc := kindsDesc(t)
	m := dynamicpb.NewMessage(desc)
	set := func(name string, v protoreflect.Value) { m.Set(field(t, desc, name), v) }
	set("str", str("abc"))
	set("b", boo(true))
	set("i32", i32(-7))
	set("s64", i64(math.MinInt64))
	set("u64", u64(math.MaxUint64))
	set("fx32", u32(9))
	set("fl", f32(0.1))
	set("db", f64(0.1))
	set("color", enm(2))
	for name, want := range map[string]string{
		"str": "abc", "b": "true", "i32": "-7", "s64": "-9223372036854775808",
		"u64": "18446744073709551615", "fx32": "9",
		"fl": "0.1", // the float32 printed as a float32, not 0.10000000149011612
		"db": "0.1", "color": "GREEN",
		"i64": "0", // unset reads as the zero value
	} {
		got, ok := codec.FieldText(m, field(t, desc, name))
		if !ok || got != want {
			t.Errorf("FieldText(%s) = %q, %v; want %q", name, got, ok, want)
		}
	}
	set("color", enm(42))
	if got, ok := codec.FieldText(m, field(t, desc, "color")); !ok || got != "42" {
		t.Errorf("FieldText(unnamed enum) = %q, %v; want 42", got, ok)
	}
	for _, name := range []string{"ints", "counts", "inner", "at", "by"} {
		if got, ok := codec.FieldText(m, field(t, desc, name)); ok {
			t.Errorf("FieldText(%s) = %q, want not ok", name, got)
		}
	}
}
