// The commands the documentation shows, run as a reader would run them:
// docs/sdk.md from an empty directory against an installed gridrun, and
// the README's quickstart from a clone. A block's shown output must be what
// its command prints.
//
// How the Markdown is read:
//   - ```sh blocks are scripts, run with bash -e -o pipefail; they must
//     exit 0;
//   - ```console blocks are "$ command" lines (continued by a trailing
//     backslash), each followed by what it prints on stdout; each command
//     is run by bash as a reader's shell runs it (a pipeline's status is
//     its last command's), must exit 0 and print that, where "…" stands
//     for any text within a line and a line of "…" alone for any number of
//     lines (timings, job ids, hashes);
//   - a block whose info string carries title=NAME is a file the reader
//     saves as NAME;
//   - a block whose info string carries "clone" is run in a gridrun clone
//     rather than in the reader's directory;
//   - every other block (a C++ excerpt, a diagram) is prose.
package docs_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/internal/testbin"
)

// block is a fenced code block of a Markdown file.
type block struct {
	lang    string
	title   string // title=NAME: the file it is
	clone   bool   // run in a gridrun clone
	text    string // the content, without the fence's indentation
	line    int    // the fence's line, for messages
	section string // the "## " heading above it
}

func (b block) String() string { return fmt.Sprintf("the %s block of line %d", b.lang, b.line) }

// readBlocks returns the fenced blocks of a Markdown file.
func readBlocks(t *testing.T, path string) []block {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		blocks  []block
		cur     *block
		indent  int
		body    []string
		section string
	)
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			words := strings.Fields(strings.TrimPrefix(trimmed, "```"))
			cur = &block{line: i + 1, section: section}
			indent = len(line) - len(trimmed)
			body = body[:0]
			for j, w := range words {
				switch {
				case j == 0:
					cur.lang = w
				case strings.HasPrefix(w, "title="):
					cur.title = strings.TrimPrefix(w, "title=")
				case w == "clone":
					cur.clone = true
				default:
					t.Fatalf("%s:%d: unknown attribute %q of a code block", path, i+1, w)
				}
			}
		case cur != nil && trimmed == "```":
			cur.text = strings.Join(body, "\n") + "\n"
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			// Inside a list item, the fence's indentation is the item's.
			body = append(body, line[min(indent, len(line)-len(trimmed)):])
		case strings.HasPrefix(line, "## "):
			section = strings.TrimPrefix(line, "## ")
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: code block not closed", path, cur.line)
	}
	return blocks
}

// command is one "$ ..." of a console block and the output shown under it.
type command struct {
	text string
	want []string
}

func commands(b block) []command {
	var cmds []command
	continued := false // the last command line ended with a backslash
	for _, line := range strings.Split(strings.TrimSuffix(b.text, "\n"), "\n") {
		switch {
		case continued:
			cmds[len(cmds)-1].text += "\n" + line
		case strings.HasPrefix(line, "$ "):
			cmds = append(cmds, command{text: strings.TrimPrefix(line, "$ ")})
		case len(cmds) > 0:
			cmds[len(cmds)-1].want = append(cmds[len(cmds)-1].want, line)
			continue
		default:
			continue
		}
		continued = strings.HasSuffix(line, "\\")
	}
	return cmds
}

// shownOutput compiles the output a console block shows into a pattern:
// "…" is any text within a line, a line of "…" any number of lines.
func shownOutput(lines []string) *regexp.Regexp {
	var re strings.Builder
	re.WriteString(`\A`)
	for _, l := range lines {
		l = strings.TrimRight(l, " ")
		if strings.TrimSpace(l) == "…" {
			re.WriteString(`(?:[^\n]*\n)*`)
			continue
		}
		parts := strings.Split(l, "…")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		re.WriteString(strings.Join(parts, `[^\n]*`) + `\n`)
	}
	re.WriteString(`\z`)
	return regexp.MustCompile(re.String())
}

