package main_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gridrun/gridrun/internal/testbin"
)

// asianTrades writes the demo's trades priced by Monte Carlo, slow enough
// (a few milliseconds each) for a run to be interrupted halfway.
func asianTrades(t *testing.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join(testbin.Root(t), "testdata", "trades.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		row["style"], row["paths"] = "ASIAN", 20000
		b, _ := json.Marshal(row)
		lines = append(lines, string(b))
	}
	path := filepath.Join(t.TempDir(), "asian trades.jsonl") // a space, for the quoting
	os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	return path
}

// shellWords splits a command line as a POSIX shell would, for the words
// and single quotes gridrun writes.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	in, quoted := false, false
	for _, r := range s {
		switch {
		case quoted && r == '\'':
			quoted = false
		case quoted:
			w.WriteRune(r)
		case r == '\'':
			quoted, in = true, true
		case r == ' ':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		case r == '\\' || r == '"' || r == '$':
			t.Fatalf("unexpected %q in %q", r, s)
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quote in %q", s)
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// Ctrl-C stops a job with one line: what is committed, and the command
// that resumes it; that command, run as printed, completes the job with
// the results of a clean run.
func TestAnInterruptedRunPrintsTheCommandThatResumesIt(t *testing.T) {
	t.Parallel()
	gridrunBin, pricer := testbin.Path(t, "gridrun"), testbin.Path(t, "pricer")
	root := testbin.Root(t)
	input := asianTrades(t)
	args := func(out string) []string {
		return []string{gridrunBin, "run", "--binary", pricer, "--input", input,
			"--join", filepath.Join(root, "testdata", "quotes.csv"), "--join-key", "{underlying}", "--output", out,
			"--batch-size", "10", "--fixed-batch-size", "--parallelism", "2", "--commit-interval", "50ms", "--progress", "plain"}
	}
	env := append(os.Environ(), "GRIDRUN_CACHE_DIR="+t.TempDir())
	start := func(argv []string) (*exec.Cmd, *strings.Builder) {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &stderr
	}

	clean := filepath.Join(t.TempDir(), "clean")
	cmd, stderr := start(args(clean))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("clean run: %v: %s", err, stderr)
	}
	want := readResults(t, clean)
	if len(want) != 1000 {
		t.Fatalf("clean run: %d results", len(want))
	}

	out := filepath.Join(t.TempDir(), "interrupted")
	argv := args(out)
	cmd, stderr = start(argv)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(2 * time.Minute)
	for journalLines(t, out) < 3 {
		select {
		case err := <-exited:
			t.Fatalf("the run ended before it was interrupted (%v): make the input larger\n%s", err, stderr)
		case <-deadline:
			cmd.Process.Kill()
			t.Fatal("no commit within 2 minutes")
		case <-time.After(5 * time.Millisecond):
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := <-exited
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("interrupted run: %v, want exit status 1\n%s", err, stderr)
	}

	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	last := lines[len(lines)-1]
	head, command, ok := strings.Cut(last, "; resume with: ")
	if !ok {
		t.Fatalf("the last line says no resume command: %q", last)
	}
	var committed int
	for _, name := range []string{"results-*.jsonl", "dead-letters-*.jsonl"} {
		testbin.ScanLines(t, out, name, func(string, []byte) { committed++ })
	}
	if committed == 0 || committed >= 1000 {
		t.Fatalf("%d elements committed by the interrupted run", committed)
	}
	thousands := func(n int) string {
		s := strconv.Itoa(n)
		if n >= 1000 {
			s = s[:len(s)-3] + "," + s[len(s)-3:]
		}
		return s
	}
	if wantHead := "interrupted: " + thousands(committed) + " of 1,000 elements settled and committed"; head != wantHead {
		t.Errorf("the line says %q, want %q", head, wantHead)
	}
	resume := shellWords(t, command)
	if wantArgv := append(slices.Clone(argv), "--resume"); !slices.Equal(resume, wantArgv) {
		t.Fatalf("resume command\n%q\nwant\n%q", resume, wantArgv)
	}

	cmd, stderr = start(resume)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the resume command: %v\n%s", err, stderr)
	}
	got := readResults(t, out)
	if len(got) != len(want) {
		t.Fatalf("resumed: %d results, want %d", len(got), len(want))
	}
	for id, p := range want {
		if got[id] != p {
			t.Fatalf("%s = %s, clean run %s", id, got[id], p)
		}
	}
	if m := readManifest(t, out); m.Runs != 2 || m.Resumed != int64(committed) {
		t.Errorf("manifest: %d runs, %d resumed; want 2 runs, %d resumed", m.Runs, m.Resumed, committed)
	}
}

// openPTY opens a pseudo-terminal of 80 columns: its master, and the path
// of its slave.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80}); err != nil {
		t.Fatal(err)
	}
	return master, "/dev/pts/" + strconv.Itoa(n)
}

