package beamgrid

// SetHooks makes bundles fail on purpose, for the tests of retries, until
// the returned function restores the defaults.
func SetHooks(run func(Batch) error, write func(name string) error) (restore func()) {
	prevRun, prevWrite := runHook, writeHook
	if run != nil {
		runHook = run
	}
	if write != nil {
		writeHook = write
	}
	return func() { runHook, writeHook = prevRun, prevWrite }
}
