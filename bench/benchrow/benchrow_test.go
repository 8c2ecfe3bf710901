package benchrow

import (
	"bytes"
	"strings"
	"testing"
)

func TestMeets(t *testing.T) {
	t.Parallel()
	yes, no := "met", "missed"
	for _, c := range []struct {
		value  float64
		target string
		want   string // met, missed or "" (reported, no target)
	}{
		{1.05, "<= 1.05", yes},
		{1.0501, "<= 1.05", no},
		{3.58, "<= 2", no}, // marked met by hand before
		{3, ">= 3", yes},
		{2.999, ">= 3", no},
		{255.9, "< 256", yes},
		{256, "< 256", no},
		{0.7, "> 0.7", no},
		{0.71, ">0.7", yes},
		{500, "== 500", yes},
		{499, "== 500", no},
		{1, "1", yes},
		{0, "1", no},
		{-2, "<= -1.5", yes},
		{1e-3, "< 1e-2", yes},
		{0.964, "reported; expect < 0.7", ""},
		{3.58, "reported; aim <= 2", ""},
		{12, "reported", ""},
		{12, "", ""},
	} {
		got, err := Meets(c.value, c.target)
		if err != nil {
			t.Errorf("Meets(%g, %q): %v", c.value, c.target, err)
			continue
		}
		var s string
		if got != nil {
			s = map[bool]string{true: yes, false: no}[*got]
		}
		if s != c.want {
			t.Errorf("Meets(%g, %q) = %q, want %q", c.value, c.target, s, c.want)
		}
	}
}

func TestMeetsRejectsWhatItCannotJudge(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"== reference", "<=", "about 2", "=< 2", "<= 2x", "1, no dead letter"} {
		if met, err := Meets(1, target); err == nil {
			t.Errorf("Meets(1, %q) = %v, nil; want an error", target, met)
		}
	}
}

func TestWriteJudgesEveryRow(t *testing.T) {
	t.Parallel()
	lie := true
	rows := []Row{
		{Case: "c", Measure: "ratio", Value: 3.58, Target: "<= 2", Met: &lie},
		New("c", "throughput", 4, "", ">= 3"),
		New("c", "note", 0.964, "", "reported; expect < 0.7"),
	}
	var buf bytes.Buffer
	if err := Write(&buf, rows); err != nil {
		t.Fatal(err)
	}
	if strings.Count(buf.String(), `"met"`) != 2 {
		t.Errorf("want met on the two targeted rows only:\n%s", buf.String())
	}
	got, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Met == nil || *got[0].Met || !got[0].Missed() ||
		got[1].Met == nil || !*got[1].Met || got[1].Missed() || got[2].Met != nil || got[2].Missed() {
		t.Errorf("read back %+v", got)
	}
	if err := Write(&buf, []Row{{Case: "c", Measure: "m", Value: 1, Target: "== reference"}}); err == nil {
		t.Error("Write accepted a target it cannot judge")
	}
}

// A file written before Met was computed: its hand-set flags are not
// believed, and a target that cannot be judged is an error.
func TestReadJudgesOldFilesAgain(t *testing.T) {
	t.Parallel()
	old := `[{"case":"c","measure":"ratio","value":3.58,"target":"reported; aim <= 2","met":true},
		{"case":"c","measure":"ratio","value":1.2,"target":"<= 1.05","met":true}]`
	rows, err := Read(strings.NewReader(old))
	if err != nil {
		t.Fatal(err)
	}
	if rows[0].Met != nil || rows[1].Met == nil || *rows[1].Met {
		t.Errorf("read %+v", rows)
	}
	if _, err := Read(strings.NewReader(`[{"case":"c","measure":"rows","value":500,"target":"== reference","met":true}]`)); err == nil {
		t.Error("Read judged a target it cannot parse")
	}
}
