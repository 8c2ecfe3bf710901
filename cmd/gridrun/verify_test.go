package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/internal/testbin"
)

// shardJob writes an input of n elements, a bad row and a duplicated id
// among them, and returns the arguments of a job that commits it in many
// shards.
func shardJob(t *testing.T, n int) func(out string) []string {
	t.Helper()
	faulty := testbin.Path(t, "faulty")
	input := filepath.Join(t.TempDir(), "tasks.jsonl")
	var lines []string
	for i := range n {
		lines = append(lines, fmt.Sprintf(`{"id":"e%04d","fault":"sleep","arg":1,"x":%d}`, i, i))
	}
	lines = append(lines, `{"id": not json`, `{"id":"e0000","fault":"sleep","arg":1,"x":0}`)
	os.WriteFile(input, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	return func(out string) []string {
		return []string{"run", "--binary", faulty, "--input", input, "--output", out,
			"--batch-size", "10", "--parallelism", "2", "--commit-interval", "20ms"}
	}
}

// resultShards returns the results shards of an output, in order; the
// test needs at least min of them.
func resultShards(t *testing.T, dir string, min int) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "results-*.jsonl"))
	slices.Sort(files)
	if len(files) < min {
		t.Fatalf("%s: %d results shards, the test needs %d", dir, len(files), min)
	}
	return files
}

// truncateHalf cuts a file in the middle of a line, as a copy that stopped
// part way would.
func truncateHalf(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := len(b) / 2
	if b[n-1] == '\n' {
		n--
	}
	if err := os.Truncate(path, int64(n)); err != nil {
		t.Fatal(err)
	}
}

// A committed shard deleted and another truncated: --resume runs their
// rows again and ends with exactly a clean run's outputs, the same exit
// code, the damage named in the log and counted in the manifest.
func TestResumeRepairsDamagedShards(t *testing.T) {
	t.Parallel()
	args := shardJob(t, 400)
	clean := filepath.Join(t.TempDir(), "clean")
	cleanCode, _, stderr := gridrun(t, args(clean)...)
	if cleanCode != 3 {
		t.Fatalf("clean run: exit %d, want 3 (a bad row, a duplicate id): %s", cleanCode, stderr)
	}
	want := readResults(t, clean)

	out := filepath.Join(t.TempDir(), "damaged")
	if code, _, stderr := gridrun(t, args(out)...); code != cleanCode {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	shards := resultShards(t, out, 3)
	deleted, truncated := shards[0], shards[len(shards)-1]
	os.Remove(deleted)
	truncateHalf(t, truncated)

	code, _, stderr := gridrun(t, append(args(out), "--resume")...)
	if code != cleanCode {
		t.Fatalf("resume: exit %d, want %d as the clean run: %s", code, cleanCode, stderr)
	}
	for _, f := range []string{deleted, truncated} {
		if !strings.Contains(stderr, filepath.Base(f)) {
			t.Errorf("the resume's log does not name the damaged %s:\n%s", filepath.Base(f), stderr)
		}
	}
	got := readResults(t, out) // fails on an id twice
	if len(got) != len(want) {
		t.Fatalf("%d results after the resume, want %d", len(got), len(want))
	}
	for id, p := range want {
		if got[id] != p {
			t.Fatalf("%s: result %s, want %s", id, got[id], p)
		}
	}
	b, _ := os.ReadFile(filepath.Join(out, "manifest.json"))
	var m struct {
		Status         string `json:"status"`
		DeadLetters    int64  `json:"dead_letters"`
		RepairedShards int    `json:"repaired_shards"`
	}
	json.Unmarshal(b, &m)
	if m.RepairedShards != 2 || m.Status != "dead_letters" || m.DeadLetters != 2 {
		t.Fatalf("manifest: %+v, want 2 repaired shards, status dead_letters, 2 dead letters", m)
	}
	if code, stdout, _ := gridrun(t, "verify", out); code != 0 {
		t.Fatalf("verify after the repair: exit %d:\n%s", code, stdout)
	}
}

// gridrun verify passes a clean output and fails, naming the file, every
// kind of damage done to one.
func TestVerifyFindsDamage(t *testing.T) {
	t.Parallel()
	args := shardJob(t, 300)
	clean := filepath.Join(t.TempDir(), "clean")
	if code, _, stderr := gridrun(t, args(clean)...); code != 3 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	resultShards(t, clean, 2)
	code, stdout, stderr := gridrun(t, "verify", clean)
	if code != 0 || !strings.Contains(stdout, ": ok: 300 results and 2 dead letters") {
		t.Fatalf("verify of a clean output: exit %d:\n%s%s", code, stdout, stderr)
	}

	appendTo := func(path, s string) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(s)
		f.Close()
	}
	firstLine := func(path string) string {
		b, _ := os.ReadFile(path)
		line, _, _ := strings.Cut(string(b), "\n")
		return line + "\n"
	}
	cases := []struct {
		name   string
		damage func(dir string, shards []string) string // returns the file to name
		want   []string
	}{
		{"truncated shard", func(_ string, s []string) string {
			truncateHalf(t, s[0])
			return s[0]
		}, []string{"no newline at the end", "truncated", "results is 300, the shards hold"}},
		{"duplicated line", func(_ string, s []string) string {
			appendTo(s[1], firstLine(s[1]))
			return s[1]
		}, []string{"is settled twice", "results is 300, the shards hold 301"}},
		{"line appended", func(_ string, s []string) string {
			appendTo(s[0], `{"id":"extra","result":{"y":1}}`+"\n")
			return s[0]
		}, []string{"appended to", "results is 300, the shards hold 301"}},
		{"shard removed", func(_ string, s []string) string {
			os.Remove(s[1])
			return s[1]
		}, []string{"missing: manifest.json names it"}},
		{"stray shard", func(dir string, _ []string) string {
			p := filepath.Join(dir, "results-99999.jsonl")
			os.WriteFile(p, []byte(`{"id":"stray","result":{}}`+"\n"), 0o644)
			return p
		}, []string{"not named by manifest.json"}},
		{"manifest counts edited", func(dir string, _ []string) string {
			p := filepath.Join(dir, "manifest.json")
			b, _ := os.ReadFile(p)
			var m map[string]any
			json.Unmarshal(b, &m)
			m["results"] = 299.0
			m["elements"] = 301.0
			b, _ = json.Marshal(m)
			os.WriteFile(p, b, 0o644)
			return p
		}, []string{"results is 299, the shards hold 300"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if out, err := exec.Command("cp", "-a", clean, dir).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v: %s", err, out)
			}
			file := c.damage(dir, resultShards(t, dir, 2))
			code, stdout, stderr := gridrun(t, "verify", dir)
			if code != 1 {
				t.Fatalf("exit %d, want 1:\n%s%s", code, stdout, stderr)
			}
			if !strings.Contains(stdout, file) {
				t.Errorf("no problem names %s:\n%s", file, stdout)
			}
			for _, w := range c.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("no problem says %q:\n%s", w, stdout)
				}
			}
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, dir+": ") || !strings.Contains(last, " problem") {
				t.Errorf("last line %q is not the summary", last)
			}
		})
	}
}
