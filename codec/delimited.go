package codec

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Delimited protobuf: each record the input message, serialized, after its
// length as a varint. The records go to the binary as they are.
func init() {
	RegisterFormat(Delimited, InputFormat{
		Exts: []string{".pb", ".binpb"},
		Gzip: true,
		NewReader: func(r io.Reader, name string) (Reader, error) {
			return &pbReader{name: name, br: bufio.NewReaderSize(r, readBuffer)}, nil
		},
		NewDecoder:  newPBDecoder,
		ElementJSON: pbElement,
		CountRows:   countDelimited,
	})
}

type pbReader struct {
	name  string
	br    *bufio.Reader
	index int64
	off   int64
}

func (r *pbReader) Name() string     { return r.name }
func (r *pbReader) Header() []string { return nil }
func (r *pbReader) Offset() int64    { return r.off }

func (r *pbReader) Read() (Row, error) {
	prefix := &countingByteReader{br: r.br}
	size, err := binary.ReadUvarint(prefix)
	if err == io.EOF {
		return Row{}, io.EOF
	}
	if err != nil {
		return Row{}, fmt.Errorf("%s: record %d at byte %d: bad length prefix: %w", r.name, r.index+1, r.off, err)
	}
	if size > MaxRowSize {
		return Row{}, fmt.Errorf("%s: record %d at byte %d: length %d exceeds %d bytes", r.name, r.index+1, r.off, size, MaxRowSize)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r.br, data); err != nil {
		return Row{}, fmt.Errorf("%s: record %d at byte %d: truncated: %w", r.name, r.index+1, r.off, err)
	}
	r.off += prefix.n + int64(size)
	row := Row{Index: r.index, Line: r.index + 1, Data: data}
	r.index++
	return row, nil
}

// countingByteReader counts the bytes of a length prefix: a varint need not
// be in its shortest form, so its value does not tell its length.
type countingByteReader struct {
	br *bufio.Reader
	n  int64
}

func (c *countingByteReader) ReadByte() (byte, error) {
	b, err := c.br.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// pbDecoder reads the id and key of records passed through untouched.
type pbDecoder struct {
	b    *ElementBuilder
	idFD protoreflect.FieldDescriptor
}

func newPBDecoder(b *ElementBuilder, _ Reader) (RowDecoder, error) {
	d := &pbDecoder{b: b, idFD: b.fields.Lookup(b.opts.IDField)}
	if d.idFD == nil {
		msg := b.fields.Desc()
		return nil, fmt.Errorf("%s: id field %q is not a field of %s (fields: %s)", b.name, b.opts.IDField, msg.FullName(), fieldList(msg))
	}
	return d, b.CheckKey()
}

func (d *pbDecoder) Decode(row Row) (Element, error) {
	data := row.Data
	m := dynamicpb.NewMessage(d.b.fields.Desc())
	if err := proto.Unmarshal(data, m); err != nil {
		return Element{}, fmt.Errorf("not a %s: %v", d.b.fields.Desc().FullName(), err)
	}
	e, err := d.b.Identify(func(name string) (string, bool) {
		fd := d.b.fields.Lookup(name)
		if fd == nil || !m.Has(fd) {
			return "", false
		}
		return FieldText(m, fd)
	})
	e.Payload = data // passed through untouched
	return e, err
}

func (d *pbDecoder) ID(row Row) (string, bool) {
	m := dynamicpb.NewMessage(d.b.fields.Desc())
	if proto.Unmarshal(row.Data, m) == nil && m.Has(d.idFD) {
		return FieldText(m, d.idFD)
	}
	return "", false
}

// pbElement is a record in protobuf's JSON mapping, or its bytes as a JSON
// (base64) string when it does not parse.
func pbElement(row Row, msg protoreflect.MessageDescriptor) json.RawMessage {
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
}
