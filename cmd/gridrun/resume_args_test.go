package main

import (
	"slices"
	"testing"
)

func TestTheResumeCommandIsTheCommandWithResume(t *testing.T) {
	for _, c := range []struct{ argv, want []string }{
		{[]string{"gridrun", "run", "-f", "job.yaml"}, []string{"gridrun", "run", "-f", "job.yaml", "--resume"}},
		// Before the binary's arguments, which may hold a "--resume" of their own.
		{[]string{"gridrun", "run", "--output", "o", "--", "--resume", "x"}, []string{"gridrun", "run", "--output", "o", "--resume", "--", "--resume", "x"}},
		{[]string{"gridrun", "run", "--resume", "--output", "o"}, []string{"gridrun", "run", "--resume", "--output", "o"}},
	} {
		if got := resumeArgs(c.argv); !slices.Equal(got, c.want) {
			t.Errorf("resumeArgs(%q) = %q, want %q", c.argv, got, c.want)
		}
	}
	got := shellJoin([]string{"./bin/gridrun", "--join-key", "{underlying}", "--input", "my trades.jsonl", "--env", "A=it's", "--x", "", "gs://b/p@1.0"})
	want := `./bin/gridrun --join-key '{underlying}' --input 'my trades.jsonl' --env 'A=it'\''s' --x '' gs://b/p@1.0`
	if got != want {
		t.Errorf("shellJoin:\n%s\nwant\n%s", got, want)
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q, want %q", n, got, want)
		}
	}
}
