package grid

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

// stateDir holds the job's own files inside the output directory.
const stateDir = "_gridrun"

// commit is one journal record: a pair of shard files made visible, and
// the input rows whose outcomes they hold.
type commit struct {
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

// resultsName is a results shard's name without its format's extension.
func resultsName(seq int) string     { return fmt.Sprintf("results-%05d", seq) }
func deadLettersName(seq int) string { return fmt.Sprintf("dead-letters-%05d.jsonl", seq) }

type journal struct {
	f *os.File
}

// openJournal reads the commits in dir's journal, cuts off a torn last
// line, and opens the journal for appending.
func openJournal(dir string) (*journal, []commit, error) {
	path := filepath.Join(dir, stateDir, "journal.jsonl")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	var commits []commit
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
		var c commit
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
	return &journal{f: f}, commits, nil
}

func (j *journal) append(c commit) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return err
	}
	return j.f.Sync()
}

func (j *journal) close() error { return j.f.Close() }

// rowsOf encodes row sets for a commit.
func rowsOf(sets map[int]*rangeset.Set) [][3]int64 {
	var out [][3]int64
	for _, in := range slices.Sorted(maps.Keys(sets)) {
		for _, r := range sets[in].Ranges() {
			out = append(out, [3]int64{int64(in), r.Lo, r.Hi})
		}
	}
	return out
}
