package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gridrun/gridrun/codec"
)

// Flags that take one of a few words are choiceValues: a value outside
// the set is refused when it is set, on the command line, from a job file
// or from the environment alike, with the words that would do. Checking
// when the job starts instead would let --print-job write a job file that
// fails, and a typo pass until the job's first step.

// choiceValue is a string flag restricted to a few words.
type choiceValue struct {
	target *string
	// choices are the words accepted; "" is accepted too when empty is.
	choices []string
	empty   bool
	// hint, when set, may say more about a refused word.
	hint func(string) string
}

// choiceVar defines a choice flag; value is its default.
func choiceVar(f *pflag.FlagSet, target *string, name, value, usage string, choices ...string) *choiceValue {
	*target = value
	c := &choiceValue{target: target, choices: choices, empty: value == ""}
	f.Var(c, name, usage)
	return c
}

func (c *choiceValue) String() string { return *c.target }
func (c *choiceValue) Type() string   { return "string" }

func (c *choiceValue) Set(s string) error {
	if slices.Contains(c.choices, s) || (s == "" && c.empty) {
		*c.target = s
		return nil
	}
	w := &wantError{want: "want " + listed(c.choices)}
	if c.hint != nil {
		w.hint = c.hint(s)
	}
	return w
}

// wantError says what a flag value should have been, and maybe a hint;
// the caller adds what it got.
type wantError struct{ want, hint string }

func (w *wantError) Error() string { return w.want }

// valueProblem says why value does not do for the flag, as
// "want ..., got VALUE": what its type wants rather than the parser's own
// words (strconv.ParseInt: parsing "x": invalid syntax).
func valueProblem(fl *pflag.Flag, value string, cause error) string {
	var w *wantError
	if errors.As(cause, &w) {
		if w.hint != "" {
			return fmt.Sprintf("%s, got %q (%s)", w.want, value, w.hint)
		}
		return fmt.Sprintf("%s, got %q", w.want, value)
	}
	t := strings.TrimSuffix(strings.TrimSuffix(fl.Value.Type(), "Slice"), "Array")
	var want string
	switch {
	case t == "bool":
		want = "want true or false"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"), t == "count":
		want = "want an integer"
	case strings.HasPrefix(t, "float"):
		want = "want a number"
	case t == "duration":
		want = "want a duration such as 30s, 1m30s or 2h"
	default:
		return fmt.Sprintf("%v, got %q", cause, value)
	}
	return fmt.Sprintf("%s, got %q", want, value)
}

// flagError rewrites pflag's parse errors into gridrun's words: an unknown
// flag with the flag meant, a bad value with what it should be. Every one
// is a usage error (exit 2).
func flagError(cmd *cobra.Command, err error) error {
	var ne *pflag.NotExistError
	var ie *pflag.InvalidValueError
	switch {
	case errors.As(err, &ne) && ne.GetSpecifiedShortnames() == "":
		name := ne.GetSpecifiedName()
		msg := fmt.Sprintf("unknown flag: --%s", name)
		if s := suggestFlag(cmd.Flags(), name, nil); s != "" {
			msg += fmt.Sprintf(" (did you mean --%s?)", s)
		}
		err = fmt.Errorf("%s; see %s --help", msg, cmd.CommandPath())
	case errors.As(err, &ie):
		err = fmt.Errorf("--%s: %s", ie.GetFlag().Name, valueProblem(ie.GetFlag(), ie.GetValue(), ie.Unwrap()))
	}
	return &exitError{code: exitUsage, err: err}
}

// suggestFlag returns the flag of fs closest to a misspelt name, among
// those keep accepts (all when nil), or "": within two edits, a flag the
// name starts, or the name with underscores for dashes.
func suggestFlag(fs *pflag.FlagSet, name string, keep func(*pflag.Flag) bool) string {
	name = strings.ToLower(name)
	best, bestD := "", 3 // suggest only within two edits
	prefixed := ""
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Hidden || keep != nil && !keep(fl) {
			return
		}
		if d := editDistance(name, fl.Name); d < bestD {
			best, bestD = fl.Name, d
		}
		if len(name) >= 3 && strings.HasPrefix(fl.Name, name) && prefixed == "" {
			prefixed = fl.Name
		}
	})
	if best == "" && strings.Contains(name, "_") {
		if fl := fs.Lookup(strings.ReplaceAll(name, "_", "-")); fl != nil && (keep == nil || keep(fl)) {
			return fl.Name
		}
	}
	if best == "" {
		return prefixed
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// listed joins words as a sentence lists them: "a, b or c".
func listed(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// inputFormatVar defines --input-format: one of the registered formats'
// names. Their aliases (json, ndjson) are refused with the name to use, so
// that what the help lists is all there is: "json" for a file of JSON
// lines reads as the user meant, but the same word for a JSON array would
// not.
func inputFormatVar(f *pflag.FlagSet, target *string) {
	var names []string
	for _, fm := range codec.Formats() {
		names = append(names, string(fm))
	}
	c := choiceVar(f, target, "input-format", "", "input format when the name does not tell: "+listed(names), names...)
	c.hint = func(s string) string {
		if fm, err := codec.ParseFormat(s); err == nil {
			return fmt.Sprintf("%s is an alias of %s: say %s", s, fm, fm)
		}
		return ""
	}
}
