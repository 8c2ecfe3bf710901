package grid

import (
	"encoding/json"
	"sync/atomic"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gridrun/gridrun/codec"
)

// Element is one unit of work on its way through the engine.
type Element struct {
	ID string
	// Key is the join key; "" without a join.
	Key string
	// Payload is the binary's input message, serialized.
	Payload []byte
	// Source locates the row the element came from.
	Source Position
	// Raw renders the row as given, for a dead letter; nil renders null.
	Raw func() json.RawMessage

	// row and dec render the row of an element read by the engine, without
	// a closure per element.
	row codec.Row
	dec *codec.Decoder

	// settled is set by the first outcome: an element that runs twice (a
	// backup call) still has one.
	settled atomic.Bool
}

// given renders the row as given.
func (e *Element) given() json.RawMessage {
	switch {
	case e.Raw != nil:
		return e.Raw()
	case e.dec != nil:
		return e.dec.ElementJSON(e.row)
	}
	return nil
}

// claim reports whether this is the element's first outcome.
func (e *Element) claim() bool { return e.settled.CompareAndSwap(false, true) }

// Position names an input row: the input's index in the job and the row's
// 0-based index in it, plus its 1-based line for messages.
type Position struct {
	Input int
	Index int64
	Line  int64
}

// Dead-letter kinds.
const (
	// KindBadInput: the row could not become an element (bad JSON, a field
	// of the wrong type, no id, a duplicate id).
	KindBadInput = "bad_input"
	// KindElementError: the binary reported an error for the element.
	KindElementError = "element_error"
	// KindCrash: the binary died on the element, alone, every attempt.
	KindCrash = "crash"
	// KindBadOutput: the binary's output for the element broke the
	// protocol, alone, every attempt.
	KindBadOutput = "bad_output"
	// KindTimeout: the call of the element alone timed out.
	KindTimeout = "timeout"
	// KindMissingJoin: no join row for the element's key.
	KindMissingJoin = "missing_join"
	// KindBadJoinRow: the element's join row exists but cannot become the
	// binary's side message (a cell that does not convert to its field).
	KindBadJoinRow = "bad_join_row"
	// KindJoinUnavailable: the join source failed past its retries.
	KindJoinUnavailable = "join_unavailable"
)

// DeadLetter is an element that got no result, and why. It is one line of
// the dead-letter output.
type DeadLetter struct {
	ID      string `json:"id,omitempty"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
	// Input and Line locate the row the element came from.
	Input string `json:"input,omitempty"`
	Line  int64  `json:"line,omitempty"`
	// Field is the input field at fault, for bad input.
	Field string `json:"field,omitempty"`
	// ErrorType is the binary's name for an element error (an exception
	// type).
	ErrorType string `json:"error_type,omitempty"`
	// Batch and Attempts say which call failed and after how many tries.
	Batch    string `json:"batch,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
	// ExitCode is the crashed binary's status (128+n for signal n).
	ExitCode int `json:"exit_code,omitempty"`
	// Stderr is the end of the binary's stderr for crashes.
	Stderr string `json:"stderr,omitempty"`
	// Log is the kept stderr file of the failed call, relative to the
	// output directory.
	Log string `json:"log,omitempty"`
	// Element is the row as given.
	Element json.RawMessage `json:"element"`
}

// Outcome is the end of one element: a result or a dead letter.
type Outcome struct {
	Source Position
	// ID is the element's id.
	ID string
	// Line is the result encoded as a JSON line, for formats that write
	// lines. It is valid until the emit function it was given to returns:
	// copy it to keep it.
	Line []byte
	// Result is the decoded result message, for formats that encode it
	// themselves (ResultFormat.Raw).
	Result protoreflect.Message
	// Dead is the dead letter; nil for a result.
	Dead *DeadLetter
}
