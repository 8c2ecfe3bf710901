package grid

import (
	"encoding/json"
	"sync/atomic"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/resultcache"
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
	// Scenario is the scenario this element runs under; nil in a job
	// without scenarios. An input row becomes one Element per scenario,
	// sharing its payload.
	Scenario *Scenario

	// row and dec render the row of an element read by the engine, without
	// a closure per element.
	row codec.Row
	dec *codec.Decoder

	// cacheKey is the element's result-cache key, once looked up.
	cacheKey resultcache.Key

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

// Outcome is the end of one element: a result or a dead letter.
type Outcome struct {
	Source Position
	// ID is the element's id.
	ID string
	// Scenario is the id of the scenario the outcome is under; "" in a
	// job without scenarios.
	Scenario string
	// Line is the result encoded as a JSON line, for formats that write
	// lines. It is valid until the emit function it was given to returns:
	// copy it to keep it.
	Line []byte
	// Result is the decoded result message, for formats that encode it
	// themselves (ResultFormat.Raw).
	Result protoreflect.Message
	// Payload is the result message's wire bytes, set for every result:
	// a Direct format (ResultFormat.Direct) takes them when Result is nil,
	// and the aggregates read them. It is valid until the emit function it
	// was given to returns.
	Payload []byte
	// Dead is the dead letter; nil for a result.
	Dead *DeadLetter
	// Input is the element's input message, wire bytes, for a result and
	// for a dead letter of an element (nil for a row that never became
	// one): the aggregates read its fields. Valid until emit returns.
	Input []byte
}