// screen plays terminal output as a terminal shows it, line by line:
// "\r" goes back to the line's start, "\033[K" clears the rest of it,
// and other characters overwrite what is under the cursor.
func screen(out string) []string {
	out = strings.ReplaceAll(out, "\r\n", "\n") // the terminal's newline translation
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		var cells []rune
		cur := 0
		for len(l) > 0 {
			switch {
			case strings.HasPrefix(l, "\033[K"):
				cells, l = cells[:cur], l[len("\033[K"):]
				continue
			case l[0] == '\r':
				cur = 0
			default:
				r := []rune(l)[0]
				if cur < len(cells) {
					cells[cur] = r
				} else {
					cells = append(cells, r)
				}
				cur++
				l = l[len(string(r)):]
				continue
			}
			l = l[1:]
		}
		lines = append(lines, string(cells))
	}
	return lines
}

// On a terminal, Ctrl-C leaves no "^C" in the line, the line never wraps
// at 80 columns, and the run ends with the resume line.
func TestCtrlCOnATerminalLeavesAClearScreen(t *testing.T) {
	t.Parallel()
	master, slavePath := openPTY(t)
	slave, err := os.OpenFile(slavePath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	root := testbin.Root(t)
	cmd := exec.Command(testbin.Path(t, "gridrun"), "run", "--binary", testbin.Path(t, "pricer"), "--input", asianTrades(t),
		"--join", filepath.Join(root, "testdata", "quotes.csv"), "--join-key", "{underlying}", "--output", out,
		"--batch-size", "10", "--fixed-batch-size", "--parallelism", "2", "--commit-interval", "50ms")
	cmd.Env = append(os.Environ(), "GRIDRUN_CACHE_DIR="+t.TempDir(), "TERM=xterm")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var mu sync.Mutex
	var term strings.Builder
	drained := make(chan struct{}, 1)
	go func() {
		defer func() { drained <- struct{}{} }()
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			term.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return // EIO once gridrun, the last holder of the terminal, exits
			}
		}
	}()
	deadline := time.After(2 * time.Minute)
	for {
		mu.Lock()
		drawn := strings.Contains(term.String(), "ETA")
		mu.Unlock()
		if drawn && journalLines(t, out) >= 3 {
			break
		}
		select {
		case <-deadline:
			cmd.Process.Kill()
			t.Fatal("no live line and commits within 2 minutes")
		case <-time.After(5 * time.Millisecond):
		}
	}
	master.Write([]byte{3}) // Ctrl-C, as typed: the terminal echoes ^C and signals gridrun
	err = cmd.Wait()
	<-drained
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("interrupted run: %v, want exit status 1\n%q", err, term.String())
	}
	raw := term.String()
	if !strings.Contains(raw, "^C") {
		t.Logf("the terminal did not echo ^C (ECHOCTL off?): the check below proves less")
	}
	lines := screen(raw)
	for _, l := range lines {
		if strings.Contains(l, "^C") {
			t.Errorf("^C left on the screen: %q\nall of it:\n%s", l, strings.Join(lines, "\n"))
		}
		// The start line and the last name the test's long paths.
		if n := len([]rune(l)); n >= 80 && !strings.HasPrefix(l, "interrupted: ") && !strings.HasPrefix(l, "  log ") && !strings.HasPrefix(l, "job ") {
			t.Errorf("a line of %d columns wraps at 80: %q", n, l)
		}
	}
	var final []string
	for _, l := range lines {
		if l != "" {
			final = append(final, l)
		}
	}
	if len(final) < 3 || !strings.HasPrefix(final[0], "job ") || !strings.HasPrefix(final[len(final)-1], "interrupted: ") ||
		!strings.Contains(final[len(final)-2], "/1,000  [") {
		t.Errorf("the screen is not the start line, the live line, then the resume line:\n%s", strings.Join(final, "\n"))
	}
}
