package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// execute runs the gridrun command line and returns what it printed.
func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	root.SetArgs(args)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func isUsage(err error) bool {
	var ee *exitError
	return errors.As(err, &ee) && ee.code == exitUsage
}

func TestPrintedJobReproducesTheRun(t *testing.T) {
	first, err := execute(t, "run", "--binary", "bin/pricer", "--input", "a.jsonl", "--input", "b,with comma.jsonl",
		"--join", "quotes.csv", "--join-key", "{underlying}", "--output", "out", "--batch-size", "100", "--timeout", "1m30s",
		"--retry-exit-codes", "75,111", "--resume", "--progress", "json", "--max-memory", "2GiB", "--print-job", "--", "--seed", "7")
	if err != nil {
		t.Fatal(err)
	}
	want := `binary: bin/pricer
input: [a.jsonl, 'b,with comma.jsonl']
join: quotes.csv
join-key: '{underlying}'
output: out
resume: true
batch-size: 100
timeout: 1m30s
retry-exit-codes: ["75", "111"]
max-memory: 2GiB
progress: json
args: [--seed, "7"]
`
	if first != want {
		t.Fatalf("printed job:\n%s\nwant:\n%s", first, want)
	}
	again, err := execute(t, "run", "-f", writeFile(t, "job.yaml", first), "--print-job")
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("the job printed from the job file differs:\n%s\nfirst:\n%s", again, first)
	}
}

func TestTheCommandLineWinsOverTheJobFile(t *testing.T) {
	file := writeFile(t, "job.yaml", "binary: bin/pricer\ninput: [a.jsonl]\noutput: out\nbatch-size: 50\nargs: [--fast]\n")
	got, err := execute(t, "run", "-f", file, "--batch-size", "20", "--input", "b.jsonl", "--print-job", "--", "--slow")
	if err != nil {
		t.Fatal(err)
	}
	var job map[string]any
	if err := yaml.Unmarshal([]byte(got), &job); err != nil {
		t.Fatal(err)
	}
	if job["batch-size"] != 20 || job["binary"] != "bin/pricer" || job["output"] != "out" {
		t.Errorf("job %v: want batch-size 20 from the command line, binary and output from the file", job)
	}
	if in, _ := job["input"].([]any); len(in) != 1 || in[0] != "b.jsonl" {
		t.Errorf("input %v, want [b.jsonl]: the command line replaces the file's list", job["input"])
	}
	if args, _ := job["args"].([]any); len(args) != 1 || args[0] != "--slow" {
		t.Errorf("args %v, want [--slow]", job["args"])
	}
}

func TestJobFileErrorsNameTheFileAndLine(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"unknown", "binary: bin/pricer\n\nbatchsize: 3\n", `:3:1: unknown field "batchsize": not a flag of gridrun run (did you mean "batch-size"?)`},
		{"underscores", "batch_size: 3\n", `:1:1: unknown field "batch_size": not a flag of gridrun run (did you mean "batch-size"?)`},
		{"not a run flag", "print-job: true\n", `:1:1: unknown field "print-job"`},
		{"bad value", "binary: bin/pricer\nbatch-size: many\n", `:2:13: field batch-size: want an integer, got "many"`},
		{"bad duration", "timeout: soon\n", `:1:10: field timeout: want a duration such as 30s, 1m30s or 2h, got "soon"`},
		{"bad bool", "resume: maybe\n", `:1:9: field resume: want true or false, got "maybe"`},
		{"bad word", "input-format: json\n", `:1:15: field input-format: want jsonl, csv, pb or parquet, got "json" (json is an alias of jsonl: say jsonl)`},
		{"bad runner", "runner: beam\n", `:1:9: field runner: want local, prism or dataflow, got "beam"`},
		{"list for one value", "binary: [a, b]\n", `:1:9: field binary: takes one value, not a list`},
		{"twice", "binary: a\nbinary: b\n", `:2:1: binary is given twice (first on line 1)`},
		{"no value", "binary:\n", `:1:8: binary: no value`},
		{"nested", "join: {source: q.csv}\n", `:1:7: join: want a value or a list of values`},
		{"not a mapping", "- binary\n", `:1:1: a job file is a mapping`},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := writeFile(t, "job.yaml", c.yaml)
			_, err := execute(t, "run", "-f", file, "--print-job")
			if err == nil || !strings.Contains(err.Error(), file+c.want) {
				t.Fatalf("err = %v, want %q", err, file+c.want)
			}
			if !isUsage(err) {
				t.Errorf("err %v is not a usage error (exit 2)", err)
			}
		})
	}
}

func TestAJobFileCanGiveTheRequiredFlags(t *testing.T) {
	file := writeFile(t, "job.yaml", "binary: bin/pricer\ninput: a.jsonl\noutput: out\n")
	got, err := execute(t, "run", "-f", file, "--print-job")
	if err != nil {
		t.Fatal(err)
	}
	if got != "binary: bin/pricer\ninput: [a.jsonl]\noutput: out\n" {
		t.Errorf("printed %q", got)
	}
	if _, err := execute(t, "run", "--print-job"); err == nil || !strings.Contains(err.Error(), "required flag") {
		t.Errorf("without a job file: err = %v, want the required flags named", err)
	}
}

// A flag added to run later is a job-file field with no more code.
func TestNewFlagsAreJobFields(t *testing.T) {
	root := newRootCmd()
	run, _, err := root.Find([]string{"run"})
	if err != nil {
		t.Fatal(err)
	}
	var family string
	run.Flags().StringVar(&family, "added-later", "", "a flag added later")
	file := writeFile(t, "job.yaml", "binary: b\ninput: [i]\noutput: o\nadded-later: quotes\n")
	root.SetArgs([]string{"run", "-f", file, "--print-job"})
	var out bytes.Buffer
	root.SetOut(&out)
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if family != "quotes" || !strings.Contains(out.String(), "added-later: quotes\n") {
		t.Errorf("added-later = %q, printed:\n%s", family, out.String())
	}
}

func TestAnUnknownProgressModeIsAUsageError(t *testing.T) {
	_, err := execute(t, "run", "--binary", "b", "--input", "i", "--output", filepath.Join(t.TempDir(), "o"), "--progress", "fancy")
	if !isUsage(err) || !strings.Contains(err.Error(), `--progress: want auto, tty, plain, json or none, got "fancy"`) {
		t.Errorf("err = %v, want a usage error naming the mode", err)
	}
}
