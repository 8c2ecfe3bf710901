package grid

// Observer is told of a running job's events as they happen, for live
// displays such as a metrics endpoint. Unlike Hooks.OnProgress, which
// samples the job every interval, an Observer sees every call and every
// outcome, so that counters and histograms built from it are exact.
//
// The engine calls its methods from many goroutines at once, some while
// holding the job's locks: they must be safe for concurrent use, return
// quickly and never block. Hooks.Observer nil means none.
type Observer interface {
	// JobStarted is called once, before the first call, with what the
	// runs this one resumes committed.
	JobStarted(JobStart)
	// CallStarted is called when a call takes a slot (0 to Slots-1), with
	// its number of elements: the batch size. Every CallStarted is
	// followed by one CallEnded.
	CallStarted(slot, elements int)
	// CallEnded is called with the record of each call once its outcomes
	// are settled: the line the timeline gets. The call left its slot a
	// moment before, so that the next could start; JobStart.Running, not
	// the difference of the two counts, is the calls in flight.
	CallEnded(CallRecord)
	// Settled is called once per outcome as it is written to the output
	// (committed within Job.CommitInterval): kind is "" for a result,
	// the dead letter's kind otherwise.
	Settled(kind string)
	// InputCounted is called once the job's total of input rows is
	// known, the rows earlier runs committed included: when the inputs
	// have been read to their end. A job whose input ends early (an
	// error, a halt, a cancel) never calls it.
	InputCounted(rows int64)
}

// JobStart is what an Observer learns as a job starts.
type JobStart struct {
	JobID string
	// Run is the job's run: 1, then 2 for its first resume, and so on.
	Run int
	// Slots is the number of calls that may run at once.
	Slots int
	// Running returns the number of calls holding a slot now, at most
	// Slots. It may be called at any time, from any goroutine.
	Running func() int
	// Results and DeadLetters (by kind) are the outcomes committed by the
	// runs this one resumes; zero on a first run.
	Results     int64
	DeadLetters map[string]int64
}
