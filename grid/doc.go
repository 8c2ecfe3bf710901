// Package grid is the engine: it runs a compiled binary over every element
// of a job's inputs, in batches, through a pool of subprocess calls capped by
// a semaphore, and writes each element's result or dead letter exactly once.
//
//	input rows -> decode (parallel, order kept) -> batches -> join rows
//	  -> pool of calls (wrapper) -> results + dead letters -> commit -> manifest
//
// Run is the whole job on one machine. Executor is one batch's worth of it,
// shared with the Beam runner: it joins the batch's market data, runs the
// call, and turns what happened into outcomes — isolating the element that
// crashed a call, retrying what the user declared transient, and timing out
// calls that hang.
//
// Outputs appear atomically. Results and dead letters are written to shard
// files that are renamed into place when complete and recorded in a journal
// with the input rows they cover; a job killed at any moment and run again
// with Resume skips the rows the journal holds and discards everything else,
// so every input row ends in exactly one committed line.
package grid
