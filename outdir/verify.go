package outdir

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/internal/hashset"
)

// Problem is one thing wrong with an output directory.
type Problem struct {
	// File is relative to the output directory.
	File string
	// Line is the 1-based line (or Parquet row) at fault; 0 for the file
	// as a whole.
	Line int64
	Msg  string
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return p.File + ": " + p.Msg
}

// Verification is what Verify found in an output directory.
type Verification struct {
	// Problems is empty when the output is whole.
	Problems []Problem
	// Results and DeadLetters are the outcomes read from the shards named
	// by the manifest.
	Results, DeadLetters int64
	// Files is the number of shard files read; Checksums the number
	// compared with the journal's checksums (none for a Beam output, which
	// has no journal, or a journal written before checksums existed).
	Files, Checksums int
}

// OK reports whether the output passed every check.
func (v *Verification) OK() bool { return len(v.Problems) == 0 }

func (v *Verification) problem(file string, line int64, format string, args ...any) {
	v.Problems = append(v.Problems, Problem{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// Verify checks a finished local output directory end to end, before its
// results are loaded downstream: the manifest is there and says the job
// finished; every line of every shard it names parses (a results line is
// {"id":..., "result":...}, a dead letter a DeadLetter; Parquet results
// are read row by row); the counts equal the manifest's; no id is settled
// twice across results and dead letters (dead letters without an id, bad
// rows, are keyed by their input and line); the files the manifest names exist and no
// other shard does; and, when the directory has a journal (the local
// engine), every shard matches the size, lines and sha256 its commit
// recorded. The error is for a directory that cannot be read at all; what
// is wrong with its contents is in Problems.
func Verify(ctx context.Context, dir string) (*Verification, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	v := &Verification{}
	present := map[string]bool{}
	for _, e := range entries {
		if n := e.Name(); isShardName(n) {
			present[n] = true
		}
	}
	m, err := ReadManifest(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		v.problem(ManifestFile, 0, "missing: the job did not finish; resume it with gridrun run ... --resume")
	case err != nil:
		v.problem(ManifestFile, 0, "does not parse: %v", unwrapName(err))
	}
	var results, dead []string
	if m != nil {
		checkStatus(v, m)
		results, dead = m.ResultFiles, m.DeadLetterFiles
		for _, n := range append(slices.Clone(results), dead...) {
			if !present[n] {
				v.problem(n, 0, "missing: %s names it", ManifestFile)
			}
		}
		named := map[string]bool{}
		for _, n := range append(slices.Clone(results), dead...) {
			named[n] = true
		}
		for _, n := range slices.Sorted(maps.Keys(present)) {
			if !named[n] {
				v.problem(n, 0, "not named by %s: not a committed shard of this job; remove it before loading the results", ManifestFile)
			}
		}
	} else {
		// Without a manifest, read what is there.
		for _, n := range slices.Sorted(maps.Keys(present)) {
			if strings.HasPrefix(n, "results-") {
				results = append(results, n)
			} else {
				dead = append(dead, n)
			}
		}
	}

	ids := &idSet{set: hashset.New(), seed: maphash.MakeSeed()}
	kinds := map[string]int64{}
	for _, n := range results {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if present[n] {
			v.Files++
			v.Results += readResults(v, dir, n, ids)
		}
	}
	for _, n := range dead {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if present[n] {
			v.Files++
			v.DeadLetters += readDeadLetters(v, dir, n, ids, kinds)
		}
	}
	if m != nil {
		checkCounts(v, m, kinds)
		if m.Runner == "" {
			if err := checkJournal(v, dir, m); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

// isShardName reports whether n is a results or dead-letter shard, or a
// leftover of one (a .tmp file), which a reader globbing the shards would
// also pick up.
func isShardName(n string) bool {
	return strings.HasPrefix(n, "results-") || strings.HasPrefix(n, "dead-letters-")
}

// unwrapName drops the file name DecodeManifest puts before its error: the
// problem names the file already.
func unwrapName(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

func checkStatus(v *Verification, m *Manifest) {
	switch m.Status {
	case "ok":
		if m.DeadLetters > 0 {
			v.problem(ManifestFile, 0, "status is ok but it counts %d dead letters", m.DeadLetters)
		}
	case "dead_letters":
	default:
		msg := fmt.Sprintf("status is %q", m.Status)
		if m.Error != "" {
			msg += " (" + m.Error + ")"
		}
		v.problem(ManifestFile, 0, "%s: the job did not finish; resume it with gridrun run ... --resume before loading its results", msg)
	}
}

func checkCounts(v *Verification, m *Manifest, kinds map[string]int64) {
	if v.Results != m.Results {
		v.problem(ManifestFile, 0, "results is %d, the shards hold %d", m.Results, v.Results)
	}
	if v.DeadLetters != m.DeadLetters {
		v.problem(ManifestFile, 0, "dead_letters is %d, the shards hold %d", m.DeadLetters, v.DeadLetters)
	}
	if m.Elements != m.Results+m.DeadLetters {
		v.problem(ManifestFile, 0, "elements is %d, not results + dead_letters (%d)", m.Elements, m.Results+m.DeadLetters)
	}
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		if m.DeadLettersByKind[k] != kinds[k] {
			v.problem(ManifestFile, 0, "dead_letters_by_kind[%s] is %d, the shards hold %d", k, m.DeadLettersByKind[k], kinds[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m.DeadLettersByKind)) {
		if _, ok := kinds[k]; !ok && m.DeadLettersByKind[k] != 0 {
			v.problem(ManifestFile, 0, "dead_letters_by_kind[%s] is %d, the shards hold none", k, m.DeadLettersByKind[k])
		}
	}
}

// checkJournal compares the shards with the checksums the journal
// recorded when it committed them, and the journal's shards with the
// manifest's.
func checkJournal(v *Verification, dir string, m *Manifest) error {
	if _, err := os.Stat(filepath.Join(dir, JournalFile)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	commits, err := ReadJournal(dir)
	if err != nil {
		return err
	}
	named := map[string]bool{}
	for _, n := range append(slices.Clone(m.ResultFiles), m.DeadLetterFiles...) {
		named[n] = true
	}
	for _, c := range commits {
		for _, f := range c.Files {
			if !named[f.Name] && !isStateFile(f.Name) {
				v.problem(f.Name, 0, "committed in %s but not named by %s", JournalFile, ManifestFile)
			}
			err := CheckShard(dir, f)
			var se *ShardError
			switch {
			case errors.As(err, &se):
				v.problem(f.Name, 0, "%s", se.Problem)
			case err != nil:
				return err
			}
			v.Checksums++
		}
	}
	return nil
}

// idSet keys the ids settled so far by a 64-bit hash: a fixed, small
// memory for millions of ids. Two different ids collide with odds of about
// n²/2⁶⁵ (1 in 300,000 at ten million ids).
type idSet struct {
	set  *hashset.Set
	seed maphash.Seed
}

func (s *idSet) add(id string) bool { return s.set.Add(maphash.String(s.seed, id)) }

// settled keys an outcome: its id, and its scenario in a job with
// scenarios, where an id is settled once per scenario.
func settled(id, scenario string) string {
	if scenario == "" {
		return id
	}
	return id + "\x00" + scenario
}

// under names a scenario in a problem, if any.
func under(scenario string) string {
	if scenario == "" {
		return ""
	}
	return fmt.Sprintf(" under scenario %q", scenario)
}

// lines calls fn with each line of file n and its 1-based number, and
// reports a line cut short (no newline at the end: a truncated file).
func lines(v *Verification, dir, n string, fn func(line []byte, no int64)) {
	f, err := os.Open(filepath.Join(dir, n))
	if err != nil {
		v.problem(n, 0, "cannot be read: %v", err)
		return
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	var no int64
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			no++
			if line[len(line)-1] != '\n' {
				v.problem(n, no, "no newline at the end of the file: it was cut short")
			}
			fn(bytes.TrimSuffix(line, []byte{'\n'}), no)
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			v.problem(n, no+1, "cannot be read: %v", err)
			return
		}
	}
}

func readResults(v *Verification, dir, n string, ids *idSet) int64 {
	if strings.HasSuffix(n, ".parquet") {
		return readParquetResults(v, dir, n, ids)
	}
	var count int64
	lines(v, dir, n, func(line []byte, no int64) {
		var r struct {
			ID       *string         `json:"id"`
			Scenario string          `json:"scenario"`
			Result   json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			v.problem(n, no, "not a JSON line: %v", err)
			return
		}
		if r.ID == nil || len(r.Result) == 0 {
			v.problem(n, no, `not a result: want {"id": ..., "result": {...}}`)
			return
		}
		count++
		if !ids.add(settled(*r.ID, r.Scenario)) {
			v.problem(n, no, "id %q%s is settled twice", *r.ID, under(r.Scenario))
		}
	})
	return count
}

func readParquetResults(v *Verification, dir, n string, ids *idSet) int64 {
	path := filepath.Join(dir, n)
	f, err := os.Open(path)
	if err != nil {
		v.problem(n, 0, "cannot be read: %v", err)
		return 0
	}
	defer f.Close()
	r, err := codec.Open(f, n, codec.Parquet, false)
	if err != nil {
		// codec's error names the file already.
		v.problem(n, 0, "%s", strings.TrimPrefix(err.Error(), n+": "))
		return 0
	}
	var count int64
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return count
		}
		if err != nil {
			v.problem(n, count+1, "cannot be read: %v", err)
			return count
		}
		count++
		var res struct {
			ID *string `json:"id"`
		}
		if json.Unmarshal(codec.ElementJSON(row, codec.Parquet, nil), &res) != nil || res.ID == nil {
			v.problem(n, row.Line, "no id")
			continue
		}
		if !ids.add(*res.ID) {
			v.problem(n, row.Line, "id %q is settled twice", *res.ID)
		}
	}
}

func readDeadLetters(v *Verification, dir, n string, ids *idSet, kinds map[string]int64) int64 {
	var count int64
	lines(v, dir, n, func(line []byte, no int64) {
		var d DeadLetter
		if err := json.Unmarshal(line, &d); err != nil {
			v.problem(n, no, "not a JSON line: %v", err)
			return
		}
		if d.Kind == "" {
			v.problem(n, no, "not a dead letter: no kind")
			return
		}
		count++
		kinds[d.Kind]++
		// A bad row is keyed by where it is, not by its id: the second row
		// of an id read twice is a bad_input dead letter beside the first
		// one's result.
		switch {
		case d.Kind != KindBadInput && d.ID != "":
			if !ids.add(settled(d.ID, d.Scenario)) {
				v.problem(n, no, "id %q%s is settled twice", d.ID, under(d.Scenario))
			}
		case d.Input != "" || d.Line != 0:
			if !ids.add(settled(fmt.Sprintf("\x00row\x00%s:%d", d.Input, d.Line), d.Scenario)) {
				v.problem(n, no, "row %s:%d%s is settled twice", d.Input, d.Line, under(d.Scenario))
			}
		}
	})
	return count
}
