package outdir

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gridrun/gridrun/internal/atomicfile"
)

// ShardSum hashes and counts a shard's bytes as the engine writes them, so
// that a commit records its files' checksums without reading them again.
// Put it beside the file under the shard's buffered writer (io.MultiWriter):
// it sees exactly the bytes the file gets.
type ShardSum struct {
	h    hash.Hash
	size int64
}

// NewShardSum starts the sum of an empty file.
func NewShardSum() *ShardSum { return &ShardSum{h: sha256.New()} }

func (s *ShardSum) Write(p []byte) (int, error) {
	s.h.Write(p)
	s.size += int64(len(p))
	return len(p), nil
}

// File is the journal's record of the file written, named relative to the
// output directory, holding records outcomes.
func (s *ShardSum) File(name string, records int64) ShardFile {
	return ShardFile{Name: name, Records: records, Size: s.size, SHA256: hex.EncodeToString(s.h.Sum(nil))}
}

// ShardError is a committed shard file that does not hold what its commit
// recorded.
type ShardError struct {
	File    string // relative to the output directory
	Problem string
}

func (e *ShardError) Error() string { return e.File + ": " + e.Problem }

// CheckShard reads a committed shard file of dir and compares it with its
// journal record: size, sha256, and for JSON lines the number of lines. A
// difference is a *ShardError.
func CheckShard(dir string, f ShardFile) error {
	file, err := os.Open(filepath.Join(dir, f.Name))
	if errors.Is(err, os.ErrNotExist) {
		return &ShardError{File: f.Name, Problem: "missing: the journal records it as committed"}
	}
	if err != nil {
		return err
	}
	defer file.Close()
	h := sha256.New()
	var size, lines int64
	buf := make([]byte, 256<<10)
	for {
		n, err := file.Read(buf)
		h.Write(buf[:n])
		size += int64(n)
		lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	switch {
	case size != f.Size:
		return &ShardError{File: f.Name, Problem: fmt.Sprintf("%d bytes, the journal recorded %d (truncated or appended to)", size, f.Size)}
	case strings.HasSuffix(f.Name, ".jsonl") && lines != f.Records:
		return &ShardError{File: f.Name, Problem: fmt.Sprintf("%d lines, the journal recorded %d", lines, f.Records)}
	case sum != f.SHA256:
		return &ShardError{File: f.Name, Problem: fmt.Sprintf("sha256 %s, the journal recorded %s (altered)", sum, f.SHA256)}
	}
	return nil
}

// checkCommit returns the first problem with commit c's files in dir. A
// commit written before checksums were recorded is checked for the
// existence of its files only.
func checkCommit(dir string, c Commit, resultExts []string) error {
	if len(c.Files) > 0 {
		for _, f := range c.Files {
			if err := CheckShard(dir, f); err != nil {
				return err
			}
		}
		return nil
	}
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
	if c.DeadLetters > 0 && !exists(DeadLettersName(c.Seq)) {
		return &ShardError{File: DeadLettersName(c.Seq), Problem: "missing: the journal records it as committed"}
	}
	if c.Results > 0 {
		for _, ext := range resultExts {
			if exists(ResultsName(c.Seq) + ext) {
				return nil
			}
		}
		return &ShardError{File: ResultsName(c.Seq) + ".*", Problem: "missing: the journal records it as committed"}
	}
	return nil
}

// Repair checks the files of every commit against the journal, before a
// resumed run uses them. A commit with a damaged file (missing, truncated,
// appended to, altered) is retracted: a record appended to the journal
// withdraws it, its files are removed, and its rows, which the journal
// names exactly, are run again by the resumed run. It returns the commits
// left standing and the damage found, one *ShardError per retracted
// commit. Errors other than damage (a disk that cannot be read) are
// returned as they are.
func Repair(dir string, j *Journal, commits []Commit, resultExts []string) ([]Commit, []*ShardError, error) {
	var damaged []*ShardError
	retract := Commit{Time: time.Now().UTC()}
	var kept []Commit
	for _, c := range commits {
		retract.Seq = max(retract.Seq, c.Seq+1)
		retract.Batches = max(retract.Batches, c.Batches)
		err := checkCommit(dir, c, resultExts)
		var se *ShardError
		switch {
		case errors.As(err, &se):
			damaged = append(damaged, se)
			retract.Retracts = append(retract.Retracts, c.Seq)
		case err != nil:
			return nil, nil, err
		default:
			kept = append(kept, c)
		}
	}
	if len(damaged) == 0 {
		return commits, nil, nil
	}
	var reasons []string
	for _, d := range damaged {
		reasons = append(reasons, d.Error())
	}
	retract.Reason = strings.Join(reasons, "; ")
	// The retraction first: once it is durable the files are uncommitted,
	// and a crash before they are removed leaves them for the next resume
	// to clear like any uncommitted shard.
	if err := j.Append(retract); err != nil {
		return nil, nil, err
	}
	for _, c := range commits {
		if !slices.Contains(retract.Retracts, c.Seq) {
			continue
		}
		names := []string{DeadLettersName(c.Seq), PartialsName(c.Seq)}
		for _, ext := range resultExts {
			names = append(names, ResultsName(c.Seq)+ext)
		}
		for _, n := range names {
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, nil, err
			}
		}
	}
	for _, d := range []string{dir, filepath.Join(dir, StateDir)} {
		if err := atomicfile.SyncDir(d); err != nil {
			return nil, nil, err
		}
	}
	return append(kept, retract), damaged, nil
}
