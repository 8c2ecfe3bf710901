package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// printJob runs `gridrun run ARGS --print-job` in process and returns the
// job it would run, as a map of flag names to values.
func printJob(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out, err := execute(t, append(append([]string{"run"}, args...), "--print-job")...)
	if err != nil {
		t.Fatal(err)
	}
	var job map[string]any
	if err := yaml.Unmarshal([]byte(out), &job); err != nil {
		t.Fatal(err)
	}
	return job
}

// runFlags runs `gridrun run ARGS --print-job` in process and returns the
// run command's flags as parsed: the values the job would run with.
func runFlags(t *testing.T, args ...string) (*pflag.FlagSet, string) {
	t.Helper()
	root := newRootCmd()
	root.SetArgs(append(append([]string{"run"}, args...), "--print-job"))
	var out bytes.Buffer
	root.SetOut(&out)
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	run, _, err := root.Find([]string{"run"})
	if err != nil {
		t.Fatal(err)
	}
	return run.Flags(), out.String()
}

// Each level of flag > environment > job file > default, and the variable
// names: the flag's name in upper snake case after GRIDRUN_.
// Not parallel: t.Setenv.
func TestFlagsBeatTheEnvironmentWhichBeatsTheJobFile(t *testing.T) {
	file := writeFile(t, "job.yaml", "binary: b\ninput: [i]\noutput: o\nbatch-size: 50\nparallelism: 3\ntimeout: 1m\n")
	t.Setenv("GRIDRUN_BATCH_SIZE", "70")
	t.Setenv("GRIDRUN_PARALLELISM", "5")
	t.Setenv("GRIDRUN_JOIN_MISSING", "pass")
	t.Setenv("GRIDRUN_INPUT_OPTIONAL", "paths,fixings")
	t.Setenv("GRIDRUN_LOG_LEVEL", "debug")

	fs, printed := runFlags(t, "-f", file, "--batch-size", "90")
	for _, c := range []struct{ flag, want, why string }{
		{"batch-size", "90", "the flag beats the environment and the file"},
		{"parallelism", "5", "the environment beats the file"},
		{"timeout", "1m0s", "the file beats the default"},
		{"max-batch-size", "10000", "the default, when nothing sets it"},
		{"join-missing", "pass", "the environment beats the default"},
		{"input-optional", "[paths,fixings]", "a list flag splits its variable at commas, as on the command line"},
		{"log-level", "debug", "the root's flags too"},
	} {
		if got := fs.Lookup(c.flag).Value.String(); got != c.want {
			t.Errorf("%s = %s, want %s: %s", c.flag, got, c.want, c.why)
		}
	}
	// The printed job holds the flags the command line and the file name,
	// with the values that won, and not those only this machine's
	// variables set.
	want := "binary: b\ninput: [i]\noutput: o\nbatch-size: 90\nparallelism: 5\ntimeout: 1m0s\n"
	if printed != want {
		t.Errorf("printed job:\n%s\nwant:\n%s", printed, want)
	}
}

// Without a job file, a variable gives a required flag; a flag the
// environment gives a bad value is a usage error naming the variable.
func TestTheEnvironmentCanGiveRequiredFlagsAndIsChecked(t *testing.T) {
	t.Setenv("GRIDRUN_BINARY", "bin/pricer")
	t.Setenv("GRIDRUN_OUTPUT", "out")
	fs, _ := runFlags(t, "--input", "a.jsonl")
	if fs.Lookup("binary").Value.String() != "bin/pricer" || fs.Lookup("output").Value.String() != "out" {
		t.Errorf("want binary and output from the environment")
	}
	t.Setenv("GRIDRUN_STALL_TIMEOUT", "soon")
	_, err := execute(t, "run", "--input", "a.jsonl", "--print-job")
	if !isUsage(err) || !strings.Contains(err.Error(), `GRIDRUN_STALL_TIMEOUT (for --stall-timeout): want a duration such as 30s, 1m30s or 2h, got "soon"`) {
		t.Errorf("err = %v", err)
	}
}

// Flags that steer the command take no variable: a GRIDRUN_DRY_RUN left
// in a shell must not turn every run into a dry run.
func TestSteeringFlagsTakeNoVariable(t *testing.T) {
	t.Setenv("GRIDRUN_PRINT_JOB", "false")
	t.Setenv("GRIDRUN_DRY_RUN", "true")
	t.Setenv("GRIDRUN_JOB_FILE", "/nonexistent.yaml")
	fs, printed := runFlags(t, "--binary", "b", "--input", "i", "--output", "o")
	if fs.Lookup("dry-run").Changed || fs.Lookup("job-file").Changed || printed != "binary: b\ninput: [i]\noutput: o\n" {
		t.Errorf("printed %q: want only the three flags given", printed)
	}
}

func TestEnvNames(t *testing.T) {
	for flag, want := range map[string]string{
		"parallelism": "GRIDRUN_PARALLELISM", "batch-size": "GRIDRUN_BATCH_SIZE",
		"cache-dir": "GRIDRUN_CACHE_DIR", "log-level": "GRIDRUN_LOG_LEVEL",
	} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q, want %q", flag, got, want)
		}
	}
}

