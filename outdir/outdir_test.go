package outdir_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridrun/gridrun/internal/rangeset"
	"github.com/gridrun/gridrun/jobspec"
	"github.com/gridrun/gridrun/outdir"
)

// A resume is refused, with what differs, whenever the job is not the one
// that wrote the output.
func TestResumeRefusesAnotherJob(t *testing.T) {
	have := outdir.State{JobID: "j1", Engine: outdir.EngineLocal, SHA256: "aa", Inputs: []string{"a.jsonl"}, Runs: 2, OutputFormat: "jsonl"}
	for name, c := range map[string]struct {
		change func(*outdir.State)
		want   string
	}{
		"binary":  {func(s *outdir.State) { s.SHA256 = "bb" }, "binary sha256 aa, this job runs bb"},
		"inputs":  {func(s *outdir.State) { s.Inputs = []string{"b.jsonl"} }, "inputs [a.jsonl], this job reads [b.jsonl]"},
		"format":  {func(s *outdir.State) { s.OutputFormat = "parquet" }, "written as jsonl, this job writes parquet"},
		"shards":  {func(s *outdir.State) { s.OutputShards = 4 }, "give --output-shards 0"},
		"job id":  {func(s *outdir.State) { s.JobID = "j2" }, "belongs to job j1, not j2"},
		"engine":  {func(s *outdir.State) { s.Engine = outdir.EngineBeam }, "written by the local engine"},
		"another": {func(s *outdir.State) { s.Inputs = append(s.Inputs, "c.jsonl") }, "this job reads [a.jsonl c.jsonl]"},
	} {
		want := have
		want.JobID, want.Runs = "", 0
		c.change(&want)
		_, err := outdir.Resume(have, want)
		var je *jobspec.Error
		if !errors.As(err, &je) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a *jobspec.Error saying %q", name, err, c.want)
		}
	}
	want := have
	want.JobID = ""
	s, err := outdir.Resume(have, want)
	if err != nil || s.JobID != "j1" || s.Runs != 3 {
		t.Fatalf("the same job: %+v, %v; want job j1 in its third run", s, err)
	}
}

// LoadState gives a new job an id and records it; a second run of the same
// job resumes it, counted; another job is refused and the state is kept.
func TestLoadStateRecordsRuns(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, outdir.StateDir), 0o755)
	want := outdir.State{Engine: outdir.EngineLocal, SHA256: "aa", Inputs: []string{"a.jsonl"}, OutputFormat: "jsonl"}
	first, err := outdir.LoadState(dir, want)
	if err != nil || first.JobID == "" || first.Runs != 1 {
		t.Fatalf("first run: %+v, %v", first, err)
	}
	second, err := outdir.LoadState(dir, want)
	if err != nil || second.JobID != first.JobID || second.Runs != 2 {
		t.Fatalf("second run: %+v, %v; want job %s in run 2", second, err, first.JobID)
	}
	other := want
	other.SHA256 = "bb"
	if _, err := outdir.LoadState(dir, other); err == nil {
		t.Fatal("another binary resumed the job")
	}
	third, err := outdir.LoadState(dir, want)
	if err != nil || third.Runs != 3 {
		t.Fatalf("after a refused run: %+v, %v; want run 3", third, err)
	}
}

