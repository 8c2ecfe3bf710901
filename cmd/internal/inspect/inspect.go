// Package inspect prints gridrun's files as readable JSON: a call's batch
// file and results stream (with the payloads decoded by the binary's own
// message types, so a wrapper author sees exactly what the binary received
// and wrote), result and dead-letter files, manifests and descriptions.
package inspect

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/codec"
	gridrunv1 "github.com/gridrun/gridrun/proto/gridrun/v1"
	"github.com/gridrun/gridrun/wrapper"
)

// Kind is what a file holds.
type Kind string

const (
	// Batch is a call's batch file (batch.pb): one gridrun.v1.Batch.
	Batch Kind = "batch"
	// ResultStream is a call's results file (results.pb): length-delimited
	// gridrun.v1.Result messages.
	ResultStream Kind = "result-stream"
	// Results is a results-*.jsonl file of the output.
	Results Kind = "results"
	// DeadLetters is a dead-letters-*.jsonl file of the output.
	DeadLetters Kind = "dead-letters"
	// Manifest is a job's manifest.json.
	Manifest Kind = "manifest"
	// Description is a gridrun.v1.Description (_gridrun/description.pb).
	Description Kind = "description"
	// JSON is any other JSON or JSON-lines file, such as the timeline.
	JSON Kind = "json"
	// Parquet is a Parquet file: results-*.parquet, or an input.
	Parquet Kind = "parquet"
)

// Kinds lists the kinds, for help and shell completion.
var Kinds = []Kind{Batch, ResultStream, Results, DeadLetters, Manifest, Description, JSON, Parquet}

// ParseKind checks a kind named by the user.
func ParseKind(s string) (Kind, error) {
	if k := Kind(s); slices.Contains(Kinds, k) {
		return k, nil
	}
	var names []string
	for _, k := range Kinds {
		names = append(names, string(k))
	}
	return "", fmt.Errorf("unknown kind %q: want one of %s", s, strings.Join(names, ", "))
}

// NeedsSchema says whether printing the kind decodes payloads.
func (k Kind) NeedsSchema() bool { return k == Batch || k == ResultStream }

// Detect tells what the file at path holds, from its name and, when that
// is not enough, its first bytes.
func Detect(path string) (Kind, error) {
	base := strings.ToLower(filepath.Base(path))
	switch {
	case base == "manifest.json":
		return Manifest, nil
	case base == "description.pb":
		return Description, nil
	case base == "batch.pb":
		return Batch, nil
	case base == "results.pb":
		return ResultStream, nil
	case strings.HasPrefix(base, "results-") && strings.HasSuffix(base, ".jsonl"):
		return Results, nil
	case strings.HasPrefix(base, "dead-letters-") && strings.HasSuffix(base, ".jsonl"):
		return DeadLetters, nil
	}
	if f, _, err := codec.FormatOf(base); err == nil && f == codec.Parquet {
		return Parquet, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	whole := n < len(head) // protobuf is told by parsing it all: only small files
	head = head[:n]
	if t := bytes.TrimLeft(head, " \t\r\n"); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		if k, ok := sniffJSON(t); ok {
			return k, nil
		}
	}
	if whole && isResultStream(head) {
		return ResultStream, nil
	}
	if whole {
		var d gridrunv1.Description
		if proto.Unmarshal(head, &d) == nil && d.GetProtocol() == "gridrun.v1" {
			return Description, nil
		}
		var b gridrunv1.Batch
		if proto.Unmarshal(head, &b) == nil && b.GetBatchId() != "" {
			return Batch, nil
		}
	}
	return "", fmt.Errorf("%s: cannot tell what the file holds; give --kind", path)
}

// sniffJSON tells the JSON kinds apart by the keys of the first value; ok
// is false when it is not JSON (protobuf can start with '{' too).
func sniffJSON(head []byte) (k Kind, ok bool) {
	var v json.RawMessage
	if json.NewDecoder(bytes.NewReader(head)).Decode(&v) != nil {
		return "", false
	}
	var first map[string]json.RawMessage
	if json.Unmarshal(v, &first) != nil {
		return JSON, true
	}
	has := func(keys ...string) bool {
		for _, k := range keys {
			if _, ok := first[k]; !ok {
				return false
			}
		}
		return true
	}
	switch {
	case has("job_id", "status", "binary"):
		return Manifest, true
	case has("kind", "message"):
		return DeadLetters, true
	case has("id", "result") && len(first) == 2:
		return Results, true
	}
	return JSON, true
}

