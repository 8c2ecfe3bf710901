package grid

import "time"

// Progress is a snapshot of a running job, for progress displays.
type Progress struct {
	// JobID is the job's id.
	JobID   string        `json:"job"`
	Elapsed time.Duration `json:"elapsed_seconds"`
	// RowsRead counts the input rows read by this run; InputDone says the
	// inputs are exhausted, so RowsRead is the total.
	RowsRead  int64 `json:"rows_read"`
	InputDone bool  `json:"input_done"`
	// Total is the number of elements of the job as well as it is known:
	// RowsRead once the inputs are read to their end; before, the rows of
	// every input counted up front, beside the job (codec.Count: lines,
	// length prefixes, Parquet footers); while that count runs, an
	// estimate from the bytes read so far (TotalEstimated). 0 while nothing
	// is known.
	Total          int64 `json:"total"`
	TotalEstimated bool  `json:"total_estimated"`
	// Settled counts the elements with an outcome (this run's, and the
	// committed outcomes of the runs it resumed), Results and DeadLetters
	// split it.
	Settled     int64 `json:"settled"`
	Results     int64 `json:"results"`
	DeadLetters int64 `json:"dead_letters"`
	// Resumed counts the outcomes committed by earlier runs.
	Resumed int64 `json:"resumed"`
	// DeadLettersByKind splits DeadLetters by kind (KindCrash, ...).
	DeadLettersByKind map[string]int64 `json:"dead_letters_by_kind"`
	// Running counts the calls in flight; Calls the calls made; Retries
	// the retried calls.
	Running int   `json:"running"`
	Calls   int64 `json:"calls"`
	Retries int64 `json:"retries"`
}
