package grid

import "time"

// Progress is a snapshot of a running job, for progress displays.
type Progress struct {
	Elapsed time.Duration `json:"elapsed_seconds"`
	// RowsRead counts the input rows read by this run; InputDone says the
	// inputs are exhausted, so RowsRead is the total.
	RowsRead  int64 `json:"rows_read"`
	InputDone bool  `json:"input_done"`
	// Settled counts the elements with an outcome (this run's, and the
	// committed outcomes of the runs it resumed), Results and DeadLetters
	// split it.
	Settled     int64 `json:"settled"`
	Results     int64 `json:"results"`
	DeadLetters int64 `json:"dead_letters"`
	// Resumed counts the outcomes committed by earlier runs.
	Resumed int64 `json:"resumed"`
	// Running counts the calls in flight; Calls the calls made; Retries
	// the retried calls.
	Running int   `json:"running"`
	Calls   int64 `json:"calls"`
	Retries int64 `json:"retries"`
}
