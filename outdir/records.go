package outdir

import (
	"encoding/json"
	"time"

	"github.com/gridrun/gridrun/jobspec"
	"github.com/gridrun/gridrun/join"
)

// Manifest describes a finished job. It is written last, as manifest.json:
// its presence says the job ended.
type Manifest struct {
	JobID string `json:"job_id"`
	// Status is "ok" (every element has a result), "dead_letters" (the job
	// finished; some elements are dead letters), "halted" (stopped by its
	// dead-letter limits), "failed" or "cancelled".
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`

	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	WallSeconds float64   `json:"wall_seconds"`
	// Runs counts this run and the earlier ones it resumed; Resumed is the
	// number of elements the earlier runs had committed.
	Runs    int   `json:"runs"`
	Resumed int64 `json:"resumed"`
	// RepairedShards counts the commits this run's resume found with a
	// damaged shard file (missing, truncated, altered): it withdrew them
	// and ran their rows again.
	RepairedShards int `json:"repaired_shards,omitempty"`

	// Elements is the number of input rows settled: Results + DeadLetters.
	Elements          int64            `json:"elements"`
	Results           int64            `json:"results"`
	DeadLetters       int64            `json:"dead_letters"`
	DeadLettersByKind map[string]int64 `json:"dead_letters_by_kind"`
	// Batches is the number of batches made of the input;
	// AdaptiveBatchSizes the sizes this run chose for them.
	Batches            int64      `json:"batches"`
	AdaptiveBatchSizes BatchSizes `json:"adaptive_batch_sizes"`
	ExecStats
	// ThroughputPerSecond is the elements settled by this run per second.
	ThroughputPerSecond float64 `json:"throughput_per_second"`
	// ElementTimes and CallTimes are this run's durations: the binary's
	// time per element, and the wall time of each call.
	ElementTimes HistogramSummary `json:"element_times"`
	CallTimes    HistogramSummary `json:"call_times"`
	// Timeline is the file, relative to the output directory, with one
	// line per call (CallRecord): slot, start, end, elements, reason.
	Timeline string `json:"timeline"`
	// PeakRSSBytes is the peak resident memory of the process the job ran
	// in (Linux; 0 elsewhere): from the CLI, the runner's own, without the
	// binary's.
	PeakRSSBytes int64 `json:"peak_rss_bytes,omitempty"`
	// Containment is how the local engine killed the processes a binary
	// started outside its process group: "cgroup" or "subreaper" (see
	// wrapper.Containment); "" on Beam, whose workers decide for themselves.
	Containment string `json:"containment,omitempty"`

	Binary BinaryInfo  `json:"binary"`
	Inputs []InputInfo `json:"inputs"`
	Join   *JoinInfo   `json:"join,omitempty"`
	// Scenarios describes the job's scenarios file; nil without one.
	Scenarios *ScenariosInfo `json:"scenarios,omitempty"`
	// Common is the provenance of the job's common data; nil without.
	Common *CommonInfo `json:"common,omitempty"`
	// ResultCache is the result cache's use by this run; nil without one.
	ResultCache *ResultCacheInfo `json:"result_cache,omitempty"`
	// ResultFiles and DeadLetterFiles are the committed shards, relative
	// to the output directory.
	ResultFiles     []string `json:"result_files"`
	DeadLetterFiles []string `json:"dead_letter_files"`
	// Aggregates are the job's aggregate specs and the files holding
	// their totals, over the committed results only.
	Aggregates []AggregateInfo `json:"aggregates,omitempty"`
	// Options is the job as run, defaults filled in.
	Options jobspec.Job `json:"options"`

	// Runner is the Beam runner of a job run on Beam ("prism",
	// "dataflow"); "" for the local engine. Shards is the number of groups
	// the elements were batched in there, OutputShards the number of
	// results and dead-letter files they were written to at most.
	Runner       string `json:"runner,omitempty"`
	Shards       int    `json:"shards,omitempty"`
	OutputShards int    `json:"output_shards,omitempty"`
	// RunnerSplits counts the splits of running input ranges the Beam
	// runner asked for and got; RunnerCallSplits those of them that
	// stopped a running call, whose elements not begun went to the
	// residual range or ran again.
	RunnerSplits     int64 `json:"runner_splits,omitempty"`
	RunnerCallSplits int64 `json:"runner_call_splits,omitempty"`
}

// AggregateInfo is one aggregate spec (Job.Aggregates) as computed.
type AggregateInfo struct {
	Spec string `json:"spec"`
	// File is the aggregates file, relative to the output directory: one
	// row per group with its key fields, its values, and its results and
	// dead_letters counts.
	File   string `json:"file"`
	Groups int    `json:"groups"`
	// Keys and Values are the file's columns: the by fields, then the
	// values (sum_value, count, quantile_0_99_value).
	Keys   []string `json:"keys,omitempty"`
	Values []string `json:"values"`
}

// BinaryInfo is the provenance of the binary that produced the results.
type BinaryInfo struct {
	// URI is the binary as the job named it; Path the verified copy that
	// ran.
	URI     string `json:"uri"`
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	// InputType, ResultType and SideType are the binary's message types.
	InputType  string `json:"input_type"`
	ResultType string `json:"result_type"`
	SideType   string `json:"side_type,omitempty"`
}

// CommonInfo is the provenance of a job's common data: the file, the
// binary's message type it holds, and the sha256 and length of the
// message's canonical encoding, the bytes each process received.
type CommonInfo struct {
	Source string `json:"source"`
	Type   string `json:"type"`
	SHA256 string `json:"sha256"`
	Bytes  int    `json:"bytes"`
}

// InputInfo describes one input file.
type InputInfo struct {
	Path   string `json:"path"`
	Format string `json:"format"`
	// Rows is the number of rows this run read (all of them, when a
	// resumed run skips the committed ones).
	Rows int64 `json:"rows"`
	// UnfilledFields are the input message's fields no column fills (CSV,
	// Parquet: those optional) or no row of the first batch has (JSON
	// lines, which omit zero values); UnusedColumns the columns that fill
	// no field (accepted with ignore_unknown_fields).
	UnfilledFields []string `json:"unfilled_fields,omitempty"`
	UnusedColumns  []string `json:"unused_columns,omitempty"`
}

// ScenariosInfo describes a job's scenarios: every element ran under each.
type ScenariosInfo struct {
	File   string `json:"file"`
	Count  int    `json:"count"`
	SHA256 string `json:"sha256"`
	// Type is the binary's scenario message.
	Type string `json:"type"`
	// BlockRows is the number of input rows run under every scenario in
	// turn (the journal's numbering of (row, scenario) depends on it).
	BlockRows int `json:"block_rows"`
}

// ResultCacheInfo describes a run's use of its result cache (package
// resultcache): the elements served from it (hits) and computed (misses),
// the batches looked up and the pack reads they took, the corrupt entries
// found and recomputed, the entries stored.
type ResultCacheInfo struct {
	URI  string `json:"uri"`
	Mode string `json:"mode"`
	// IndexEntries is the number of entries the cache held when the run
	// opened it (0 in write mode, which reads nothing).
	IndexEntries  int   `json:"index_entries"`
	Hits          int64 `json:"hits"`
	Misses        int64 `json:"misses"`
	Lookups       int64 `json:"lookups"`
	Reads         int64 `json:"reads"`
	Corrupt       int64 `json:"corrupt"`
	Stored        int64 `json:"stored"`
	Packs         int64 `json:"packs_written"`
	StoreFailures int64 `json:"store_failures,omitempty"`
}

// JoinInfo describes the join: the source, the snapshot read, and the
// Table's counts (reads, rows, cache hits and misses, missing keys).
type JoinInfo struct {
	Source string `json:"source"`
	Key    string `json:"key"`
	// MissingPolicy is JoinSpec.Missing; "missing" is the count of keys
	// without a row, in Stats.
	MissingPolicy string    `json:"missing_policy"`
	Family        string    `json:"family,omitempty"`
	AsOf          time.Time `json:"as_of,omitzero"`
	join.Stats
	// Unavailable reports that the source failed past its retries for
	// some batches, whose elements are dead letters of kind
	// join_unavailable.
	Unavailable bool `json:"unavailable,omitempty"`
	// Columns are the table's columns (for Bigtable, the qualifiers of its
	// first read); UnusedColumns those that fill no field of the side
	// message; UnfilledFields the optional fields no column fills.
	Columns        []string `json:"columns,omitempty"`
	UnusedColumns  []string `json:"unused_columns,omitempty"`
	UnfilledFields []string `json:"unfilled_fields,omitempty"`
}

// ExecStats counts what an executor did.
type ExecStats struct {
	Calls      int64 `json:"subprocess_calls"`
	Retries    int64 `json:"retries"`
	Isolations int64 `json:"isolation_calls"`
	Splits     int64 `json:"splits"`
	Backups    int64 `json:"backups"`
	// CPU is the user+system CPU time of all calls, in seconds.
	CPU float64 `json:"subprocess_cpu_seconds"`
}

// BatchSizes summarises the batch sizes chosen, for the manifest.
type BatchSizes struct {
	Min    int `json:"min"`
	Median int `json:"median"`
	Max    int `json:"max"`
	// Count is the number of batches sized.
	Count int `json:"count"`
}

// HistogramSummary is a histogram of durations as the manifest shows it.
type HistogramSummary struct {
	Count int64   `json:"count"`
	Sum   float64 `json:"sum_seconds"`
	Min   float64 `json:"min_seconds"`
	P50   float64 `json:"p50_seconds"`
	P99   float64 `json:"p99_seconds"`
	Max   float64 `json:"max_seconds"`
	// Buckets holds the non-empty buckets: durations up to LE seconds.
	Buckets []Bucket `json:"buckets"`
}

// Bucket is one histogram bucket.
type Bucket struct {
	LE    float64 `json:"le"`
	Count int64   `json:"count"`
}

// CallRecord is one subprocess call: a line of the timeline.
type CallRecord struct {
	// Run is the job's run that made the call: 1, then 2 for its first
	// resume, and so on.
	Run int `json:"run,omitempty"`
	// Seq numbers the calls of a run from 1, in the order they began: a
	// call's start record and its end record share it. 0 in a timeline
	// written before start records were.
	Seq      int64     `json:"seq,omitempty"`
	Slot     int       `json:"slot"`
	Batch    string    `json:"batch"`
	Attempt  int       `json:"attempt"`
	Start    time.Time `json:"start,omitzero"`
	End      time.Time `json:"end,omitzero"`
	Elements int       `json:"elements"`
	Results  int       `json:"results"`
	// Reason is why the call was made: "batch", "retry", "isolate" (a
	// suspect alone or the rest of a failed call), "split" (the remainder
	// of a stopped call), "backup" (a straggling element run again).
	Reason string `json:"reason"`
	// Failure is the dead-letter kind of the call's failure, or "".
	Failure string `json:"failure,omitempty"`
	// Stopped reports a call stopped early to split it.
	Stopped bool `json:"stopped,omitempty"`
	// ElementSeconds is the time the binary reported for its elements;
	// 0 when it reports none.
	ElementSeconds float64 `json:"element_seconds,omitempty"`
}

// TimelineRecord is one line of the timeline (TimelineFile): a call that
// ended, a call that began, or a run's start, its end, or its element times
// so far. Records are appended one write each as they happen, so that a
// run killed outright leaves every record up to its last instant: a call
// with a start record and no end record was in flight when its run was
// killed, and a run with no end record was killed.
type TimelineRecord struct {
	// Event says what the record is; see the Event constants. A line
	// without one is a call that ended, as every line was before events.
	Event string `json:"event,omitempty"`
	CallRecord
	// ElementTimes, on EventTimes and EventRunEnd records, is the
	// histogram of the binary's time per element over the run so far:
	// the timeline cannot rebuild it from the calls, which carry only
	// their sums.
	ElementTimes *HistogramSummary `json:"element_times,omitempty"`
}

// Timeline events, for TimelineRecord.Event. A run's records carry its
// number in Run.
const (
	// EventCall is a call that ended: Start and End are set.
	EventCall = ""
	// EventCallStart is a call that began at Start; its EventCall record,
	// with the same Run and Seq, follows unless the run was killed.
	EventCallStart = "start"
	// EventRunStart is a run that began at Start.
	EventRunStart = "run"
	// EventRunEnd is a run that ended at End (finished, halted, failed or
	// cancelled: anything but killed), with its element times.
	EventRunEnd = "run_end"
	// EventTimes is a run's element times at End, written with each
	// commit, so that a killed run leaves them as of its last commit.
	EventTimes = "times"
)

// Encode renders the record as its line of the timeline, without the
// newline.
func (r *TimelineRecord) Encode() []byte {
	b, _ := json.Marshal(r) // times, strings and numbers always marshal
	return b
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
	ID string `json:"id,omitempty"`
	// Scenario is the id of the scenario the element ran under, in a job
	// with scenarios.
	Scenario string `json:"scenario,omitempty"`
	Kind     string `json:"kind"`
	Message  string `json:"message"`
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

// Encode renders the dead letter as its line of a dead-letter file, without
// the newline; an element never given renders null.
func (d *DeadLetter) Encode() ([]byte, error) {
	if d.Element == nil {
		d.Element = json.RawMessage("null")
	}
	return json.Marshal(d)
}