// isResultStream says whether data is a whole stream of length-delimited
// Results, each with an id.
func isResultStream(data []byte) bool {
	r := bufio.NewReader(bytes.NewReader(data))
	n := 0
	for {
		var res gridrunv1.Result
		err := protodelim.UnmarshalFrom(r, &res)
		if errors.Is(err, io.EOF) {
			return n > 0
		}
		if err != nil || res.GetId() == "" {
			return false
		}
		n++
	}
}

// FindDescription returns the _gridrun/description.pb of the output
// directory that holds path (a call's files are under OUTPUT/calls), or ""
// when there is none above it.
func FindDescription(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "_gridrun", "description.pb")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if filepath.Dir(dir) == dir {
			return "", nil
		}
	}
}

// ReadSchema reads a saved Description.
func ReadSchema(path string) (*wrapper.Schema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d := new(gridrunv1.Description)
	if err := proto.Unmarshal(b, d); err != nil {
		return nil, fmt.Errorf("%s: not a gridrun.v1.Description: %w", path, err)
	}
	s, err := wrapper.SchemaFromDescription(d)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Options configure Print.
type Options struct {
	// Schema decodes the payloads of batch and result-stream files; nil
	// shows them as base64.
	Schema *wrapper.Schema
	// Compact prints each JSON value on one line.
	Compact bool
}

// Print writes the file at path, of kind k, to w as JSON: one value for a
// batch, a manifest or a description; one value per result or line for
// the others.
func Print(w io.Writer, path string, k Kind, opts *Options) error {
	var o Options
	if opts != nil {
		o = *opts
	}
	p := &printer{w: w, opts: o}
	var err error
	switch k {
	case Batch:
		err = p.batch(path)
	case ResultStream:
		err = p.resultStream(path)
	case Description:
		err = p.description(path)
	case Results, DeadLetters, Manifest, JSON:
		err = p.jsonValues(path)
	case Parquet:
		err = p.parquet(path)
	default:
		err = fmt.Errorf("unknown kind %q", k)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

type printer struct {
	w    io.Writer
	opts Options
}

func (p *printer) emit(v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // a message with "<" should read as "<"
	if err := enc.Encode(v); err != nil {
		return err
	}
	return p.emitRaw(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

func (p *printer) emitRaw(b []byte) error {
	var buf bytes.Buffer
	var err error
	if p.opts.Compact {
		err = json.Compact(&buf, b)
	} else {
		err = json.Indent(&buf, b, "", "  ")
	}
	if err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = p.w.Write(buf.Bytes())
	return err
}

// payload is a protobuf payload as JSON: decoded, or base64 when it cannot
// be.
type payload struct {
	Payload json.RawMessage `json:"payload,omitempty"`
	Base64  string          `json:"payload_base64,omitempty"`
	Error   string          `json:"payload_error,omitempty"`
}

// payloadJSON is the JSON mapping the results files use: the .proto's
// field names, every field shown.
var payloadJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

func decode(md protoreflect.MessageDescriptor, b []byte) payload {
	if md == nil {
		return payload{Base64: base64.StdEncoding.EncodeToString(b)}
	}
	m := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(b, m); err != nil {
		return payload{Base64: base64.StdEncoding.EncodeToString(b), Error: fmt.Sprintf("not a %s: %v", md.FullName(), err)}
	}
	js, err := payloadJSON.Marshal(m)
	if err != nil {
		return payload{Base64: base64.StdEncoding.EncodeToString(b), Error: err.Error()}
	}
	return payload{Payload: js}
}

func (p *printer) types() (input, result, side protoreflect.MessageDescriptor) {
	if s := p.opts.Schema; s != nil {
		return s.Input, s.Result, s.Side
	}
	return nil, nil, nil
}

type batchJSON struct {
	JobID       string        `json:"job_id"`
	BatchID     string        `json:"batch_id"`
	Attempt     uint32        `json:"attempt"`
	MaxAttempts uint32        `json:"max_attempts,omitempty"`
	Elements    []elementJSON `json:"elements"`
	SideRows    []sideRowJSON `json:"side_rows,omitempty"`
	// Common is the job's common data, on a process's first batch.
	Common *payload `json:"common,omitempty"`
}

type elementJSON struct {
	ID       string   `json:"id"`
	SideRows []uint32 `json:"side_rows,omitempty"`
	payload
}

type sideRowJSON struct {
	Key string `json:"key"`
	payload
}

func (p *printer) batch(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b := new(gridrunv1.Batch)
	if err := proto.Unmarshal(data, b); err != nil {
		return fmt.Errorf("not a gridrun.v1.Batch: %w", err)
	}
	in, _, side := p.types()
	out := batchJSON{JobID: b.GetJobId(), BatchID: b.GetBatchId(), Attempt: b.GetAttempt(), MaxAttempts: b.GetMaxAttempts(),
		Elements: make([]elementJSON, 0, len(b.GetElements()))}
	for _, e := range b.GetElements() {
		out.Elements = append(out.Elements, elementJSON{ID: e.GetId(), SideRows: e.GetSideRows(), payload: decode(in, e.GetPayload())})
	}
	for _, r := range b.GetSideRows() {
		out.SideRows = append(out.SideRows, sideRowJSON{Key: r.GetKey(), payload: decode(side, r.GetPayload())})
	}
	if c := b.GetCommon(); len(c) > 0 {
		var md protoreflect.MessageDescriptor
		if p.opts.Schema != nil {
			md = p.opts.Schema.Common
		}
		d := decode(md, c)
		out.Common = &d
	}
	return p.emit(out)
}

type resultJSON struct {
	ID string `json:"id"`
	payload
	Error         *errorJSON `json:"error,omitempty"`
	DurationNanos uint64     `json:"duration_nanos,omitempty"`
}

type errorJSON struct {
	Message string `json:"message"`
	Type    string `json:"type,omitempty"`
}

func (p *printer) resultStream(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, result, _ := p.types()
	r := bufio.NewReader(f)
	for n := 0; ; n++ {
		res := new(gridrunv1.Result)
		err := protodelim.UnmarshalFrom(r, res)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			// A crash can tear the last result: what came before it stands.
			return fmt.Errorf("after %d results, not a length-delimited gridrun.v1.Result: %w", n, err)
		}
		out := resultJSON{ID: res.GetId(), DurationNanos: res.GetDurationNanos()}
		switch o := res.GetOutcome().(type) {
		case *gridrunv1.Result_Payload:
			out.payload = decode(result, o.Payload)
		case *gridrunv1.Result_Error:
			out.Error = &errorJSON{Message: o.Error.GetMessage(), Type: o.Error.GetType()}
		}
		if err := p.emit(out); err != nil {
			return err
		}
	}
}

func (p *printer) description(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	d := new(gridrunv1.Description)
	if err := proto.Unmarshal(data, d); err != nil {
		return fmt.Errorf("not a gridrun.v1.Description: %w", err)
	}
	var files []string
	for _, f := range d.GetFiles().GetFile() {
		files = append(files, f.GetName())
	}
	d.Files = nil // the descriptors themselves are for programs; their names say enough
	js, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(d)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		return err
	}
	m["files"] = files
	return p.emit(m)
}

// jsonValues re-indents each JSON value of a JSON or JSON-lines file, one
// at a time, so that a large file is never held whole.
func (p *printer) jsonValues(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(f, 64<<10))
	for n := 1; ; n++ {
		var v json.RawMessage
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("value %d: %w", n, err)
		}
		if err := p.emitRaw(v); err != nil {
			return err
		}
	}
}

// parquet prints each row of a Parquet file as a JSON object of its
// columns, as a dead letter shows a Parquet row.
func (p *printer) parquet(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := codec.Open(f, path, codec.Parquet, false)
	if err != nil {
		return err
	}
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := p.emitRaw(codec.ElementJSON(row, codec.Parquet, nil)); err != nil {
			return err
		}
	}
}
