package grid

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gridrun/gridrun/join"
)

// Manifest describes a finished job. It is written last, as manifest.json
// in the output directory: its presence says the job ended.
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

	Binary BinaryInfo  `json:"binary"`
	Inputs []InputInfo `json:"inputs"`
	Join   *JoinInfo   `json:"join,omitempty"`
	// ResultFiles and DeadLetterFiles are the committed shards, relative
	// to the output directory.
	ResultFiles     []string `json:"result_files"`
	DeadLetterFiles []string `json:"dead_letter_files"`
	// Options is the job as run, defaults filled in.
	Options Job `json:"options"`
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

// InputInfo describes one input file.
type InputInfo struct {
	Path   string `json:"path"`
	Format string `json:"format"`
	// Rows is the number of rows this run read (all of them, when a
	// resumed run skips the committed ones).
	Rows int64 `json:"rows"`
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
}

// writeManifest writes m atomically.
func writeManifest(dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "manifest.json"), append(b, '\n'))
}

// writeFileAtomic writes a file under a temporary name, syncs it and
// renames it into place.
func writeFileAtomic(path string, data []byte) error {
	return writeAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeAtomic is writeFileAtomic for contents written by write.
func writeAtomic(path string, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// ReadManifest reads the manifest of a finished job.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	m := new(Manifest)
	if err := json.Unmarshal(b, m); err != nil {
		return nil, err
	}
	return m, nil
}
