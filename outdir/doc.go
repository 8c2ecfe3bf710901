// Package outdir is the contract between a job and its output directory,
// the same for every engine (the local engine in grid, the Beam runner in
// beamgrid) and for every reader (gridrun report, inspect, the summary, a
// workflow's next step):
//
//	results-NNNNN.jsonl|.parquet   committed results shards
//	dead-letters-NNNNN.jsonl       committed dead letters (DeadLetter lines)
//	aggregates-N.jsonl|.parquet    the N-th --aggregate spec's groups,
//	                               written at the end (ReadAggregates)
//	manifest.json                  Manifest, written last: the job ended
//	logs/                          kept stdout/stderr of calls
//	logs/run.jsonl                 the job's log, every run's records
//	_gridrun/job.json              State: whose output this is, for resumes
//	_gridrun/journal.jsonl         Commit lines (local engine), with each
//	                               shard's size, line count and sha256
//	_gridrun/aggregates-NNNNN.bin  a commit's partial aggregates (local
//	                               engine), named in its Commit
//	_gridrun/timeline.jsonl        CallRecord lines
//	_gridrun/description.pb        the binary's message types
//
// It owns the names, the record types and their encodings, the job state
// and the resume check, the journal and the check of committed shards
// (Repair, on resume), and Verify, which checks a finished output end to
// end before it is loaded downstream. Engines decide when to write;
// this package decides what and where, so that a reader needs nothing of
// an engine to read an output.
package outdir
