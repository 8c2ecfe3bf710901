package codec_test

import (
	"slices"
	"testing"

	"github.com/gridrun/gridrun/codec"
)

// Ids that differ only in invalid bytes must not become the same id: JSON
// would write both as X\uFFFD. Each is refused, naming the id field and
// the line, in every format that carries text ids.
func TestDecodeRefusesInvalidUTF8IDs(t *testing.T) {
	t.Parallel()
	trade := tradeDesc(t)
	for _, tc := range []struct {
		name   string
		format codec.Format
		data   string
	}{
		{"t.jsonl", codec.JSONL, "{\"id\":\"X\xff\",\"strike\":1}\n{\"id\":\"X\xfe\",\"strike\":1}\n{\"id\":\"X\",\"strike\":1}\n"},
		{"t.csv", codec.CSV, "id,strike\nX\xff,1\nX\xfe,1\nX,1\n"},
	} {
		r, d := input(t, trade, tc.name, tc.format, tc.data, codec.DecoderOptions{})
		elems, errs := decodeAll(t, r, d)
		for i, line := range []int64{1, 2} {
			if tc.format == codec.CSV {
				line++
			}
			re := rowError(t, errs[i], tc.name, line, "id")
			contains(t, re, "not valid UTF-8")
		}
		if errs[2] != nil || elems[2].ID != "X" {
			t.Errorf("%s: valid id X: %q, %v", tc.name, elems[2].ID, errs[2])
		}
	}
}

func TestCover(t *testing.T) {
	t.Parallel()
	trade := tradeDesc(t)
	// The fields come from the message, not from Cover's own list.
	var all []string
	for i := range trade.Fields().Len() {
		all = append(all, string(trade.Fields().Get(i).Name()))
	}
	c := codec.Cover(trade, all, nil, nil)
	if len(c.Missing)+len(c.Unfilled)+len(c.Unused) != 0 {
		t.Errorf("every field a column: %+v", c)
	}
	cols := slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == "strike" || s == "expiry" })
	c = codec.Cover(trade, append(cols, "desk", "book"), []string{"expiry"}, []string{"book"})
	if !slices.Equal(c.Missing, []string{"strike"}) || !slices.Equal(c.Unfilled, []string{"expiry"}) || !slices.Equal(c.Unused, []string{"desk"}) {
		t.Errorf("coverage %+v, want missing strike, unfilled expiry, unused desk", c)
	}
	if err := codec.CheckNames(trade, []string{"expiry", "strik"}, "--input-optional"); err == nil {
		t.Error("a misspelt optional field is accepted")
	} else {
		contains(t, err, "--input-optional strik", "not a field of")
	}
}
