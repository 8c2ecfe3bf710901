package grid

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gridrun/gridrun/aggregate"
	"github.com/gridrun/gridrun/internal/atomicfile"
	"github.com/gridrun/gridrun/internal/rangeset"
	"github.com/gridrun/gridrun/outdir"
)

// sink writes outcomes to shard files and commits them. Outcomes go to the
// open shards (temporary names) as they arrive; a commit closes the shards,
// fsyncs and renames them into place and appends a journal record naming
// the rows they hold. A reader never sees half a file, and a crash loses
// only uncommitted rows, which a resume recomputes.
type sink struct {
	dir        string
	inputs     []string
	journal    *outdir.Journal
	format     ResultFormat
	resultType protoreflect.MessageDescriptor
	// commit when a results shard reaches maxBytes or has been open maxAge.
	maxBytes int64
	maxAge   time.Duration
	batches  func() int64

	run    int   // this run's number
	before int64 // outcomes committed by earlier runs

	mu      sync.Mutex
	seq     int
	mine    []outdir.Commit // this run's commits
	results *shard
	dead    *shard
	rows    map[int]*rangeset.Set
	epoch   outdir.Commit // counts of the open shards
	opened  time.Time     // when the open shards got their first line
	total   outdir.Commit // counts of everything committed, earlier runs included
	// timeline gets one write per record, unbuffered, so that a run
	// killed outright leaves every record up to its last instant.
	timeline *os.File
	// times returns the element times so far, for the timeline's
	// EventTimes and EventRunEnd records; ended says EventRunEnd was
	// written.
	times func() HistogramSummary
	ended bool
	err   error
	// onDead, when set, is told the outcome counts after each dead letter.
	onDead func(results, dead int64)
	// onSettled, when set, is told of each outcome written: kind is ""
	// for a result, the dead letter's kind otherwise.
	onSettled func(kind string)
	// agg, when the job has aggregates, totals the outcomes of the open
	// shards in partial; a commit writes partial beside its shards, so
	// that the totals hold exactly the committed rows.
	agg     *aggregate.Plan
	partial *aggregate.Set
}

type shard struct {
	final string
	f     *os.File
	w     *bufio.Writer
	enc   ResultEncoder // results only
	bytes int64
	sum   *outdir.ShardSum // of the bytes the file got, for the journal
}

func newSink(dir string, run int, inputs []string, j *outdir.Journal, prior []outdir.Commit, batches func() int64, maxAge time.Duration) (*sink, error) {
	s := &sink{
		run:      run,
		dir:      dir,
		inputs:   inputs,
		journal:  j,
		maxBytes: 64 << 20,
		maxAge:   maxAge,
		batches:  batches,
		rows:     map[int]*rangeset.Set{},
		epoch:    outdir.Commit{Kinds: map[string]int64{}},
		total:    outdir.Commit{Kinds: map[string]int64{}},
	}
	for _, c := range prior {
		s.total.Results += c.Results
		s.total.DeadLetters += c.DeadLetters
		for k, n := range c.Kinds {
			s.total.Kinds[k] += n
		}
		s.seq = max(s.seq, c.Seq+1)
	}
	s.before = s.total.Results + s.total.DeadLetters
	f, err := openTimeline(filepath.Join(dir, outdir.TimelineFile))
	if err != nil {
		return nil, err
	}
	s.timeline = f
	s.record(outdir.TimelineRecord{Event: outdir.EventRunStart, CallRecord: CallRecord{Start: time.Now()}})
	return s, nil
}

// openTimeline opens the timeline for appending. A line an earlier run's
// kill tore gets its newline, so that this run's first record is a line
// of its own.
func openTimeline(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			f.Write([]byte{'\n'})
		}
	}
	return f, nil
}

