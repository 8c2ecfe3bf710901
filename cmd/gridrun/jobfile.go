package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// Job files hold `gridrun run` flags as YAML fields named like the flags:
//
//	binary: bin/pricer
//	input: [a.jsonl, b.jsonl]
//	batch-size: 200
//	timeout: 30s
//	args: [--seed, "7"]      # the binary's arguments, those after --
//
// They are read and written generically over the command's flag set, so a
// flag added to `run` is a job-file field without more code. Flags given on
// the command line, and GRIDRUN_* environment variables (envflags.go), win
// over the file.
//
// The YAML library is go.yaml.in/yaml/v3, the YAML organisation's
// maintained continuation of gopkg.in/yaml.v3 (which cobra already
// depends on): its Node API keeps each key's line and column, so an unknown
// field is reported where it is.

// argsField holds the binary's arguments; it is no flag, so no flag can
// take its name.
const argsField = "args"

// noJobField marks flags that steer the command rather than describe the
// job (-f itself, --print-job, --help): they are neither read from a job
// file nor printed into one.
const noJobField = "gridrun_no_job_field"

func markNotInJobFile(f *pflag.FlagSet, names ...string) {
	for _, n := range names {
		f.SetAnnotation(n, noJobField, []string{"true"})
	}
}

func inJobFile(fl *pflag.Flag) bool {
	_, skip := fl.Annotations[noJobField]
	return !skip && fl.Name != "help"
}

// jobFileError locates a problem in a job file.
type jobFileError struct {
	file      string
	line, col int
	msg       string
}

func (e *jobFileError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.file, e.line, e.col, e.msg)
}

// applyJobFile sets the flags of fs that the command line did not set from
// the job file at path, and returns the file's binary arguments.
func applyJobFile(fs *pflag.FlagSet, path string) (args []string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError("job file: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, usageError("job file %s: %v", path, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil // an empty file sets nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &exitError{code: exitUsage, err: &jobFileError{path, root.Line, root.Column, "a job file is a mapping of flag names to values, e.g. batch-size: 200"}}
	}
	errAt := func(n *yaml.Node, format string, a ...any) error {
		return &exitError{code: exitUsage, err: &jobFileError{path, n.Line, n.Column, fmt.Sprintf(format, a...)}}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		name := k.Value
		if line, dup := seen[name]; dup {
			return nil, errAt(k, "%s is given twice (first on line %d)", name, line)
		}
		seen[name] = k.Line
		values, err := nodeValues(v)
		if err != nil {
			return nil, errAt(v, "%s: %v", name, err)
		}
		if name == argsField {
			if v.Kind != yaml.SequenceNode {
				return nil, errAt(v, "args: want a list, e.g. args: [--seed, \"7\"]")
			}
			args = values
			continue
		}
		fl := fs.Lookup(name)
		if fl == nil || !inJobFile(fl) {
			msg := fmt.Sprintf("unknown field %q: not a flag of gridrun run", name)
			if s := suggestFlag(fs, name, inJobFile); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return nil, errAt(k, "%s", msg)
		}
		if fl.Changed { // the command line, or the environment, wins
			// The job names it, so a printed job holds it, with the
			// value that won.
			delete(fl.Annotations, fromEnv)
			continue
		}
		if err := setFlag(fl, v.Kind == yaml.SequenceNode, values); err != nil {
			return nil, errAt(v, "field %s: %s", name, err)
		}
	}
	return args, nil
}

// nodeValues returns the text of a scalar, or of each scalar of a list.
func nodeValues(v *yaml.Node) ([]string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return nil, fmt.Errorf("no value")
		}
		return []string{v.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, len(v.Content))
		for i, c := range v.Content {
			if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
				return nil, fmt.Errorf("item %d: want a plain value", i+1)
			}
			out[i] = c.Value
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a value or a list of values")
}

// setFlag sets a flag as the command line would. A list replaces a
// repeatable flag's values item by item (no comma splitting, so an item may
// hold commas); a single value goes through Set, as on the command line.
func setFlag(fl *pflag.Flag, list bool, values []string) error {
	sv, repeatable := fl.Value.(pflag.SliceValue)
	switch {
	case list && repeatable:
		if err := sv.Replace(values); err != nil {
			return err
		}
	case list:
		return fmt.Errorf("takes one value, not a list")
	default:
		if err := fl.Value.Set(values[0]); err != nil {
			return errors.New(valueProblem(fl, values[0], err))
		}
	}
	fl.Changed = true
	return nil
}

// writeJobFile prints the flags set (on the command line or by a job file,
// not by the environment)
// as a job file, in the order the command defines them, and the binary's
// arguments. Only the flags set: the file says what the user chose, and
// the same gridrun reads the rest as the same defaults (the manifest
// records every option as run).
func writeJobFile(w io.Writer, fs *pflag.FlagSet, args []string) error {
	m := &yaml.Node{Kind: yaml.MappingNode}
	fs.VisitAll(func(fl *pflag.Flag) {
		if _, env := fl.Annotations[fromEnv]; !fl.Changed || env || !inJobFile(fl) {
			return
		}
		var v *yaml.Node
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			v = seqNode(sv.GetSlice(), scalarTag(fl.Value.Type()))
		} else {
			v = scalarNode(fl.Value.String(), scalarTag(fl.Value.Type()))
		}
		m.Content = append(m.Content, scalarNode(fl.Name, "!!str"), v)
	})
	if len(args) > 0 {
		m.Content = append(m.Content, scalarNode(argsField, "!!str"), seqNode(args, "!!str"))
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// scalarTag is the YAML type of a pflag value type, so that numbers and
// booleans print bare and everything else as strings (quoted when YAML
// would read them otherwise).
func scalarTag(pflagType string) string {
	t := strings.TrimSuffix(strings.TrimSuffix(pflagType, "Slice"), "Array")
	switch {
	case t == "bool":
		return "!!bool"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"), t == "count":
		return "!!int"
	case strings.HasPrefix(t, "float"):
		return "!!float"
	}
	return "!!str"
}

func scalarNode(value, tag string) *yaml.Node {
	if tag != "!!str" {
		if _, err := strconv.ParseFloat(value, 64); err != nil && tag != "!!bool" {
			tag = "!!str" // e.g. an int flag holding "0x10": keep the text as it is
		}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

func seqNode(items []string, tag string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, it := range items {
		n.Content = append(n.Content, scalarNode(it, tag))
	}
	if len(items) > 4 {
		n.Style = 0 // a long list reads better one item a line
	}
	return n
}
