package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// repoPath returns a file of the repository, failing when it is missing.
func repoPath(t *testing.T, rel, hint string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing (%s)", rel, hint)
	}
	return p
}

// decodeAll reads a stream of JSON values.
func decodeAll(t *testing.T, data string) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(strings.NewReader(data))
	for dec.More() {
		var v map[string]any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%v in:\n%s", err, data)
		}
		out = append(out, v)
	}
	return out
}

// A real job, run from a job file with its batch files kept, and every
// kind of file it leaves inspected: what inspect shows is what the input
// held and what the results files say.
func TestInspectShowsWhatTheBinaryReceivedAndWrote(t *testing.T) {

	pricer := repoPath(t, "bin/pricer", "run make build")
	quotes := repoPath(t, "testdata/quotes.csv", "the demo's quotes")
	trades := repoPath(t, "testdata/trades.jsonl", "the demo's trades")

	// 120 of the demo's trades and one with a negative strike, which the
	// pricer refuses: an element error.
	want := map[string]map[string]any{} // id -> the trade as given
	var in bytes.Buffer
	f, err := os.Open(trades)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for i := 0; i < 120 && sc.Scan(); i++ {
		var tr map[string]any
		json.Unmarshal(sc.Bytes(), &tr)
		want[tr["id"].(string)] = tr
		in.Write(append(sc.Bytes(), '\n'))
	}
	f.Close()
	in.WriteString(`{"id":"NEG1","underlying":"AAPL","type":"CALL","style":"EUROPEAN","strike":-5,"expiry":1,"quantity":1}` + "\n")
	dir := t.TempDir()
	input := filepath.Join(dir, "trades.jsonl")
	os.WriteFile(input, in.Bytes(), 0o644)
	out := filepath.Join(dir, "out")
	job := writeFile(t, "job.yaml", "binary: "+pricer+"\ninput: ["+input+"]\noutput: "+out+"\njoin: "+quotes+
		"\njoin-key: '{underlying}'\nbatch-size: 50\nparallelism: 2\nkeep-batch-files: true\nreport: true\nprogress: none\ncache-dir: "+filepath.Join(dir, "cache")+"\n")

	summary, err := execute(t, "run", "-f", job)
	var ee *exitError
	if err == nil || !errors.As(err, &ee) || ee.code != exitDeadLetters {
		t.Fatalf("run: err %v, want exit %d (one dead letter)\n%s", err, exitDeadLetters, summary)
	}
	if !strings.Contains(summary, "report "+filepath.Join(out, "report.html")) {
		t.Errorf("the summary does not name the report:\n%s", summary)
	}

	batches, _ := filepath.Glob(filepath.Join(out, "calls", "call-*", "batch.pb"))
	if len(batches) < 3 {
		t.Fatalf("%d kept batch files, want at least 3 (121 elements in batches of 50)", len(batches))
	}
	resultsByID := map[string]map[string]any{}
	files, _ := filepath.Glob(filepath.Join(out, "results-*.jsonl"))
	for _, rf := range files {
		got, err := execute(t, "inspect", rf)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range decodeAll(t, got) {
			resultsByID[r["id"].(string)] = r["result"].(map[string]any)
		}
	}
	if len(resultsByID) != 120 {
		t.Fatalf("%d results inspected, want 120", len(resultsByID))
	}

	seen := map[string]bool{}
	for _, bf := range batches {
		got, err := execute(t, "inspect", bf)
		if err != nil {
			t.Fatal(err)
		}
		b := decodeAll(t, got)[0]
		side := map[float64]string{}
		for i, r := range b["side_rows"].([]any) {
			row := r.(map[string]any)
			if row["key"] != row["payload"].(map[string]any)["underlying"] {
				t.Errorf("side row %v: its key is not its underlying", row)
			}
			side[float64(i)] = row["key"].(string)
		}
		var ids []string
		for _, e := range b["elements"].([]any) {
			el := e.(map[string]any)
			id := el["id"].(string)
			ids = append(ids, id)
			seen[id] = true
			p := el["payload"].(map[string]any)
			if id == "NEG1" {
				continue
			}
			tr := want[id]
			if tr == nil || p["underlying"] != tr["underlying"] || p["strike"] != tr["strike"] || p["type"] != tr["type"] {
				t.Errorf("element %s: payload %v, the input held %v", id, p, tr)
			}
			if rows := el["side_rows"].([]any); len(rows) != 1 || side[rows[0].(float64)] != tr["underlying"] {
				t.Errorf("element %s refers to side rows %v, not to its underlying %v", id, rows, tr["underlying"])
			}
		}
		got, err = execute(t, "inspect", filepath.Join(filepath.Dir(bf), "results.pb"))
		if err != nil {
			t.Fatal(err)
		}
		var rids []string
		for _, r := range decodeAll(t, got) {
			id := r["id"].(string)
			rids = append(rids, id)
			if id == "NEG1" {
				if e, _ := r["error"].(map[string]any); e == nil || !strings.Contains(e["message"].(string), "strike") {
					t.Errorf("NEG1: %v, want an error about the strike", r)
				}
				continue
			}
			if p := r["payload"].(map[string]any); p["price"] != resultsByID[id]["price"] || p["method"] != resultsByID[id]["method"] {
				t.Errorf("result %s: results.pb holds %v, the results file %v", id, p, resultsByID[id])
			}
		}
		if !slices.Equal(rids, ids) {
			t.Errorf("results.pb holds %v for the batch of %v", rids, ids)
		}
	}
	if len(seen) != 121 {
		t.Errorf("the kept batches hold %d elements, want 121", len(seen))
	}

	dl, _ := filepath.Glob(filepath.Join(out, "dead-letters-*.jsonl"))
	got, err := execute(t, "inspect", "--compact", dl[0])
	if err != nil {
		t.Fatal(err)
	}
	if d := decodeAll(t, got); len(d) != 1 || d[0]["id"] != "NEG1" || d[0]["kind"] != "element_error" || strings.Count(got, "\n") != 1 {
		t.Errorf("dead letters inspected as %q", got)
	}
	got, err = execute(t, "inspect", filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if m := decodeAll(t, got); m[0]["results"] != 120.0 || m[0]["dead_letters"] != 1.0 {
		t.Errorf("manifest inspected as results %v, dead letters %v", m[0]["results"], m[0]["dead_letters"])
	}

	// A batch file away from its output directory: told by its content, its
	// payloads decoded with --description.
	moved := filepath.Join(t.TempDir(), "some.bin")
	data, _ := os.ReadFile(batches[0])
	os.WriteFile(moved, data, 0o644)
	got, err = execute(t, "inspect", moved, "--description", filepath.Join(out, "_gridrun", "description.pb"))
	if err != nil {
		t.Fatal(err)
	}
	if b := decodeAll(t, got)[0]; b["elements"].([]any)[0].(map[string]any)["payload"] == nil {
		t.Errorf("moved batch file inspected without payloads: %s", got)
	}
	// Without a description, the payloads are there as base64.
	got, err = execute(t, "inspect", moved)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, `"payload_base64"`) {
		t.Errorf("without a description, payloads are not base64:\n%.300s", got)
	}
	if _, err := execute(t, "inspect", moved, "--kind", "manifest"); err == nil {
		t.Error("inspecting a batch file as a manifest succeeded")
	}
}
