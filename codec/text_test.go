package codec

import (
	"encoding/json"
	"testing"
)

func TestJSONText(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		raw        string
		cell       string
		key        string
		keyPresent bool
	}{
		{`"AAPL"`, "AAPL", "AAPL", true},
		{`"a \"q\""`, `a "q"`, `a "q"`, true},
		{`""`, "", "", true},
		{`101.50`, "101.50", "101.50", true},
		{`1e3`, "1e3", "1e3", true},
		{`true`, "true", "true", true},
		{`null`, "", "", false},
		{``, "", "", false},
		{` [1, 2] `, "[1,2]", "", false},
		{`{"a": {"b": null}}`, `{"a":{"b":null}}`, "", false},
	} {
		cell, err := JSONCellText(json.RawMessage(c.raw))
		if err != nil || cell != c.cell {
			t.Errorf("JSONCellText(%s) = %q, %v; want %q", c.raw, cell, err, c.cell)
		}
		key, ok := JSONKeyText(json.RawMessage(c.raw))
		if key != c.key || ok != c.keyPresent {
			t.Errorf("JSONKeyText(%s) = %q, %v; want %q, %v", c.raw, key, ok, c.key, c.keyPresent)
		}
	}
}
