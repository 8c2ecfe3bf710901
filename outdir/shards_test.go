package outdir_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/internal/rangeset"
	"github.com/gridrun/gridrun/outdir"
)

// writeShard writes a shard file through a ShardSum, as the engine does,
// and returns its journal record.
func writeShard(t *testing.T, dir, name, content string, records int64) outdir.ShardFile {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	sum := outdir.NewShardSum()
	io.WriteString(io.MultiWriter(f, sum), content)
	f.Close()
	return sum.File(name, records)
}

func rowsOf(lo, hi int64) [][3]int64 {
	var s rangeset.Set
	s.Add(lo, hi)
	return outdir.RowsOf(map[int]*rangeset.Set{0: &s})
}

// The sum recorded while writing is the file's sha256 and size.
func TestShardSumIsTheFilesChecksum(t *testing.T) {
	content := "{\"id\":\"a\",\"result\":{}}\n{\"id\":\"b\",\"result\":{}}\n"
	f := writeShard(t, t.TempDir(), "results-00000.jsonl", content, 2)
	want := sha256.Sum256([]byte(content))
	if f.SHA256 != hex.EncodeToString(want[:]) || f.Size != int64(len(content)) || f.Records != 2 {
		t.Fatalf("%+v, want sha256 %x and %d bytes", f, want, len(content))
	}
}

// Repair retracts the commits whose files are damaged (altered bytes of the
// same size; a file of a journal without checksums gone) and keeps the
// others; the journal, read again, holds only the rows of the good commit,
// and the sequence and batch numbers are not reused.
func TestRepairRetractsDamagedCommits(t *testing.T) {
	dir := t.TempDir()
	j, _, err := outdir.Prepare(dir, false, []string{".jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	line := "{\"id\":\"x\",\"result\":{}}\n"
	altered := writeShard(t, dir, "results-00000.jsonl", line, 1)
	good := writeShard(t, dir, "results-00002.jsonl", line, 1)
	j.Append(outdir.Commit{Seq: 0, Results: 1, Rows: rowsOf(0, 1), Batches: 1, Files: []outdir.ShardFile{altered}})
	j.Append(outdir.Commit{Seq: 1, Results: 1, Rows: rowsOf(1, 2), Batches: 5}) // no checksums, and no file
	j.Append(outdir.Commit{Seq: 2, Results: 1, Rows: rowsOf(2, 3), Batches: 3, Files: []outdir.ShardFile{good}})
	j.Close()
	os.WriteFile(filepath.Join(dir, "results-00000.jsonl"), []byte(strings.Replace(line, "x", "y", 1)), 0o644)

	j, commits, err := outdir.Prepare(dir, true, []string{".jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	kept, damaged, err := outdir.Repair(dir, j, commits, []string{".jsonl"})
	j.Close()
	if err != nil || len(damaged) != 2 {
		t.Fatalf("repair: %v, damaged %v; want two", err, damaged)
	}
	if damaged[0].File != "results-00000.jsonl" || !strings.Contains(damaged[0].Problem, "sha256") {
		t.Errorf("first damage: %v, want results-00000.jsonl's sha256", damaged[0])
	}
	if damaged[1].File != "results-00001.*" || !strings.Contains(damaged[1].Problem, "missing") {
		t.Errorf("second damage: %v, want results-00001 missing", damaged[1])
	}
	if _, err := os.Stat(filepath.Join(dir, "results-00000.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the altered shard was not removed: %v", err)
	}

	_, again, err := outdir.OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range [][]outdir.Commit{kept, again} {
		done, batches := outdir.Committed(got)
		if !done[0].Contains(2) || done[0].Contains(0) || done[0].Contains(1) || batches != 5 {
			t.Fatalf("committed rows %v, batches %d; want row 2 only and 5 batches", done[0].Ranges(), batches)
		}
		if last := got[len(got)-1]; last.Seq != 3 {
			t.Fatalf("the retraction took seq %d, want 3", last.Seq)
		}
	}

	// Nothing damaged: nothing written.
	before, _ := os.Stat(filepath.Join(dir, outdir.JournalFile))
	j, commits, _ = outdir.Prepare(dir, true, []string{".jsonl"})
	if _, damaged, err := outdir.Repair(dir, j, commits, []string{".jsonl"}); err != nil || len(damaged) != 0 {
		t.Fatalf("second repair: %v, %v", err, damaged)
	}
	j.Close()
	if after, _ := os.Stat(filepath.Join(dir, outdir.JournalFile)); after.Size() != before.Size() {
		t.Fatal("a repair with nothing damaged wrote to the journal")
	}
}

// Verify keys bad rows by place, not by id: an id read twice (a result
// and a bad_input dead letter) is whole; the same id as a result and as a
// crash is settled twice. A Beam output has no journal to check against.
func TestVerifyKeysBadRowsByPlace(t *testing.T) {
	write := func(dead string) string {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "results-00000.jsonl"), []byte("{\"id\":\"a\",\"result\":{}}\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "dead-letters-00000.jsonl"), []byte(dead+"\n"), 0o644)
		outdir.WriteManifest(dir, &outdir.Manifest{Status: "dead_letters", Elements: 2, Results: 1, DeadLetters: 1,
			DeadLettersByKind: map[string]int64{strings.Split(strings.Split(dead, `"kind":"`)[1], `"`)[0]: 1},
			ResultFiles:       []string{"results-00000.jsonl"}, DeadLetterFiles: []string{"dead-letters-00000.jsonl"}, Runner: "prism"})
		return dir
	}
	ok := write(`{"id":"a","kind":"bad_input","message":"duplicate id","input":"in.jsonl","line":2,"element":{}}`)
	v, err := outdir.Verify(context.Background(), ok)
	if err != nil || !v.OK() || v.Results != 1 || v.DeadLetters != 1 || v.Checksums != 0 {
		t.Fatalf("a duplicate input id: %+v, %v; want whole", v, err)
	}
	twice := write(`{"id":"a","kind":"crash","message":"died","input":"in.jsonl","line":1,"element":{}}`)
	v, err = outdir.Verify(context.Background(), twice)
	if err != nil || v.OK() || !strings.Contains(v.Problems[0].String(), `dead-letters-00000.jsonl:1: id "a" is settled twice`) {
		t.Fatalf("an id as result and crash: %+v, %v; want it settled twice", v, err)
	}
}

// A journal written before checksums were recorded still resumes: its
// commits stand while their files exist.
func TestRepairKeepsAnOldJournalsCommits(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, outdir.StateDir), 0o644|0o111)
	os.WriteFile(filepath.Join(dir, outdir.JournalFile), []byte(
		`{"seq":0,"run":1,"results":1,"dead_letters":1,"rows":[[0,0,2]],"batches":1,"time":"2025-01-01T00:00:00Z"}`+"\n"), 0o644)
	for _, n := range []string{"results-00000.parquet", "dead-letters-00000.jsonl"} {
		os.WriteFile(filepath.Join(dir, n), []byte("x\n"), 0o644)
	}
	j, commits, err := outdir.Prepare(dir, true, []string{".jsonl", ".parquet"})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	kept, damaged, err := outdir.Repair(dir, j, commits, []string{".jsonl", ".parquet"})
	if err != nil || len(damaged) != 0 || len(kept) != 1 {
		t.Fatalf("%v, damaged %v, kept %d; want the one commit kept", err, damaged, len(kept))
	}
}