// Every flag that takes one of a few words refuses any other, naming the
// words, on the command line (a job file's fields are checked in
// TestJobFileErrorsNameTheFileAndLine).
func TestEnumFlagsRefuseUnknownWords(t *testing.T) {
	base := []string{"run", "--binary", "b", "--input", "i", "--output", "o", "--print-job"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--input-format", "json"}, `--input-format: want jsonl, csv, pb or parquet, got "json" (json is an alias of jsonl: say jsonl)`},
		{[]string{"--input-format", "xml"}, `--input-format: want jsonl, csv, pb or parquet, got "xml"`},
		{[]string{"--output-format", "csv"}, `--output-format: want jsonl or parquet, got "csv"`},
		{[]string{"--join-missing", "skip"}, `--join-missing: want dead-letter or pass, got "skip"`},
		{[]string{"--runner", "spark"}, `--runner: want local, prism or dataflow, got "spark"`},
		{[]string{"--progress", "bar"}, `--progress: want auto, tty, plain, json or none, got "bar"`},
		{[]string{"--log-format", "xml"}, `--log-format: want text or json, got "xml"`},
		{[]string{"--log-level", "loud"}, `--log-level: want debug, info, warn or error, got "loud"`},
	} {
		_, err := execute(t, append(base, c.args...)...)
		if !isUsage(err) || err.Error() != c.want {
			t.Errorf("%v: err = %v, want a usage error %q", c.args, err, c.want)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"inspect", "--kind", "csv", "x"}, `--kind: want batch, result-stream, results, dead-letters, manifest, description, json or parquet, got "csv"`},
		{[]string{"marketdata", "load", "--format", "parquet", "f", "bigtable://p/i/t"}, `--format: want jsonl or csv, got "parquet"`},
	} {
		_, err := execute(t, c.args...)
		if !isUsage(err) || err.Error() != c.want {
			t.Errorf("%v: err = %v, want a usage error %q", c.args, err, c.want)
		}
	}
	// The words the flags accept are the ones they were given.
	job := printJob(t, "--binary", "b", "--input", "i", "--output", "o", "--input-format", "csv", "--join-missing", "pass")
	if job["input-format"] != "csv" || job["join-missing"] != "pass" {
		t.Errorf("job %v", job)
	}
}

func TestMistypedFlagsAreSuggested(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--paralelism", "3"}, "unknown flag: --paralelism (did you mean --parallelism?); see gridrun run --help"},
		{[]string{"run", "--batch_size", "3"}, "unknown flag: --batch_size (did you mean --batch-size?); see gridrun run --help"},
		{[]string{"run", "--join-ky", "x"}, "unknown flag: --join-ky (did you mean --join-key?); see gridrun run --help"},
		{[]string{"run", "--resum"}, "unknown flag: --resum (did you mean --resume?); see gridrun run --help"},
		{[]string{"describe", "--binar", "x"}, "unknown flag: --binar (did you mean --binary?); see gridrun describe --help"},
		{[]string{"run", "--log-levl", "debug"}, "unknown flag: --log-levl (did you mean --log-level?); see gridrun run --help"},
		{[]string{"run", "--zzzzzzzz"}, "unknown flag: --zzzzzzzz; see gridrun run --help"},
	} {
		_, err := execute(t, c.args...)
		if !isUsage(err) || err.Error() != c.want {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
	// Bad values say what the flag's type wants, not what its parser said.
	_, err := execute(t, "run", "--batch-size", "many")
	if !isUsage(err) || err.Error() != `--batch-size: want an integer, got "many"` {
		t.Errorf("err = %v", err)
	}
}

func TestMistypedCommandsAreSuggested(t *testing.T) {
	_, err := execute(t, "rnu")
	if err == nil || !strings.Contains(err.Error(), "unknown command \"rnu\"") || !strings.Contains(err.Error(), "Did you mean this?\n\trun") {
		t.Errorf("err = %v", err)
	}
	_, err = execute(t, "verfy")
	if err == nil || !strings.Contains(err.Error(), "\tverify") {
		t.Errorf("err = %v", err)
	}
}

// Without VCS information in the build (GOFLAGS=-buildvcs=false, as in CI
// and for test binaries), the version falls back on what the Makefile
// injected; without either it says so rather than printing "(devel)"
// alone.
func TestVersionFallsBackOnTheInjectedRevision(t *testing.T) {
	saved := [3]string{revision, modified, buildTime}
	t.Cleanup(func() { revision, modified, buildTime = saved[0], saved[1], saved[2] })
	revision, modified, buildTime = "0123456789abcdef0123456789abcdef01234567", "true", "2026-11-22T03:12:21Z"
	out, err := execute(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(out, "\n")
	if first != "gridrun (devel) 0123456789abcdef0123456789abcdef01234567 (modified)" || !strings.Contains(out, "built     2026-11-22T03:12:21Z\n") {
		t.Errorf("version:\n%s", out)
	}
	flag, err := execute(t, "--version")
	if err != nil || flag != out {
		t.Errorf("--version printed %q (err %v), want what version prints:\n%s", flag, err, out)
	}
	revision, modified, buildTime = "", "", ""
	if out, _ := execute(t, "version"); !strings.Contains(out, "unknown revision (built without VCS information") {
		t.Errorf("version without a revision:\n%s", out)
	}
}

// A suggestion comes only from flags a job file may hold when asked so.
func TestSuggestFlagKeepsToTheFlagsAsked(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.Bool("print-job", false, "")
	fs.Bool("print-jobs", false, "")
	markNotInJobFile(fs, "print-job")
	if got := suggestFlag(fs, "print-jb", inJobFile); got != "print-jobs" {
		t.Errorf("suggestFlag = %q, want print-jobs", got)
	}
	if got := suggestFlag(fs, "print-jb", nil); got != "print-job" {
		t.Errorf("suggestFlag = %q, want print-job", got)
	}
}
