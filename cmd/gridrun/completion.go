package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// addUXCommands adds the commands that look at a job rather than run it,
// and the shell completion of every command's flags. Completion is cobra's
// own `completion` command (bash, zsh, fish, powershell); this gives it
// what it cannot guess: which flags name files or directories, and the
// values of the flags that take one of a few words.
func addUXCommands(root *cobra.Command) {
	root.AddCommand(newReportCmd(), newInspectCmd(), newVerifyCmd())
	completeChoices(root)
	for _, c := range root.Commands() {
		switch c.Name() {
		case "run":
			for _, f := range []string{"binary", "input", "join"} {
				c.MarkFlagFilename(f)
			}
			c.MarkFlagFilename("proto", "proto")
			c.MarkFlagFilename("job-file", "yaml", "yml")
			for _, f := range []string{"output", "cache-dir", "proto-path"} {
				c.MarkFlagDirname(f)
			}
		case "describe":
			c.MarkFlagFilename("binary")
			c.MarkFlagDirname("cache-dir")
		}
	}
}

// completeChoices completes every flag that takes one of a few words
// (a choiceValue), in c and its subcommands, with those words.
func completeChoices(c *cobra.Command) {
	for _, fs := range []*pflag.FlagSet{c.PersistentFlags(), c.LocalNonPersistentFlags()} {
		fs.VisitAll(func(fl *pflag.Flag) {
			if cv, ok := fl.Value.(*choiceValue); ok {
				words(c, fl.Name, cv.choices...)
			}
		})
	}
	for _, sub := range c.Commands() {
		completeChoices(sub)
	}
}

// words completes a flag with a fixed set of values, and no file names.
func words(c *cobra.Command, flag string, values ...string) {
	c.RegisterFlagCompletionFunc(flag, func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		var out []string
		for _, v := range values {
			if strings.HasPrefix(v, prefix) {
				out = append(out, v)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	})
}
