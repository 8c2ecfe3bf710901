package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/cli.md from the command tree (make docs)")

// cliReference is docs/cli.md: every command's help, generated from the
// command tree with cobra's Markdown generator, one file for the lot.
func cliReference() ([]byte, error) {
	root := newRootCmd()
	root.InitDefaultCompletionCmd()
	var buf bytes.Buffer
	buf.WriteString("# gridrun command-line reference\n\n" +
		"Generated from gridrun's command tree by `make docs`; edit the commands' help, not this file.\n\n")
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		if !c.IsAvailableCommand() && c != root {
			return nil
		}
		c.DisableAutoGenTag = true // no date: the file changes only when the help does
		// Links to the other commands point into this file: "## gridrun run"
		// is #gridrun-run.
		link := func(name string) string {
			return "#" + strings.ReplaceAll(strings.TrimSuffix(name, ".md"), "_", "-")
		}
		if err := doc.GenMarkdownCustom(c, &buf, link); err != nil {
			return err
		}
		buf.WriteString("\n")
		for _, sub := range c.Commands() {
			if err := walk(sub); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func TestCLIReferenceIsCurrent(t *testing.T) {
	want, err := cliReference()
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	path := filepath.Join("..", "..", "docs", "cli.md")
	if *updateDocs {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(have, want) {
		t.Fatalf("docs/cli.md is not what the commands' help says (%v): run make docs", err)
	}
}
