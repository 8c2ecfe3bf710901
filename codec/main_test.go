package codec_test

import (
	"context"
	"errors"
	"io"
	"math"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/wrapper"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Compiled once: the descriptors are immutable, and every test may share them.
var (
	pricerSchema = sync.OnceValues(func() (*wrapper.Schema, error) {
		return wrapper.SchemaFromProtoFiles(context.Background(),
			[]string{"../native/examples/pricer/pricer.proto"}, nil, "pricer.Trade", "pricer.Price", "pricer.Quote")
	})
	kindsSchema = sync.OnceValues(func() (*wrapper.Schema, error) {
		return wrapper.SchemaFromProtoFiles(context.Background(),
			[]string{"testdata/kinds.proto"}, nil, "codectest.Kinds", "codectest.Inner", "")
	})
	wktSchema = sync.OnceValues(func() (*wrapper.Schema, error) {
		return wrapper.SchemaFromProtoFiles(context.Background(),
			[]string{"testdata/wkt.proto"}, nil, "codectest3.Wkt", "codectest3.Wkt", "")
	})
	legacySchema = sync.OnceValues(func() (*wrapper.Schema, error) {
		return wrapper.SchemaFromProtoFiles(context.Background(),
			[]string{"testdata/legacy.proto"}, nil, "codectest2.Legacy", "codectest2.Part", "")
	})
)

func schema(tb testing.TB, load func() (*wrapper.Schema, error)) *wrapper.Schema {
	tb.Helper()
	s, err := load()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func tradeDesc(tb testing.TB) protoreflect.MessageDescriptor {
	return schema(tb, pricerSchema).Input
}

func priceDesc(tb testing.TB) protoreflect.MessageDescriptor {
	return schema(tb, pricerSchema).Result
}

func kindsDesc(tb testing.TB) protoreflect.MessageDescriptor {
	return schema(tb, kindsSchema).Input
}

// msg builds a message of desc by hand: name/value pairs, set with the
// reflection API so that the expectation does not go through the code under
// test.
func msg(tb testing.TB, desc protoreflect.MessageDescriptor, kv ...any) *dynamicpb.Message {
	tb.Helper()
	m := dynamicpb.NewMessage(desc)
	for i := 0; i < len(kv); i += 2 {
		name := kv[i].(string)
		fd := desc.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			tb.Fatalf("%s has no field %s", desc.FullName(), name)
		}
		switch v := kv[i+1].(type) {
		case protoreflect.Value:
			m.Set(fd, v)
		case string:
			if fd.Kind() == protoreflect.EnumKind {
				m.Set(fd, protoreflect.ValueOfEnum(fd.Enum().Values().ByName(protoreflect.Name(v)).Number()))
			} else {
				m.Set(fd, protoreflect.ValueOfString(v))
			}
		case float64:
			m.Set(fd, protoreflect.ValueOfFloat64(v))
		case uint32:
			m.Set(fd, protoreflect.ValueOfUint32(v))
		default:
			tb.Fatalf("msg: unsupported value %T for %s", v, name)
		}
	}
	return m
}

// wantPayload fails unless payload parses as a message equal to want.
func wantPayload(tb testing.TB, payload []byte, want proto.Message) {
	tb.Helper()
	got := dynamicpb.NewMessage(want.ProtoReflect().Descriptor())
	if err := proto.Unmarshal(payload, got); err != nil {
		tb.Fatalf("payload does not parse: %v", err)
	}
	if !proto.Equal(got, want) {
		tb.Fatalf("payload\n got %v\nwant %v", got, want)
	}
}

// input opens data as an input named name in format f and returns its reader
// and a decoder with opts.
func input(tb testing.TB, desc protoreflect.MessageDescriptor, name string, f codec.Format, data string, opts codec.DecoderOptions) (codec.Reader, *codec.Decoder) {
	tb.Helper()
	r, err := codec.NewReader(strings.NewReader(data), name, f, false)
	if err != nil {
		tb.Fatal(err)
	}
	d, err := codec.NewDecoder(desc, r, f, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return r, d
}

// readAll reads every row of r, failing on a read error.
func readAll(tb testing.TB, r codec.Reader) []codec.Row {
	tb.Helper()
	var rows []codec.Row
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows
		}
		if err != nil {
			tb.Fatalf("read: %v", err)
		}
		rows = append(rows, row)
	}
}

// rowError fails unless err is a *RowError at file:line about field.
func rowError(tb testing.TB, err error, file string, line int64, field string) *codec.RowError {
	tb.Helper()
	var re *codec.RowError
	if !errors.As(err, &re) {
		tb.Fatalf("error %v (%T), want a *RowError", err, err)
	}
	if re.File != file || re.Line != line || re.Field != field {
		tb.Fatalf("RowError at %s:%d field %q, want %s:%d field %q (%v)", re.File, re.Line, re.Field, file, line, field, err)
	}
	return re
}

func contains(tb testing.TB, err error, subs ...string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("no error, want one containing %q", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			tb.Fatalf("error %q does not contain %q", err, s)
		}
	}
}

var errBad = errors.New("bad row")

func nan() float64    { return math.NaN() }
func posInf() float64 { return math.Inf(1) }