// emit writes one outcome. A write error fails the job; nothing after it
// is committed.
func (s *sink) emit(o Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	if s.opened.IsZero() {
		s.opened = time.Now()
	}
	var err error
	if o.Dead != nil {
		d := o.Dead
		d.Input, d.Line = s.inputs[o.Source.Input], o.Source.Line
		var b []byte
		if b, err = d.Encode(); err == nil {
			err = s.write(&s.dead, outdir.DeadLettersName(s.seq), append(b, '\n'))
		}
		s.epoch.DeadLetters++
		s.epoch.Kinds[d.Kind]++
		if s.onDead != nil {
			s.onDead(s.total.Results+s.epoch.Results, s.total.DeadLetters+s.epoch.DeadLetters)
		}
	} else {
		err = s.writeResult(o)
		s.epoch.Results++
	}
	if err == nil && s.agg != nil {
		if s.partial == nil {
			s.partial = s.agg.NewSet()
		}
		err = s.partial.Add(aggregate.Row{Result: o.Payload, Input: o.Input, Scenario: o.Scenario, Dead: o.Dead != nil})
	}
	if err != nil {
		s.err = fmt.Errorf("write output: %w", err)
		return
	}
	if s.onSettled != nil {
		kind := ""
		if o.Dead != nil {
			kind = o.Dead.Kind
		}
		s.onSettled(kind)
	}
	rs := s.rows[o.Source.Input]
	if rs == nil {
		rs = new(rangeset.Set)
		s.rows[o.Source.Input] = rs
	}
	rs.Add(o.Source.Index, o.Source.Index+1)
	if s.results != nil && s.results.bytes >= s.maxBytes {
		s.commitLocked()
	}
}

func (s *sink) write(sh **shard, name string, line []byte) error {
	if err := s.open(sh, name); err != nil {
		return err
	}
	n, err := (*sh).w.Write(line)
	(*sh).bytes += int64(n)
	return err
}

func (s *sink) writeResult(o Outcome) error {
	if s.results == nil {
		if err := s.open(&s.results, outdir.ResultsName(s.seq)+s.format.Ext); err != nil {
			return err
		}
		enc, err := s.format.Open(s.results.w, s.resultType)
		if err != nil {
			return err
		}
		s.results.enc = enc
	}
	n, err := s.results.enc.Write(o)
	s.results.bytes += int64(n)
	return err
}

func (s *sink) open(sh **shard, name string) error {
	if *sh != nil {
		return nil
	}
	final := filepath.Join(s.dir, name)
	f, err := os.OpenFile(final+".tmp", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	sum := outdir.NewShardSum()
	*sh = &shard{final: final, f: f, w: bufio.NewWriterSize(io.MultiWriter(f, sum), 256<<10), sum: sum}
	return nil
}

// call records in the timeline a call that ended.
func (s *sink) call(r CallRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(outdir.TimelineRecord{Event: outdir.EventCall, CallRecord: r})
}

// callStart records in the timeline a call that began.
func (s *sink) callStart(r CallRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(outdir.TimelineRecord{Event: outdir.EventCallStart, CallRecord: r})
}

// endRun records the run's end in the timeline, once.
func (s *sink) endRun() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endRunLocked()
}

func (s *sink) endRunLocked() {
	if s.ended {
		return
	}
	s.ended = true
	s.record(s.timesRecord(outdir.EventRunEnd))
}

func (s *sink) timesRecord(event string) outdir.TimelineRecord {
	r := outdir.TimelineRecord{Event: event, CallRecord: CallRecord{End: time.Now()}}
	if s.times != nil {
		t := s.times()
		r.ElementTimes = &t
	}
	return r
}

// record appends one record to the timeline, as one write. The timeline
// is a diagnosis, not an output: a failed write does not fail the job.
func (s *sink) record(r outdir.TimelineRecord) {
	r.Run = s.run
	s.timeline.Write(append(r.Encode(), '\n'))
}

// commitIfOld commits the open shards if they have been open long enough,
// so that a slow job still commits regularly.
func (s *sink) commitIfOld() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.opened.IsZero() && time.Since(s.opened) >= s.maxAge {
		s.commitLocked()
	}
}

// commit commits the open shards and returns the first error the sink met.
func (s *sink) commit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commitLocked()
	return s.err
}

