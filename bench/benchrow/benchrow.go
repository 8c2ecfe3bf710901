// Package benchrow is the row every benchmark program prints: gridrun's
// figure next to the reference it is measured against in the same run, the
// target, and whether it was met.
//
// Whether a row is met is never the program's say: it follows from the
// value and the target, here, so that a row cannot read "met" while its
// value misses its aim.
package benchrow

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Row is one measured figure.
type Row struct {
	Case    string  `json:"case"`
	Measure string  `json:"measure"`
	Value   float64 `json:"value"`
	// Reference says what Value was measured against, with its value.
	Reference string `json:"reference"`
	// Target is the goal: an operator and a number, such as "<= 1.05",
	// ">= 3", "< 256", "== 500" (a bare number means "=="). A target that
	// is empty or starts with "reported" (such as "reported; expect < 0.7")
	// is no goal: the figure is only reported.
	Target string `json:"target"`
	// Met says whether Value meets Target; nil for a reported row. New and
	// Write set it from Value and Target.
	Met *bool `json:"met,omitempty"`
}

// New returns a Row with Met computed from value and target; an
// unparsable target leaves Met nil, and Write refuses the row.
func New(c, measure string, value float64, reference, target string) Row {
	r := Row{Case: c, Measure: measure, Value: value, Reference: reference, Target: target}
	r.Met, _ = Meets(value, target)
	return r
}

// Missed reports a row that has a target and misses it.
func (r Row) Missed() bool { return r.Met != nil && !*r.Met }

// Meets says whether value meets target: nil when target is only
// reported (empty, or starting with "reported"), an error when it is
// neither that nor an operator (<=, >=, <, >, ==) and a number.
func Meets(value float64, target string) (*bool, error) {
	t := strings.TrimSpace(target)
	if t == "" || strings.HasPrefix(t, "reported") {
		return nil, nil
	}
	op := "=="
	for _, o := range []string{"<=", ">=", "==", "<", ">"} { // two-character operators first
		if rest, ok := strings.CutPrefix(t, o); ok {
			op, t = o, strings.TrimSpace(rest)
			break
		}
	}
	bound, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return nil, fmt.Errorf("target %q: want an operator (<=, >=, <, >, ==) and a number, or \"reported\"", target)
	}
	var met bool
	switch op {
	case "<=":
		met = value <= bound
	case ">=":
		met = value >= bound
	case "<":
		met = value < bound
	case ">":
		met = value > bound
	case "==":
		met = value == bound
	}
	return &met, nil
}

// Write prints rows as an indented JSON array, each row's Met set from its
// Value and Target whatever it was; a row whose target does not parse is
// an error, and nothing is written.
func Write(w io.Writer, rows []Row) error {
	judged := make([]Row, len(rows))
	for i, r := range rows {
		met, err := Meets(r.Value, r.Target)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", r.Case, r.Measure, err)
		}
		r.Met = met
		judged[i] = r
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // targets such as "<= 1" stay readable
	enc.SetIndent("", "  ")
	return enc.Encode(judged)
}

// Read reads rows printed by Write, judging each again from its Value and
// Target: a file written before Met was computed says no more than they
// do. A target that cannot be judged (such as the "== reference" of such a
// file) is an error: run the program again.
func Read(r io.Reader) ([]Row, error) {
	var rows []Row
	if err := json.NewDecoder(r).Decode(&rows); err != nil {
		return nil, err
	}
	for i := range rows {
		met, err := Meets(rows[i].Value, rows[i].Target)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", rows[i].Case, rows[i].Measure, err)
		}
		rows[i].Met = met
	}
	return rows, nil
}
