// Package beamgrid runs gridrun jobs as Apache Beam pipelines (Go SDK):
// on Dataflow in production, on prism locally and in tests, on any runner
// of the portable API. It is the same job, the same binary and the same
// outputs as the local engine's, and the same code does the work: rows are
// decoded by package codec, the binary is staged by binstage, market data
// is joined by join, and every batch runs through grid.Executor.RunTask,
// with its crash isolation, retries and timeouts. Nothing about running a
// batch is written here; this package moves elements in and outcomes out.
// The core packages do not import Beam.
//
// The pipeline has the shape of Dataflow's guide for highly parallel
// workloads: elements keyed by a checksum of their id modulo a shard
// count, grouped (GroupByKey), cut into batches of the job's batch size,
// and run by a DoFn that stages the binary once per worker process, reads
// the join once per batch and caps the subprocesses of the process with
// the executor's semaphore. Results and dead letters are its two outputs.
//
// Prepare and Apply put that step in a pipeline of one's own; Build is the
// whole job as gridrun run --runner prism|dataflow runs it: read the
// inputs, run the step, write results-NNNNN.jsonl, dead-letters-NNNNN.jsonl
// and manifest.json as the local engine does, each file replaced whole
// under a name that depends only on the ids it holds, so that a retried
// bundle leaves no duplicate. See docs/scaling-out.md.
//
// Programs that build pipelines call flag.Parse and beam.Init first, as
// every Beam Go program does: on a Dataflow worker, beam.Init runs the
// worker and never returns.
package beamgrid
