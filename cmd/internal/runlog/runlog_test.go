package runlog_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridrun/gridrun/cmd/internal/progress"
	"github.com/gridrun/gridrun/cmd/internal/runlog"
	"github.com/gridrun/gridrun/grid"
	"github.com/gridrun/gridrun/outdir"
)

const sha = "a0c77364be548e467c5bf47e4dbc6f79a1ed529d4fbf90f74737bccde23fed54"

// fileRecords reads the log file's records.
func fileRecords(t *testing.T, dir string) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, outdir.RunLogFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// While the live line is on, warnings are counted on it and written in
// full to the file only; before it, and for other records, the terminal
// gets them as usual.
func TestWarningsAreCountedOnTheLiveLineAndWrittenToTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var term bytes.Buffer
	d := progress.New(progress.TTY, &progress.Options{Out: &term, Width: func() int { return 120 }}).(progress.Live)
	h := runlog.New(runlog.Options{Dir: dir, Term: slog.NewTextHandler(d, nil), Quiet: d, TermOut: d})
	log := slog.New(h)

	log.Warn("input columns fill no field of the input message", "columns", []string{"notes"})
	if _, err := os.Stat(filepath.Join(dir, outdir.RunLogFile)); !os.IsNotExist(err) {
		t.Fatalf("the log file exists before the job started: %v", err)
	}
	log.Info(grid.LogJobStarted, "job", "j1", "binary", "bin/pricer", "sha256", sha, "inputs", 1)
	if got, want := h.Path(), filepath.Join(dir, outdir.RunLogFile); got != want {
		t.Fatalf("Path = %q, want %q", got, want)
	}
	d.Update(grid.Progress{JobID: "j1", Elapsed: time.Second, Total: 1000, Settled: 100, Running: 2})
	before := term.Len()
	log.Warn("call failed", "batch", "b000001", "kind", "crash", "err", "exit status 139", "stderr_head", "Segmentation fault")
	log.Warn("call failed", "batch", "b000002", "kind", "crash", "err", "exit status 139")
	log.With("kind", "timeout").Warn("call failed", "batch", "b000003")
	log.Warn("stall watchdog: stopping a call")
	log.Info("a note while the line is on")
	log.Info(grid.LogJobFinished, "job", "j1", "status", "dead_letters")
	d.Close()
	h.Close()

	out := term.String()
	printed := out[before:]
	for _, hidden := range []string{"call failed", "Segmentation fault", "stall watchdog", grid.LogJobFinished} {
		if strings.Contains(printed, hidden) {
			t.Errorf("%q reached the terminal while the line was on:\n%q", hidden, printed)
		}
	}
	if !strings.Contains(printed, "a note while the line is on") {
		t.Errorf("an info record did not reach the terminal:\n%q", printed)
	}
	if !strings.Contains(printed, "warnings: 2 crash, 1 timeout, 1 warning") {
		t.Errorf("the line does not count the warnings by kind:\n%q", printed)
	}
	// Before the line: printed as usual; the start: two short lines.
	wantStart := "job j1: bin/pricer (sha256 a0c77364be54)\n  log " + filepath.Join(dir, outdir.RunLogFile) + "\n"
	if !strings.Contains(out[:before], "input columns fill no field") || !strings.Contains(out[:before], wantStart) {
		t.Errorf("the start of the output:\n%q\nwant the early warning, then\n%q", out[:before], wantStart)
	}
	if l, _, _ := strings.Cut(wantStart, "\n"); len(l) > 80 {
		t.Errorf("start line of %d columns: %q", len(l), l)
	}

	recs := fileRecords(t, dir)
	var msgs []string
	for _, r := range recs {
		msgs = append(msgs, r["msg"].(string))
	}
	want := []string{"input columns fill no field of the input message", grid.LogJobStarted, "call failed", "call failed", "call failed",
		"stall watchdog: stopping a call", "a note while the line is on", grid.LogJobFinished}
	if strings.Join(msgs, "|") != strings.Join(want, "|") {
		t.Fatalf("the file holds\n%q\nwant\n%q", msgs, want)
	}
	if recs[1]["sha256"] != sha || recs[2]["stderr_head"] != "Segmentation fault" || recs[4]["kind"] != "timeout" {
		t.Errorf("the file lacks the records' full text: %v", recs)
	}
}

// Without a live line the terminal gets every record, the start with the
// log's path; a run that never starts leaves no file behind.
func TestWithoutALiveLineTheTerminalGetsEveryRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var term bytes.Buffer
	h := runlog.New(runlog.Options{Dir: dir, Term: slog.NewTextHandler(&term, nil)})
	log := slog.New(h)
	log.Info(grid.LogJobStarted, "job", "j1", "sha256", sha)
	log.Warn("call failed", "kind", "crash")
	log.Info(grid.LogJobFinished, "job", "j1")
	h.Close()
	out := term.String()
	for _, want := range []string{"log=" + filepath.Join(dir, outdir.RunLogFile), "sha256=" + sha, "call failed", grid.LogJobFinished} {
		if !strings.Contains(out, want) {
			t.Errorf("the terminal lacks %q:\n%s", want, out)
		}
	}
	if n := len(fileRecords(t, dir)); n != 3 {
		t.Errorf("the file holds %d records, want 3", n)
	}

	refused := t.TempDir()
	h = runlog.New(runlog.Options{Dir: refused, Term: slog.NewTextHandler(&term, nil)})
	slog.New(h).Error("output directory is not empty")
	h.Close()
	if entries, _ := os.ReadDir(refused); len(entries) != 0 {
		t.Errorf("a job that never started left %d entries in its output", len(entries))
	}
}
