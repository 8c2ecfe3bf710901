package codec

import (
	"bytes"
	"encoding/json"
)

// JSONKeyText returns the text a key template or an id takes from a JSON
// value: a string's contents, a number or boolean as written. It reports
// false for null, an object or an array, which name nothing.
func JSONKeyText(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	s, err := jsonScalarText(raw)
	return s, err == nil
}

// JSONCellText returns the text form of a JSON value as a text cell (a CSV
// cell, a Bigtable cell) holds it, such that SetString of the text sets
// what SetJSON of the value sets: a string's contents, a number or boolean
// as written, an object or array as compact JSON, and "" for null, which
// leaves a field unset either way.
func JSONCellText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", nil
	case raw[0] == '{' || raw[0] == '[':
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return "", err
		}
		return b.String(), nil
	}
	return jsonScalarText(raw)
}
