package join

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gridrun/gridrun/codec"
)

// BinaryLengthError is a cell whose length is not that of its field's
// type in the HBase Bytes encoding.
type BinaryLengthError struct {
	Field string
	Type  string // "double", "int64", ...
	Len   int
	Want  int
}

func (e *BinaryLengthError) Error() string {
	return fmt.Sprintf("field %s: %d bytes, want %d (a %s in the HBase Bytes encoding)", e.Field, e.Len, e.Want, e.Type)
}

// binaryWidth is the length of a field's value in the HBase Bytes
// encoding, and the type's name; 0 for a field held as text.
func binaryWidth(fd protoreflect.FieldDescriptor) (int, string) {
	if fd.IsList() || fd.IsMap() {
		return 0, ""
	}
	switch fd.Kind() {
	case protoreflect.DoubleKind:
		return 8, "double"
	case protoreflect.FloatKind:
		return 4, "float"
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return 8, "int64"
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return 8, "uint64"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return 4, "int32"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return 4, "uint32"
	case protoreflect.BoolKind:
		return 1, "bool"
	}
	return 0, ""
}

// SetBinary sets field fd of m from a cell in the HBase Bytes encoding
// (org.apache.hadoop.hbase.util.Bytes.toBytes): a double or float is its
// IEEE 754 bits, big-endian (8 or 4 bytes); an integer is big-endian two's
// complement (8 bytes for 64-bit fields, 4 for 32-bit); a bool is one byte,
// zero for false. Other fields (strings, enums, bytes, messages, lists)
// have no such encoding and are held as text, as in EncodingText: a string
// is its UTF-8 bytes, which is what Bytes.toBytes(String) writes. An empty
// cell leaves the field unset, as an empty text cell does.
func SetBinary(m protoreflect.Message, fd protoreflect.FieldDescriptor, b []byte) error {
	width, typ := binaryWidth(fd)
	if width == 0 {
		return codec.SetString(m, fd, string(b))
	}
	if len(b) == 0 {
		return nil
	}
	if len(b) != width {
		return &BinaryLengthError{Field: string(fd.Name()), Type: typ, Len: len(b), Want: width}
	}
	var v protoreflect.Value
	switch fd.Kind() {
	case protoreflect.DoubleKind:
		v = protoreflect.ValueOfFloat64(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case protoreflect.FloatKind:
		v = protoreflect.ValueOfFloat32(math.Float32frombits(binary.BigEndian.Uint32(b)))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		v = protoreflect.ValueOfInt64(int64(binary.BigEndian.Uint64(b)))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		v = protoreflect.ValueOfUint64(binary.BigEndian.Uint64(b))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		v = protoreflect.ValueOfInt32(int32(binary.BigEndian.Uint32(b)))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		v = protoreflect.ValueOfUint32(binary.BigEndian.Uint32(b))
	case protoreflect.BoolKind:
		v = protoreflect.ValueOfBool(b[0] != 0)
	}
	m.Set(fd, v)
	return nil
}

// AppendBinary appends field fd's value v in the encoding SetBinary
// reads. It reports false, appending nothing, for a field held as text.
func AppendBinary(dst []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) ([]byte, bool) {
	if width, _ := binaryWidth(fd); width == 0 {
		return dst, false
	}
	switch fd.Kind() {
	case protoreflect.DoubleKind:
		return binary.BigEndian.AppendUint64(dst, math.Float64bits(v.Float())), true
	case protoreflect.FloatKind:
		return binary.BigEndian.AppendUint32(dst, math.Float32bits(float32(v.Float()))), true
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return binary.BigEndian.AppendUint64(dst, uint64(v.Int())), true
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return binary.BigEndian.AppendUint64(dst, v.Uint()), true
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return binary.BigEndian.AppendUint32(dst, uint32(int32(v.Int()))), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return binary.BigEndian.AppendUint32(dst, uint32(v.Uint())), true
	case protoreflect.BoolKind:
		if v.Bool() {
			return append(dst, 0xff), true // what Bytes.toBytes(true) writes
		}
		return append(dst, 0), true
	}
	return dst, false
}
