package beamgrid

// Points where tests make a bundle fail on purpose, to show that a retried
// bundle leaves no duplicate. They do nothing in programs.
var (
	// runHook runs before a batch starts.
	runHook = func(Batch) error { return nil }
	// writeHook runs after an output file was written into place.
	writeHook = func(name string) error { return nil }
)
