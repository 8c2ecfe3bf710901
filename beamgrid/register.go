package beamgrid

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

// Every DoFn, emitter and iterator is registered: a pipeline run with go
// run (or by any binary whose workers are started from it) fails without
// it, and registered functions run without reflection.
func init() {
	register.DoFn5x1[context.Context, InputFile, func(Element), func(DeadLetter), func(Tally), error](&readFn{})
	register.DoFn3x0[string, func(Element), func(DeadLetter)](&decodeJSONFn{})
	register.DoFn1x2[Element, int64, Element](&shardFn{})
	register.DoFn4x0[int64, func(*Element) bool, func(Batch), func(DeadLetter)](&batchFn{})
	register.DoFn4x1[Batch, func(Result), func(DeadLetter), func(Tally), error](&runFn{})
	register.DoFn1x2[Result, int64, Result](&keyResultFn{})
	register.DoFn1x2[DeadLetter, int64, DeadLetter](&keyDeadFn{})
	register.DoFn5x1[context.Context, int64, func(*Result) bool, func(*DeadLetter) bool, func(Tally), error](&writeFn{})
	register.DoFn3x1[context.Context, int, func(*Tally) bool, error](&manifestFn{})

	register.Emitter1[Element]()
	register.Emitter1[DeadLetter]()
	register.Emitter1[Result]()
	register.Emitter1[Batch]()
	register.Emitter1[Tally]()
	register.Iter1[Element]()
	register.Iter1[Result]()
	register.Iter1[DeadLetter]()
	register.Iter1[Tally]()
}
