package main

import (
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every flag can also be set by an environment variable named GRIDRUN_
// and the flag's name in upper snake case: --batch-size is
// GRIDRUN_BATCH_SIZE, --log-level GRIDRUN_LOG_LEVEL. The precedence is
//
//	flag > environment > job file (-f) > default
//
// so that a site can set its own defaults (a cache directory, a log
// format) without editing job files, and a command line still has the last
// word. --cache-dir is GRIDRUN_CACHE_DIR, the variable binstage has always
// read.
//
// The flags that steer the command rather than describe the job (-f,
// --print-job, --dry-run, --help) take no variable: a variable left set in
// a shell would silently turn every run into a dry run.
const envPrefix = "GRIDRUN_"

// envPrecedence is the help text that says so, added to the commands that
// read job files and to the root.
const envPrecedence = `Environment: every flag may be set by GRIDRUN_ and its name in upper snake
case (--batch-size as GRIDRUN_BATCH_SIZE, --log-level as GRIDRUN_LOG_LEVEL),
except -f, --print-job, --dry-run and --help. A flag on the command line wins
over the environment, which wins over a job file (-f), which wins over the
default. A repeatable flag takes one value from a variable.`

// fromEnv marks a flag set from the environment. --print-job leaves such
// flags out: a variable is this machine's or this shell's setting (a cache
// directory, a log format), and a printed job file should run the same
// elsewhere.
const fromEnv = "gridrun_from_env"

// envName is the variable that sets flag name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// applyEnv sets the flags of cmd that the command line left unset from
// their GRIDRUN_* variables, as the command line would (so a set flag wins
// over a job file, read after).
func applyEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if err != nil || fl.Changed || !inJobFile(fl) {
			return
		}
		name := envName(fl.Name)
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if e := fl.Value.Set(v); e != nil {
			err = usageError("%s (for --%s): %s", name, fl.Name, valueProblem(fl, v, e))
			return
		}
		fl.Changed = true
		if fl.Annotations == nil {
			fl.Annotations = map[string][]string{}
		}
		fl.Annotations[fromEnv] = []string{name}
	})
	return err
}
