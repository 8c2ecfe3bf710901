package testbin

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// WriteLines writes lines, newline-terminated, to a file name in a new
// temporary directory and returns its path.
func WriteLines(t testing.TB, name string, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// WriteGzipLines writes lines, one per line, gzipped, to a file named
// name in a new temporary directory and returns its path.
func WriteGzipLines(t testing.TB, name string, lines ...string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(strings.Join(lines, "\n") + "\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// FaultyTasks returns n input lines for bin/faulty, ids e000 on; faults
// maps an index to "fault" or "fault:arg".
func FaultyTasks(n int, faults map[int]string) []string {
	lines := make([]string, n)
	for i := range n {
		task := map[string]any{"id": fmt.Sprintf("e%03d", i), "x": i}
		if f, ok := faults[i]; ok {
			name, arg, _ := strings.Cut(f, ":")
			task["fault"] = name
			if arg != "" {
				task["arg"], _ = strconv.Atoi(arg)
			}
		}
		b, _ := json.Marshal(task)
		lines[i] = string(b)
	}
	return lines
}

// ScanLines calls fn with every line of the files in dir matching pattern,
// and where it is ("results-00000.jsonl:3").
func ScanLines(t testing.TB, dir, pattern string, fn func(where string, line []byte)) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 16<<20)
		for n := 1; sc.Scan(); n++ {
			fn(fmt.Sprintf("%s:%d", filepath.Base(f), n), sc.Bytes())
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// ownerEnv marks the processes of a test's jobs; see Own.
const ownerEnv = "GRIDRUN_TEST_CACHE"

// Own adds to a job's environment the mark by which AssertNothingRuns
// finds its processes: they run a sealed in-memory copy of the binary, so
// their executable names no path in the cache directory dir.
func Own(env []string, dir string) []string {
	return append(env, ownerEnv+"="+dir)
}

// AssertNothingRuns fails if a process still runs a binary staged in dir,
// or one started by a job whose environment Own marked with dir.
// Zombies left to a parent that does not reap them run nothing and count
// as gone.
func AssertNothingRuns(t testing.TB, dir string) {
	t.Helper()
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", p.Name(), "exe"))
		if err != nil {
			continue
		}
		if !strings.HasPrefix(exe, dir+string(filepath.Separator)) && !owned(p.Name(), dir) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", p.Name(), "stat"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(fields) > 0 && fields[0] != "Z" {
			t.Errorf("process %s still runs %s", p.Name(), exe)
		}
	}
}

// owned reports whether process pid's environment carries Own's mark for
// dir.
func owned(pid, dir string) bool {
	env, err := os.ReadFile(filepath.Join("/proc", pid, "environ"))
	if err != nil {
		return false
	}
	return slices.Contains(strings.Split(string(env), "\x00"), ownerEnv+"="+dir)
}
