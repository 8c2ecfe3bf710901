package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// heapHeadroom is how far the collector lets the heap grow past the live
// heap. Go's default (GOGC=100) lets it grow by the live heap itself, which
// doubles a runner whose live heap is mostly long-lived: the hash of every
// id of a ten-million-element job. A fixed headroom keeps the peak near
// what the job holds, at the cost of collecting more often on large heaps.
const heapHeadroom = 32 << 20

// gcPercent is the GOGC that gives live bytes of heap heapHeadroom to
// grow into: never above Go's default, never so low that the collector
// runs all the time.
func gcPercent(live uint64) int {
	if live == 0 {
		return 100
	}
	return int(min(100, max(25, heapHeadroom*100/live)))
}

// boundHeapGrowth retunes the collector to heapHeadroom every second until
// the returned stop is called. GOGC in the environment is the user's
// choice and turns it off.
func boundHeapGrowth(ctx context.Context) (stop func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		percent := 100
		for {
			select {
			case <-ctx.Done():
				debug.SetGCPercent(100)
				return
			case <-tick.C:
			}
			metrics.Read(live)
			if p := gcPercent(live[0].Value.Uint64()); p != percent {
				percent = p
				debug.SetGCPercent(p)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