// A journal line torn by a crash is no commit, and is cut off so that the
// next commit starts on a line of its own.
func TestJournalCutsATornLine(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, outdir.StateDir), 0o755)
	j, commits, err := outdir.OpenJournal(dir)
	if err != nil || len(commits) != 0 {
		t.Fatalf("new journal: %v, %d commits", err, len(commits))
	}
	var rows rangeset.Set
	rows.Add(0, 10)
	if err := j.Append(outdir.Commit{Seq: 0, Results: 10, Rows: outdir.RowsOf(map[int]*rangeset.Set{0: &rows})}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	f, _ := os.OpenFile(filepath.Join(dir, outdir.JournalFile), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"seq":1,"results":`)
	f.Close()

	j, commits, err = outdir.OpenJournal(dir)
	if err != nil || len(commits) != 1 || commits[0].Results != 10 {
		t.Fatalf("reopened: %v, %+v; want the one whole commit", err, commits)
	}
	if err := j.Append(outdir.Commit{Seq: 1, Results: 5}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	_, commits, _ = outdir.OpenJournal(dir)
	if len(commits) != 2 || commits[1].Seq != 1 {
		t.Fatalf("after the cut: %+v, want two commits", commits)
	}
	done, _ := outdir.Committed(commits)
	if !done[0].Contains(9) || done[0].Contains(10) {
		t.Fatalf("committed rows: %v, want rows 0-9 of input 0", done[0].Ranges())
	}
}

// Prepare, resuming, keeps what the journal holds and removes the rest: an
// uncommitted shard, a temporary file, the manifest of the run it resumes.
func TestPrepareKeepsOnlyCommittedShards(t *testing.T) {
	dir := t.TempDir()
	j, _, err := outdir.Prepare(dir, false, []string{".jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	j.Append(outdir.Commit{Seq: 0, Results: 1, DeadLetters: 1})
	j.Close()
	for _, n := range []string{"results-00000.jsonl", "dead-letters-00000.jsonl", "results-00001.jsonl", "results-00002.jsonl.tmp", ".manifest.json.tmp-1", "manifest.json"} {
		os.WriteFile(filepath.Join(dir, n), []byte("{}\n"), 0o644)
	}
	if _, _, err := outdir.Prepare(dir, false, []string{".jsonl"}); err == nil {
		t.Fatal("a new job was given a used directory")
	}
	j, commits, err := outdir.Prepare(dir, true, []string{".jsonl"})
	if err != nil || len(commits) != 1 {
		t.Fatalf("resume: %v, %d commits", err, len(commits))
	}
	j.Close()
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if got := strings.Join(left, " "); got != "_gridrun dead-letters-00000.jsonl results-00000.jsonl" {
		t.Fatalf("left %s, want the state directory and the committed pair", got)
	}
}

func TestManifestRoundTrips(t *testing.T) {
	dir := t.TempDir()
	m := &outdir.Manifest{JobID: "j", Status: "ok", Elements: 3, Results: 3, Options: jobspec.Job{Binary: "b", BatchSize: 7}}
	if err := outdir.WriteManifest(dir, m); err != nil {
		t.Fatal(err)
	}
	back, err := outdir.ReadManifest(dir)
	if err != nil || back.JobID != "j" || back.Results != 3 || back.Options.BatchSize != 7 {
		t.Fatalf("%+v, %v", back, err)
	}
	os.WriteFile(filepath.Join(dir, outdir.ManifestFile), []byte("{"), 0o644)
	if _, err := outdir.ReadManifest(dir); err == nil || !strings.Contains(err.Error(), outdir.ManifestFile) {
		t.Fatalf("a torn manifest: %v, want an error naming it", err)
	}
}

// A resume whose inputs, join or result options changed is refused, one
// line per change; a touched file whose sha256 is the same is not.
func TestResumeRefusesAChangedFingerprint(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	first := func() *outdir.Fingerprint {
		return &outdir.Fingerprint{
			Inputs:  []outdir.FileStamp{{Path: "a.jsonl", Size: 10, ModTime: t0, SHA256: "aa"}},
			Join:    &outdir.JoinStamp{Source: "bigtable://p/i/q", AsOf: t0},
			Options: []outdir.Option{{Name: "id_field", Value: `"id"`}},
		}
	}
	have := outdir.State{JobID: "j1", Engine: outdir.EngineLocal, SHA256: "bin", Inputs: []string{"a.jsonl"}, Runs: 1, Fingerprint: first()}
	for name, c := range map[string]struct {
		change func(*outdir.Fingerprint)
		want   []string
	}{
		"rewritten": {func(f *outdir.Fingerprint) { f.Inputs[0].ModTime, f.Inputs[0].SHA256 = t0.Add(time.Second), "bb" },
			[]string{"input a.jsonl: sha256 was aa, is bb"}},
		"grown": {func(f *outdir.Fingerprint) { f.Inputs[0].Size = 11 }, []string{"input a.jsonl: size was 10 bytes, is 11"}},
		"join and option": {func(f *outdir.Fingerprint) {
			f.Join.Source, f.Options[0].Value = "bigtable://p/i/other", `"trade_id"`
		}, []string{"join: was bigtable://p/i/q, is bigtable://p/i/other", `option id_field: was "id", is "trade_id"`}},
		"snapshot": {func(f *outdir.Fingerprint) { f.Join.AsOf = time.Time{} },
			[]string{"join bigtable://p/i/q: read as of 2026-01-02T03:04:05Z, is the latest"}},
	} {
		want := have
		want.Runs, want.Fingerprint = 0, first()
		c.change(want.Fingerprint)
		_, err := outdir.Resume(have, want)
		var je *jobspec.Error
		if !errors.As(err, &je) {
			t.Errorf("%s: %v, want a *jobspec.Error", name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), "\n  "+w+"\n") {
				t.Errorf("%s: %v\nwant the line %q", name, err, w)
			}
		}
	}
	touched := have
	touched.Fingerprint = first()
	touched.Fingerprint.Inputs[0].ModTime = t0.Add(time.Hour)
	if !have.Fingerprint.Inputs[0].NeedsHash(touched.Fingerprint.Inputs[0], 0) {
		t.Error("a file with a new mtime is not hashed again")
	}
	if have.Fingerprint.Inputs[0].NeedsHash(have.Fingerprint.Inputs[0], 9) || !have.Fingerprint.Inputs[0].NeedsHash(have.Fingerprint.Inputs[0], 10) {
		t.Error("an unchanged file is hashed beyond the budget, or not within it")
	}
	if s, err := outdir.Resume(have, touched); err != nil || s.Runs != 2 {
		t.Errorf("a touched input with the same sha256: %v", err)
	}
	unhashed := have
	unhashed.Fingerprint = first()
	unhashed.Fingerprint.Inputs[0].SHA256 = ""
	later := first()
	later.Inputs[0].ModTime, later.Inputs[0].SHA256 = t0.Add(time.Hour), ""
	if _, err := outdir.Resume(unhashed, outdir.State{Engine: outdir.EngineLocal, SHA256: "bin", Inputs: []string{"a.jsonl"}, Fingerprint: later}); err == nil ||
		!strings.Contains(err.Error(), "input a.jsonl: modified at") {
		t.Errorf("an input modified before its sha256 was recorded: %v", err)
	}
}
