package codec

import (
	"bytes"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// ResultEncoder renders the binary's result messages as JSON lines. It is
// safe for concurrent use.
type ResultEncoder struct {
	desc protoreflect.MessageDescriptor
	flat []flatField // nil: not a flat message, no fast path
}

// NewResultEncoder renders results of type desc.
func NewResultEncoder(desc protoreflect.MessageDescriptor) *ResultEncoder {
	return &ResultEncoder{desc: desc, flat: flatFields(desc, true)}
}

// resultJSON is the JSON mapping of results: the .proto's own field names,
// and every field present, so that every line has the same columns.
var resultJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// AppendLine appends {"id": id, "result": {...}} and a newline to dst.
func (e *ResultEncoder) AppendLine(dst []byte, id string, payload []byte) ([]byte, error) {
	return e.AppendScenarioLine(dst, id, "", payload)
}

// AppendScenarioLine appends {"id": id, "scenario": scenario, "result":
// {...}} and a newline to dst: the line of a result under a scenario. An
// empty scenario is left out, as AppendLine does.
func (e *ResultEncoder) AppendScenarioLine(dst []byte, id, scenario string, payload []byte) ([]byte, error) {
	if e.flat != nil {
		start := len(dst)
		dst = appendResultHead(dst, id, scenario)
		if out, ok := appendFlatResult(dst, e.flat, payload); ok {
			return append(out, '}', '\n'), nil
		}
		dst = dst[:start]
	}
	m := dynamicpb.NewMessage(e.desc)
	if err := proto.Unmarshal(payload, m); err != nil {
		return dst, fmt.Errorf("result for %q is not a %s: %w", id, e.desc.FullName(), err)
	}
	js, err := resultJSON.Marshal(m)
	if err != nil {
		return dst, err
	}
	dst = appendResultHead(dst, id, scenario)
	dst = append(dst, compact(js)...)
	return append(dst, '}', '\n'), nil
}

// appendResultHead appends a result line up to its result: the id, and
// the scenario if any.
func appendResultHead(dst []byte, id, scenario string) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, id)
	if scenario != "" {
		dst = append(dst, `,"scenario":`...)
		dst = appendJSONString(dst, scenario)
	}
	return append(dst, `,"result":`...)
}

// compact removes the whitespace protojson adds at random (on purpose, so
// that nobody depends on its byte layout): our output files are the same
// bytes for the same results.
func compact(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}
