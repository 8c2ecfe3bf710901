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
	// Files are the shard files the commit made visible, with what a
	// resume and gridrun verify check them against. A journal written
	// before checksums were recorded has none.
	Files []ShardFile `json:"files,omitempty"`
	// Retracts, on a record of its own, withdraws earlier commits whose
	// shards a resume found damaged: their files are removed and their
	// rows run again. The record takes a sequence number and carries the
	// batch count, so that neither is reused; it holds no rows.
	Retracts []int `json:"retracts,omitempty"`
	// Reason says what was wrong with the retracted commits' files.
	Reason string `json:"reason,omitempty"`
}

// ShardFile is one committed shard file as it was written.
type ShardFile struct {
	// Name is relative to the output directory.
	Name string `json:"name"`
	// Records is the number of outcomes the file holds: its lines for a
	// JSON lines shard, its rows for a Parquet one.
	Records int64  `json:"records"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
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
	commits, good, err := readCommits(f)
	if err != nil {
		f.Close()
		return nil, nil, err
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

// readCommits reads journal records up to the first torn or unreadable
// line, and returns the commits they leave standing (retractions applied)
// and the length of the good part.
func readCommits(r io.Reader) ([]Commit, int64, error) {
	var commits []Commit
	var good int64
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			break // a line without its newline is torn
		}
		if err != nil {
			return nil, 0, err
		}
		var c Commit
		if json.Unmarshal(bytes.TrimSpace(line), &c) != nil {
			break
		}
		if len(c.Retracts) > 0 {
			commits = slices.DeleteFunc(commits, func(old Commit) bool { return slices.Contains(c.Retracts, old.Seq) })
		}
		commits = append(commits, c)
		good += int64(len(line))
	}
	return commits, good, nil
}

// ReadJournal returns the commits standing in dir's journal, without
// changing it; a journal that does not exist has none.
func ReadJournal(dir string) ([]Commit, error) {
	f, err := os.Open(filepath.Join(dir, JournalFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	commits, _, err := readCommits(f)
	return commits, err
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
