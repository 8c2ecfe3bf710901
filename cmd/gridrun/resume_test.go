package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gridrun/gridrun/internal/testbin"
)

// A job killed with SIGKILL at any moment, resumed, ends with exactly the
// outputs of a clean run: every element once, the same payloads, and the
// elements committed before the kill not computed again; with a process per
// call, and with persistent workers.
func TestAKilledJobResumesToTheCleanRunsOutput(t *testing.T) {
	t.Parallel()
	faulty := testbin.Path(t, "faulty")
	input := filepath.Join(t.TempDir(), "tasks.jsonl")
	var lines []string
	for i := range 1200 {
		lines = append(lines, fmt.Sprintf(`{"id":"e%04d","fault":"sleep","arg":2,"x":%d}`, i, i))
	}
	os.WriteFile(input, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	persistent := false
	args := func(out string) []string {
		a := []string{"run", "--binary", faulty, "--input", input, "--output", out,
			"--batch-size", "20", "--parallelism", "2", "--commit-interval", "40ms"}
		if persistent {
			a = append(a, "--persistent")
		}
		return a
	}

	clean := filepath.Join(t.TempDir(), "clean")
	if code, _, stderr := gridrun(t, args(clean)...); code != 0 {
		t.Fatalf("clean run: exit %d: %s", code, stderr)
	}
	want := readResults(t, clean)
	if len(want) != 1200 {
		t.Fatalf("clean run: %d results", len(want))
	}

	r := rand.New(rand.NewPCG(7, 7))
	for round := range 3 {
		persistent = round == 2 // the last round with persistent workers
		out := filepath.Join(t.TempDir(), "killed")
		runs := 0
		for ; ; runs++ {
			a := args(out)
			if runs > 0 {
				a = append(a, "--resume")
			}
			if runs == 3 {
				break // let the last run finish
			}
			// Kill after a random number of commits, plus a random instant
			// so that some kills land in the middle of a commit.
			killAfter := journalLines(t, out) + 1 + r.IntN(4)
			delay := time.Duration(r.IntN(30)) * time.Millisecond
			if done := killAt(t, a, out, killAfter, delay); done {
				break // it finished before the kill
			}
		}
		code, _, stderr := gridrun(t, append(args(out), "--resume")...)
		if code != 0 {
			t.Fatalf("round %d: final resume: exit %d: %s", round, code, stderr)
		}
		got := readResults(t, out)
		if len(got) != len(want) {
			t.Fatalf("round %d: %d results, want %d", round, len(got), len(want))
		}
		for id, p := range want {
			if got[id] != p {
				t.Fatalf("round %d: %s = %s, clean run %s", round, id, got[id], p)
			}
		}
		m := readManifest(t, out)
		if m.Runs < 2 {
			t.Errorf("round %d: manifest says %d runs", round, m.Runs)
		}
		// The final run computed only what no earlier run had committed.
		computed := elementsCalled(t, out, m.Runs)
		if computed != 1200-m.Resumed {
			t.Errorf("round %d: last run computed %d elements, but %d of 1200 were committed before it", round, computed, m.Resumed)
		}
		assertNoTmpLeft(t, out)
	}
}

// killAt starts gridrun and SIGKILLs it once the journal has n lines and
// delay has passed. It reports whether the run finished first.
func killAt(t *testing.T, args []string, out string, n int, delay time.Duration) bool {
	t.Helper()
	cmd := exec.Command(testbin.Path(t, "gridrun"), args...)
	cmd.Env = append(os.Environ(), "GRIDRUN_CACHE_DIR="+t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(60 * time.Second)
	for journalLines(t, out) < n {
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("run exited early: %v", err)
			}
			return true
		case <-deadline:
			cmd.Process.Kill()
			t.Fatal("no commit within 60s")
		case <-time.After(2 * time.Millisecond):
		}
	}
	select {
	case <-time.After(delay):
	case err := <-exited:
		return err == nil
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	return false
}

func journalLines(t *testing.T, out string) int {
	b, err := os.ReadFile(filepath.Join(out, "_gridrun", "journal.jsonl"))
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}

func readResults(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "results-*.jsonl"))
	out := map[string]string{}
	for _, name := range files {
		f, _ := os.Open(name)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var r struct {
				ID     string          `json:"id"`
				Result json.RawMessage `json:"result"`
			}
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if _, dup := out[r.ID]; dup {
				t.Fatalf("%s appears twice", r.ID)
			}
			out[r.ID] = string(r.Result)
		}
		f.Close()
	}
	return out
}

type manifest struct {
	Runs    int   `json:"runs"`
	Resumed int64 `json:"resumed"`
}

func readManifest(t *testing.T, dir string) manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// elementsCalled sums the results of the calls made by one run: the
// elements it computed.
func elementsCalled(t *testing.T, dir string, run int) int64 {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "_gridrun", "timeline.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var c struct {
			Run     int   `json:"run"`
			Results int64 `json:"results"`
		}
		if json.Unmarshal(sc.Bytes(), &c) == nil && c.Run == run {
			n += c.Results
		}
	}
	return n
}

func assertNoTmpLeft(t *testing.T, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if len(files) > 0 {
		t.Errorf("temporary files left: %v", files)
	}
}
