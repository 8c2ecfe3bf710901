package outdir

import (
	"fmt"
	"strings"
)

// Names of the files of an output directory, relative to it.
const (
	// StateDir holds the job's own files.
	StateDir        = "_gridrun"
	ManifestFile    = "manifest.json"
	StateFile       = StateDir + "/job.json"
	JournalFile     = StateDir + "/journal.jsonl"
	TimelineFile    = StateDir + "/timeline.jsonl"
	DescriptionFile = StateDir + "/description.pb"
	LogsDir         = "logs"
	// RunLogFile is the job's log, every record in full as a JSON line,
	// appended to by each run: where a terminal's counted warnings are
	// read.
	RunLogFile = LogsDir + "/run.jsonl"
	// CallsDir holds the kept batch and results files of calls
	// (Job.KeepBatchFiles).
	CallsDir = "calls"
)

// ResultsName is the name of results shard seq without its format's
// extension.
func ResultsName(seq int) string { return fmt.Sprintf("results-%05d", seq) }

// DeadLettersName is the name of dead-letter shard seq.
func DeadLettersName(seq int) string { return fmt.Sprintf("dead-letters-%05d.jsonl", seq) }

// PartialsName is the partial aggregates of commit seq: the totals of the
// rows its shards hold, committed with them (Job.Aggregates).
func PartialsName(seq int) string { return fmt.Sprintf("%s/aggregates-%05d.bin", StateDir, seq) }

// AggregatesName is the n-th (from 1) aggregates file, for the job's n-th
// aggregate spec, without its format's extension.
func AggregatesName(n int) string { return fmt.Sprintf("aggregates-%d", n) }

// isStateFile reports whether a committed file's name is one of the job's
// own files (partial aggregates) rather than an output shard.
func isStateFile(name string) bool { return strings.HasPrefix(name, StateDir+"/") }
