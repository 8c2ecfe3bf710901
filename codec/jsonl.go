package codec

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// JSON lines: one JSON object per line, its keys the message's fields.
func init() {
	RegisterFormat(JSONL, InputFormat{
		Exts:    []string{".jsonl", ".ndjson", ".json"},
		Aliases: []string{"ndjson", "json"},
		Gzip:    true,
		Table:   true,
		NewReader: func(r io.Reader, name string) (Reader, error) {
			return &jsonlReader{name: name, br: bufio.NewReaderSize(r, readBuffer)}, nil
		},
		NewReaderAt: func(_, body io.Reader, name string, at Split) (SplitReader, error) {
			return &jsonlReader{name: name, br: bufio.NewReaderSize(body, readBuffer), off: at.Offset, index: at.Row, line: at.Line}, nil
		},
		NewDecoder:  newJSONLDecoder,
		ElementJSON: jsonlElement,
		CountRows:   countLines,
	})
}

type jsonlReader struct {
	name  string
	br    *bufio.Reader
	line  int64
	index int64
	off   int64
	lines slab // copies of the lines that fit the read buffer
}

func (r *jsonlReader) Name() string     { return r.name }
func (r *jsonlReader) Header() []string { return nil }
func (r *jsonlReader) Offset() int64    { return r.off }

// Next: a line's start, blank lines before a row included, since they
// are skipped by Read from there as from the start.
func (r *jsonlReader) Next() (Split, bool) {
	return Split{Offset: r.off, Row: r.index, Line: r.line}, true
}

func (r *jsonlReader) Read() (Row, error) {
	for {
		line, tooLong, err := r.readLine()
		if err == io.EOF && len(line) == 0 && !tooLong {
			return Row{}, err
		}
		if err != nil && err != io.EOF {
			return Row{}, fmt.Errorf("%s:%d: %w", r.name, r.line+1, err)
		}
		r.line++
		if tooLong {
			row := Row{Index: r.index, Line: r.line, Err: fmt.Errorf("line longer than %d bytes", MaxRowSize)}
			r.index++
			return row, nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue // blank lines are not rows
		}
		row := Row{Index: r.index, Line: r.line, Data: line}
		r.index++
		return row, nil
	}
}

// readLine returns the next line without its newline, in a fresh slice.
func (r *jsonlReader) readLine() (line []byte, tooLong bool, err error) {
	chunk, err := r.br.ReadSlice('\n')
	if err == nil {
		// The common case, a whole line in the read buffer: one copy,
		// carved from a block shared with the lines around it.
		r.off += int64(len(chunk))
		return r.lines.copy(bytes.TrimSuffix(chunk[:len(chunk)-1], []byte("\r"))), false, nil
	}
	for {
		r.off += int64(len(chunk))
		if !tooLong {
			n := len(chunk) // without the newline, which the last line may lack
			if n > 0 && chunk[n-1] == '\n' {
				n--
			}
			if len(line)+n > MaxRowSize {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			chunk, err = r.br.ReadSlice('\n')
			continue
		}
		if err != nil {
			return line, tooLong, err
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		return line, tooLong, nil
	}
}

// jsonlDecoder decodes JSON lines, through the fast path when the message
// is flat.
type jsonlDecoder struct {
	b *ElementBuilder
	// fast holds *fastJSON decoders of a flat message's JSON lines, one per
	// goroutine at a time; nil when the message is not flat.
	fast *sync.Pool
}

func newJSONLDecoder(b *ElementBuilder, _ Reader) (RowDecoder, error) {
	d := &jsonlDecoder{b: b}
	msg, opts := b.fields.Desc(), b.opts
	if newFastJSON(msg, opts) != nil {
		d.fast = &sync.Pool{New: func() any { return newFastJSON(msg, opts) }}
	}
	// A row may carry the id besides the message's fields, and with
	// IgnoreUnknown any field at all.
	if opts.IgnoreUnknown {
		return d, nil
	}
	return d, b.CheckKey(opts.IDField)
}

func (d *jsonlDecoder) Decode(row Row) (Element, error) {
	line := row.Data
	if d.fast != nil {
		f := d.fast.Get().(*fastJSON)
		payload, ok := f.decode(line, d.b.opts.IgnoreUnknown)
		if ok {
			e, err := d.b.Identify(f.text)
			if err == nil {
				e.Payload = payload
				d.fast.Put(f)
				return e, nil
			}
		}
		d.fast.Put(f)
		// Declined: the general path decodes the row, or says what is wrong.
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return Element{}, fmt.Errorf("not a JSON object: %v", err)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same row fails the same way every time
	m := dynamicpb.NewMessage(d.b.fields.Desc())
	for _, k := range keys {
		fd := d.b.fields.Lookup(k)
		if fd == nil {
			if k == d.b.opts.IDField || d.b.opts.IgnoreUnknown {
				continue
			}
			return Element{}, &FieldError{Field: k, Msg: "not a field of " + string(d.b.fields.Desc().FullName())}
		}
		if err := SetJSON(m, fd, obj[k]); err != nil {
			return Element{}, err
		}
	}
	// Decoding the id's JSON string would replace invalid bytes by
	// U+FFFD; the raw bytes still have them.
	if !utf8.Valid(obj[d.b.opts.IDField]) {
		return Element{}, invalidID(d.b.opts.IDField)
	}
	get := func(name string) (string, bool) { return JSONKeyText(obj[name]) }
	return d.b.Build(m, get)
}

func (d *jsonlDecoder) ID(row Row) (string, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(row.Data, &obj) != nil {
		return "", false
	}
	return JSONKeyText(obj[d.b.opts.IDField])
}

// jsonlElement is the JSON line itself, or the line as a JSON string when
// it is not JSON.
func jsonlElement(row Row, _ protoreflect.MessageDescriptor) json.RawMessage {
	if json.Valid(row.Data) {
		return json.RawMessage(slices.Clone(row.Data))
	}
	b, _ := json.Marshal(string(row.Data))
	return b
}