func (s *sink) commitLocked() {
	if s.err != nil || (s.epoch.Results == 0 && s.epoch.DeadLetters == 0) {
		return
	}
	var files []outdir.ShardFile
	for _, sh := range []*shard{s.results, s.dead} {
		if sh == nil {
			continue
		}
		var err error
		records := s.epoch.DeadLetters
		if sh.enc != nil {
			records = s.epoch.Results
			err = sh.enc.Close()
		}
		if err == nil {
			err = sh.w.Flush()
		}
		if err == nil {
			err = sh.f.Sync()
		}
		if cerr := sh.f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(sh.f.Name(), sh.final)
		}
		if err != nil {
			s.err = fmt.Errorf("commit output: %w", err)
			return
		}
		files = append(files, sh.sum.File(filepath.Base(sh.final), records))
	}
	if s.agg != nil {
		f, err := s.writePartial()
		if err != nil {
			s.err = fmt.Errorf("commit aggregates: %w", err)
			return
		}
		files = append(files, f)
	}
	if err := atomicfile.SyncDir(s.dir); err != nil {
		s.err = fmt.Errorf("commit output: %w", err)
		return
	}
	c := s.epoch
	c.Seq, c.Run, c.Rows, c.Batches, c.Time = s.seq, s.run, outdir.RowsOf(s.rows), s.batches(), time.Now().UTC()
	c.Files = files
	if err := s.journal.Append(c); err != nil {
		s.err = fmt.Errorf("commit journal: %w", err)
		return
	}
	s.total.Results += c.Results
	s.total.DeadLetters += c.DeadLetters
	for k, n := range c.Kinds {
		s.total.Kinds[k] += n
	}
	s.mine = append(s.mine, c)
	if s.times != nil {
		s.record(s.timesRecord(outdir.EventTimes))
	}
	s.seq++
	s.results, s.dead, s.opened, s.partial = nil, nil, time.Time{}, nil
	s.rows = map[int]*rangeset.Set{}
	s.epoch = outdir.Commit{Kinds: map[string]int64{}}
}

// writePartial writes the open shards' partial aggregates, durably
// (atomicfile syncs the file and its directory), for the commit to name.
func (s *sink) writePartial() (outdir.ShardFile, error) {
	if s.partial == nil {
		s.partial = s.agg.NewSet()
	}
	b, err := s.partial.MarshalBinary()
	if err != nil {
		return outdir.ShardFile{}, err
	}
	name := outdir.PartialsName(s.seq)
	if err := atomicfile.WriteFile(filepath.Join(s.dir, name), b, 0o644); err != nil {
		return outdir.ShardFile{}, err
	}
	sum := outdir.NewShardSum()
	sum.Write(b)
	return sum.File(name, s.epoch.Results+s.epoch.DeadLetters), nil
}

// counts returns the outcomes written so far, committed or not, and the
// outcomes committed before this run.
func (s *sink) counts() (results, dead, before int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total.Results + s.epoch.Results, s.total.DeadLetters + s.epoch.DeadLetters, s.before
}

// kinds returns the dead letters written so far by kind, committed or
// not, earlier runs' included.
func (s *sink) kinds() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := maps.Clone(s.total.Kinds)
	if out == nil {
		out = map[string]int64{}
	}
	for k, n := range s.epoch.Kinds {
		out[k] += n
	}
	return out
}

// failed returns the error that stopped the sink, if any.
func (s *sink) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// committed returns this run's commits.
func (s *sink) committed() []outdir.Commit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mine)
}

// totals returns the committed counts, earlier runs included.
func (s *sink) totals() outdir.Commit {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.total
	t.Kinds = maps.Clone(t.Kinds)
	return t
}

// close commits nothing; it releases the files. Uncommitted shards stay as
// .tmp files for a resume to discard.
func (s *sink) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sh := range []*shard{s.results, s.dead} {
		if sh != nil {
			sh.f.Close()
		}
	}
	s.endRunLocked()
	s.timeline.Close()
}
