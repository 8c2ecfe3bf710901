package codec_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gridrun/gridrun/codec"
)

func TestResultEncoderLine(t *testing.T) {
	t.Parallel()
	price := priceDesc(t)
	payload, err := proto.Marshal(msg(t, price, "price", 1.5, "value", -3.0, "std_error", 0.25, "paths", uint32(10000), "method", "monte-carlo"))
	if err != nil {
		t.Fatal(err)
	}
	enc := codec.NewResultEncoder(price)
	// The .proto's field names, every field present in declaration order,
	// no whitespace, one line.
	const want = `{"id":"T1","result":{"price":1.5,"value":-3,"delta":0,"gamma":0,"vega":0,"std_error":0.25,"paths":10000,"method":"monte-carlo"}}` + "\n"
	for range 20 {
		got, err := enc.AppendLine(nil, "T1", payload)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Fatalf("line\n%s\nwant\n%s", got, want)
		}
	}
	got, err := enc.AppendLine([]byte("previous\n"), "T1", payload)
	if err != nil || string(got) != "previous\n"+want {
		t.Fatalf("AppendLine did not append: %q, %v", got, err)
	}
}

func TestResultEncoderEmptyResult(t *testing.T) {
	t.Parallel()
	got, err := codec.NewResultEncoder(priceDesc(t)).AppendLine(nil, "e", nil)
	const want = `{"id":"e","result":{"price":0,"value":0,"delta":0,"gamma":0,"vega":0,"std_error":0,"paths":0,"method":""}}` + "\n"
	if err != nil || string(got) != want {
		t.Fatalf("%s, %v; want %s", got, err, want)
	}
}

func TestResultEncoderEscapesTheID(t *testing.T) {
	t.Parallel()
	id := "a\"b\\c\nd</e>\u2028ü"
	got, err := codec.NewResultEncoder(priceDesc(t)).AppendLine(nil, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(got, []byte("\n")) != 1 || got[len(got)-1] != '\n' {
		t.Fatalf("not one line: %q", got)
	}
	var line struct {
		ID     string         `json:"id"`
		Result map[string]any `json:"result"`
	}
	if err := json.Unmarshal(got, &line); err != nil {
		t.Fatalf("%q: %v", got, err)
	}
	if line.ID != id || len(line.Result) != 8 {
		t.Fatalf("read back %+v", line)
	}
}

func TestResultEncoderSpecialValues(t *testing.T) {
	t.Parallel()
	price := priceDesc(t)
	payload, err := proto.Marshal(msg(t, price, "price", posInf(), "value", nan()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := codec.NewResultEncoder(price).AppendLine(nil, "x", payload)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(got) || !strings.Contains(string(got), `"price":"Infinity","value":"NaN"`) {
		t.Fatalf("%s", got)
	}
}

func TestResultEncoderBadPayload(t *testing.T) {
	t.Parallel()
	dst := []byte("kept")
	got, err := codec.NewResultEncoder(priceDesc(t)).AppendLine(dst, "T9", []byte{0xff, 0xff})
	contains(t, err, `"T9"`, "pricer.Price")
	if string(got) != "kept" {
		t.Fatalf("dst changed to %q", got)
	}
}

func TestElementJSON(t *testing.T) {
	t.Parallel()
	trade := tradeDesc(t)
	rec, err := proto.Marshal(msg(t, trade, "id", "T1", "underlying", "AAPL", "type", "CALL", "strike", 101.5, "paths", uint32(7)))
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte{0xff, 0xff, 0xff}
	for _, tc := range []struct {
		name   string
		row    codec.Row
		format codec.Format
		want   string
	}{
		{"JSON line", codec.Row{Data: []byte(`{"id": "T1", "x": [1, 2]}`)}, codec.JSONL, `{"id": "T1", "x": [1, 2]}`},
		{"broken JSON line", codec.Row{Data: []byte(`{"id": "T1`)}, codec.JSONL, `"{\"id\": \"T1"`},
		{"too long a line", codec.Row{Err: errBad}, codec.JSONL, `""`},
		{"CSV row", codec.Row{Cells: []string{"T1", `a "b"`, ""}, Header: []string{"id", "underlying", "strike"}}, codec.CSV,
			`{"id":"T1","underlying":"a \"b\"","strike":""}`},
		{"CSV row with extra cells", codec.Row{Cells: []string{"T1", "x", "y"}, Header: []string{"id"}}, codec.CSV,
			`{"id":"T1","column 2":"x","column 3":"y"}`},
		{"CSV row with missing cells", codec.Row{Cells: []string{"T1"}, Header: []string{"id", "x"}}, codec.CSV, `{"id":"T1"}`},
		{"protobuf record", codec.Row{Data: rec}, codec.Delimited, `{"id":"T1","underlying":"AAPL","type":"CALL","strike":101.5,"paths":7}`},
		{"garbage record", codec.Row{Data: garbage}, codec.Delimited, `"` + base64.StdEncoding.EncodeToString(garbage) + `"`},
		{"unknown format", codec.Row{Data: rec}, codec.Format("xml"), `null`},
	} {
		got := codec.ElementJSON(tc.row, tc.format, trade)
		if !json.Valid(got) {
			t.Errorf("%s: not JSON: %s", tc.name, got)
		}
		if tc.format == codec.Delimited && tc.name == "protobuf record" {
			// protojson's spacing is its own; compare the values.
			var g, w any
			if json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(tc.want), &w) != nil || !reflect.DeepEqual(g, w) {
				t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
			}
			if bytes.ContainsAny(got, " \n") {
				t.Errorf("%s: not compact: %s", tc.name, got)
			}
			continue
		}
		if string(got) != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	// Without a message type a record is its bytes.
	if got := codec.ElementJSON(codec.Row{Data: rec}, codec.Delimited, nil); string(got) != `"`+base64.StdEncoding.EncodeToString(rec)+`"` {
		t.Errorf("record without a type: %s", got)
	}
}

// The dead letter of a row is the row as given, not as decoded: the JSON line
// is not normalised and the copy does not alias the reader's buffer.
func TestDecoderElementJSON(t *testing.T) {
	t.Parallel()
	line := `{"id":"T1",  "underlying":"AAPL" , "bogus":true}`
	r, d := input(t, tradeDesc(t), "in.jsonl", codec.JSONL, line+"\n", codec.DecoderOptions{})
	row := readAll(t, r)[0]
	got := d.ElementJSON(row)
	if string(got) != line {
		t.Fatalf("%s, want %s", got, line)
	}
	row.Data[0] = 'X'
	if got[0] != '{' {
		t.Fatal("ElementJSON aliases the row")
	}

	r, d = input(t, tradeDesc(t), "in.csv", codec.CSV, "id,underlying\nT1,AAPL,extra\n", codec.DecoderOptions{})
	if got := d.ElementJSON(readAll(t, r)[0]); string(got) != `{"id":"T1","underlying":"AAPL","column 3":"extra"}` {
		t.Fatalf("CSV: %s", got)
	}
}
