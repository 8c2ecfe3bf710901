// Package benchrow is the row every benchmark program prints: gridrun's
// figure next to the reference it is measured against in the same run, the
// target, and whether it was met.
package benchrow

import (
	"encoding/json"
	"io"
)

// Row is one measured figure.
type Row struct {
	Case    string  `json:"case"`
	Measure string  `json:"measure"`
	Value   float64 `json:"value"`
	// Reference says what Value was measured against, with its value.
	Reference string `json:"reference"`
	// Target is the goal, such as "<= 1.05", or "reported".
	Target string `json:"target"`
	Met    bool   `json:"met"`
}

// New returns a Row.
func New(c, measure string, value float64, reference, target string, met bool) Row {
	return Row{Case: c, Measure: measure, Value: value, Reference: reference, Target: target, Met: met}
}

// Write prints rows as an indented JSON array.
func Write(w io.Writer, rows []Row) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // targets such as "<= 1" stay readable
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

// Read reads rows printed by Write.
func Read(r io.Reader) ([]Row, error) {
	var rows []Row
	err := json.NewDecoder(r).Decode(&rows)
	return rows, err
}
