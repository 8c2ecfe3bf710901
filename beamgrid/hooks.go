package beamgrid

// Points where tests make a bundle fail on purpose, to show that a retried
// bundle leaves no duplicate. They do nothing in programs.
var (
	// runHook runs before a batch starts.
	runHook = func(Batch) error { return nil }
	// rangeHook runs when a range's files are in place, before its
	// tally goes on: the range of that input starting at that position.
	rangeHook = func(input int, start int64) error { return nil }
)
