package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlagValuesComplete asks the completion protocol that cobra's bash and
// zsh scripts speak (gridrun __complete ARGS) for flag values.
func TestFlagValuesComplete(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string // the values, then the directive cobra hands the shell
	}{
		{[]string{"run", "--progress", ""}, "auto tty plain json none :4"},
		{[]string{"run", "--input-format", ""}, "jsonl csv pb parquet :4"},
		{[]string{"run", "--output-format", "p"}, "parquet :4"},
		{[]string{"run", "--join-missing", ""}, "dead-letter pass :4"},
		{[]string{"run", "--input", ""}, ":0"},     // the shell's file completion
		{[]string{"run", "--binary", ""}, ":0"},    // the shell's file completion
		{[]string{"run", "--output", ""}, ":16"},   // directories only
		{[]string{"run", "-f", ""}, "yaml yml :8"}, // files with these extensions
		{[]string{"report", ""}, ":16"},            // directories only
		{[]string{"verify", ""}, ":16"},            // directories only
		{[]string{"inspect", "--kind", "r"}, "result-stream results :4"},
		{[]string{"--log-format", ""}, "text json :4"},
	} {
		out, err := execute(t, append([]string{"__complete"}, c.args...)...)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got := strings.Join(strings.Fields(out), " "); got != c.want {
			t.Errorf("completing %q: %q, want %q", c.args, got, c.want)
		}
	}
}

// buildGridrun builds the command for tests that run it as a user would.
func buildGridrun(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "gridrun")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBashCompletes sources the bash script with the bash-completion
// package, as a user's shell does, and completes command lines.
func TestBashCompletes(t *testing.T) {
	const bashCompletion = "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(bashCompletion); err != nil {
		t.Fatal("bash-completion is not installed: `make test` installs it (scripts/deps bash-completion)")
	}
	bin := buildGridrun(t)
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "out"), 0o755)
	for _, f := range []string{"job.yaml", "trades.jsonl"} {
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	script := `source ` + bashCompletion + `
source <(gridrun completion bash)
comp() {
  COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
  COMPREPLY=(); __start_gridrun 2>/dev/null; echo "${COMPREPLY[*]}"
}
comp gridrun run --progress ""
comp gridrun run --progress j
comp gridrun run --output ""
comp gridrun run -f ""
comp gridrun in
`
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	want := "auto tty plain json none\njson\nout\njob.yaml out\ninspect\n"
	if string(out) != want {
		t.Errorf("bash completed:\n%s\nwant:\n%s", out, want)
	}
}

// TestZshScriptParses checks the zsh script is valid zsh; it speaks the
// same __complete protocol as bash's, tested above.
func TestZshScriptParses(t *testing.T) {
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Fatal("zsh is not installed: `make test` installs it (scripts/deps zsh)")
	}
	script, err := execute(t, "completion", "zsh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(script, "#compdef gridrun") {
		t.Errorf("the zsh script does not start with #compdef gridrun: %.40q", script)
	}
	f := filepath.Join(t.TempDir(), "_gridrun")
	os.WriteFile(f, []byte(script), 0o644)
	if out, err := exec.Command(zsh, "-n", f).CombinedOutput(); err != nil {
		t.Errorf("zsh -n: %v\n%s", err, out)
	}
}
