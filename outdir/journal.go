package outdir

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gridrun/gridrun/internal/rangeset"
)

// The journal is an append-only file of commit records, one JSON line each,
// fsynced: a commit exists when its line does. A line torn by a crash is
// not a commit and is cut off when the job resumes.

// Commit is one journal record: a pair of shard files made visible, and
// the input rows whose outcomes they hold.
type Commit struct {
	Seq int `json:"seq"`
	// Run is the run that made the commit: 1, 2 for the first resume...
	Run         int              `json:"run"`
	Results     int64            `json:"results"`
	DeadLetters int64            `json:"dead_letters"`
	Kinds       map[string]int64 `json:"kinds,omitempty"`
	// Rows are [input, first, end) ranges of row indexes.
	Rows [][3]int64 `json:"rows"`
	// Batches is the number of batch ids issued so far, so a resumed job
	// does not reuse one.
	Batches int64     `json:"batches"`
	Time    time.Time `json:"time"`
}

// Journal is an output directory's journal, open for appending.
type Journal struct {
	f *os.File
}

// OpenJournal reads the commits in dir's journal, cuts off a torn last
// line, and opens the journal for appending.
func OpenJournal(dir string) (*Journal, []Commit, error) {
	path := filepath.Join(dir, JournalFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	var commits []Commit
	var good int64
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			break // a line without its newline is torn
		}
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		var c Commit
		if json.Unmarshal(bytes.TrimSpace(line), &c) != nil {
			break
		}
		commits = append(commits, c)
		good += int64(len(line))
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, nil, err
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	return &Journal{f: f}, commits, nil
}

// Append records c, durably.
func (j *Journal) Append(c Commit) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return err
	}
	return j.f.Sync()
}

func (j *Journal) Close() error { return j.f.Close() }

// RowsOf encodes row sets, by input, for a commit.
func RowsOf(sets map[int]*rangeset.Set) [][3]int64 {
	var out [][3]int64
	for _, in := range slices.Sorted(maps.Keys(sets)) {
		for _, r := range sets[in].Ranges() {
			out = append(out, [3]int64{int64(in), r.Lo, r.Hi})
		}
	}
	return out
}

// Committed returns the input rows the commits hold, by input, and the
// number of batch ids they issued.
func Committed(commits []Commit) (map[int]*rangeset.Set, int64) {
	var batches int64
	done := map[int]*rangeset.Set{}
	for _, c := range commits {
		batches = max(batches, c.Batches)
		for _, r := range c.Rows {
			s := done[int(r[0])]
			if s == nil {
				s = new(rangeset.Set)
				done[int(r[0])] = s
			}
			s.Add(r[1], r[2])
		}
	}
	return done, batches
}