// normalize ends every line with a newline and drops trailing spaces, which
// Markdown editors drop from the documentation.
func normalize(out string) string {
	if out == "" {
		return ""
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n") + "\n"
}

// reader runs a reader's commands in dir with env.
type reader struct {
	t   *testing.T
	dir string
	env []string
	doc string
}

func (r reader) bash(script string, options ...string) (string, string, error) {
	cmd := exec.Command("bash", append(options, "-c", script)...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), r.env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// do runs a block: writes a file, runs a script, or runs a console
// block's commands and compares what they print with what it shows.
func (r reader) do(b block) {
	t := r.t
	t.Helper()
	switch {
	case b.title != "":
		if err := os.WriteFile(filepath.Join(r.dir, b.title), []byte(b.text), 0o644); err != nil {
			t.Fatal(err)
		}
	case b.lang == "sh":
		if stdout, stderr, err := r.bash(b.text, "-e", "-o", "pipefail"); err != nil {
			t.Fatalf("%s:%d: %v\n%s\nstdout:\n%s\nstderr:\n%s", r.doc, b.line, err, b.text, stdout, stderr)
		}
	case b.lang == "console":
		for _, c := range commands(b) {
			stdout, stderr, err := r.bash(c.text)
			if err != nil {
				t.Fatalf("%s:%d: $ %s: %v\nstdout:\n%s\nstderr:\n%s", r.doc, b.line, c.text, err, stdout, stderr)
			}
			if want := shownOutput(c.want); !want.MatchString(normalize(stdout)) {
				t.Errorf("%s:%d: $ %s\nprints:\n%s\nthe documentation shows:\n%s", r.doc, b.line, c.text,
					stdout, strings.Join(c.want, "\n"))
			}
		}
	}
}

// The SDK guide from an empty directory: install, write the files it
// shows, build with CMake and with pkg-config, describe, run, line mode.
func TestSDKGuideRunsVerbatim(t *testing.T) {
	t.Parallel()
	testbin.Tool(t, "cmake")
	root := testbin.Root(t)
	prefix, dir, cache := t.TempDir(), t.TempDir(), t.TempDir()
	r := reader{t: t, dir: dir, doc: "docs/sdk.md", env: testbin.Own([]string{
		"PATH=" + filepath.Join(prefix, "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
		"CMAKE_PREFIX_PATH=" + prefix,
		"PKG_CONFIG_PATH=" + filepath.Join(prefix, "lib", "pkgconfig"),
		"GRIDRUN_CACHE_DIR=" + cache,
	}, cache)}
	blocks := readBlocks(t, filepath.Join(root, "docs", "sdk.md"))
	ran := map[string]int{}
	for _, b := range blocks {
		switch {
		case b.clone:
			// The install, into the test's prefix rather than /usr/local.
			if b.text != "make install\n" {
				t.Fatalf("docs/sdk.md:%d: the clone's block is %q; the test knows how to run only make install", b.line, b.text)
			}
			testbin.Make(t, "install", "PREFIX="+prefix)
		default:
			r.do(b)
		}
		switch {
		case b.clone:
			ran["install"]++
		case b.title != "":
			ran["file"]++
		case b.lang == "sh" || b.lang == "console":
			ran[b.lang]++
		}
	}
	testbin.AssertNothingRuns(t, cache)
	// Not vacuous: the guide installs, writes files, builds and shows output.
	if ran["install"] != 1 || ran["file"] < 3 || ran["sh"] < 2 || ran["console"] < 2 {
		t.Errorf("blocks run: %v; want the install, the files, the builds and the shown output", ran)
	}

	// The guide's project is the out-of-tree example's, which
	// native/sdk_test.go builds and checks against a computation in Go.
	for _, b := range blocks {
		if b.title == "" || !strings.Contains(b.title, ".") || strings.HasSuffix(b.title, ".csv") {
			continue
		}
		have, err := os.ReadFile(filepath.Join(root, "native", "examples", "outoftree", b.title))
		if err != nil || string(have) != b.text {
			t.Errorf("docs/sdk.md:%d: %s differs from native/examples/outoftree/%s (%v)", b.line, b.title, b.title, err)
		}
	}
}

// The README's quickstart: make build in the clone, then its commands, in
// a directory of the clone's bin/ and testdata/ so that the job's output is
// the test's own.
func TestREADMEQuickstartPrintsWhatItShows(t *testing.T) {
	t.Parallel()
	root := testbin.Root(t)
	var quickstart []block
	for _, b := range readBlocks(t, filepath.Join(root, "README.md")) {
		if b.section == "Quickstart" && b.lang == "console" {
			quickstart = append(quickstart, b)
		}
	}
	if len(quickstart) != 1 {
		t.Fatalf("README.md: %d console blocks under ## Quickstart, want 1", len(quickstart))
	}
	b := quickstart[0]
	cmds := commands(b)
	if len(cmds) < 2 || cmds[0].text != "make build" || len(cmds[0].want) != 0 {
		t.Fatalf("README.md:%d: the quickstart does not begin with make build", b.line)
	}
	testbin.Make(t, "build")

	dir, cache := t.TempDir(), t.TempDir()
	for _, f := range []string{"bin/gridrun", "bin/pricer", "testdata/trades.jsonl", "testdata/quotes.csv"} {
		copyFile(t, filepath.Join(root, f), filepath.Join(dir, f))
	}
	r := reader{t: t, dir: dir, doc: "README.md", env: testbin.Own([]string{"GRIDRUN_CACHE_DIR=" + cache}, cache)}
	b.text = strings.TrimPrefix(b.text, "$ make build\n")
	r.do(b)
	testbin.AssertNothingRuns(t, cache)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	info, err := src.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, info.Mode().Perm())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// The reading of console blocks the tests above rely on: a check that
// matched anything would pass any documentation.
func TestConsoleBlocksAreReadStrictly(t *testing.T) {
	t.Parallel()
	b := block{lang: "console", text: "$ a \\\n  --b\nout 1\n$ c\n…\nend\n"}
	cmds := commands(b)
	if len(cmds) != 2 || cmds[0].text != "a \\\n  --b" || strings.Join(cmds[0].want, "|") != "out 1" ||
		cmds[1].text != "c" || strings.Join(cmds[1].want, "|") != "…|end" {
		t.Fatalf("commands: %q", cmds)
	}
	for _, c := range []struct {
		shown []string
		out   string
		match bool
	}{
		{[]string{"job …: ok", "  1 element"}, "job 2026-x: ok\n  1 element\n", true},
		{[]string{"job …: ok"}, "job 2026-x: failed\n", false},
		{[]string{"job …: ok"}, "job a\nb: ok\n", false}, // "…" stays within its line
		{[]string{"a", "…", "z"}, "a\nz\n", true},
		{[]string{"a", "…", "z"}, "a\nb\nc\nz\n", true},
		{[]string{"a", "…", "z"}, "a\nb\n", false},
		{[]string{"a"}, "a\nextra\n", false},
		{[]string{"a.b"}, "axb\n", false}, // the rest is literal
		{nil, "", true},
		{nil, "something\n", false},
		{[]string{"x  "}, normalize("x\n"), true}, // trailing spaces, which editors drop
	} {
		if got := shownOutput(c.shown).MatchString(c.out); got != c.match {
			t.Errorf("shown %q, printed %q: match %v, want %v", c.shown, c.out, got, c.match)
		}
	}
}
