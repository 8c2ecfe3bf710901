package beamgrid

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

// Every DoFn, emitter and iterator is registered: a pipeline run with go
// run (or by any binary whose workers are started from it) fails without
// it, and registered functions run without reflection.
func init() {
	register.DoFn3x1[context.Context, InputFile, func(Chunk), error](&splitFn{})
	register.DoFn3x1[context.Context, Chunk, func(IDFiles), error](&idsFn{})
	register.DoFn4x1[context.Context, int, func(*IDFiles) bool, func(Chunk), error](&mergeFn{})
	register.DoFn4x1[context.Context, *sdf.LockRTracker, Chunk, func(Tally), error](&rangeFn{})
	register.DoFn3x0[string, func(Element), func(DeadLetter)](&decodeJSONFn{})
	register.DoFn1x2[Element, int64, Element](&shardFn{})
	register.DoFn4x0[int64, func(*Element) bool, func(Batch), func(DeadLetter)](&batchFn{})
	register.DoFn4x1[Batch, func(Result), func(DeadLetter), func(Tally), error](&runFn{})
	register.DoFn3x1[context.Context, int, func(*Tally) bool, error](&manifestFn{})

	register.Emitter1[Element]()
	register.Emitter1[DeadLetter]()
	register.Emitter1[Result]()
	register.Emitter1[Batch]()
	register.Emitter1[Tally]()
	register.Emitter1[Chunk]()
	register.Emitter1[IDFiles]()
	register.Iter1[IDFiles]()
	register.Iter1[Element]()
	register.Iter1[Result]()
	register.Iter1[DeadLetter]()
	register.Iter1[Tally]()
}
