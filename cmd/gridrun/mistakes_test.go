package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/internal/testbin"
)

// The table "Operator mistakes and tampering" of docs/faults.md promises
// what each mistake costs; each row names the tests that show it. This
// keeps the promise and the tests together: a row without a test, or with
// a test that no longer exists, fails here.
func TestOperatorMistakeTableIsBacked(t *testing.T) {
	root := testbin.Root(t)
	tests := map[string]bool{}
	decl := regexp.MustCompile(`(?m)^func (Test\w+)\(t \*testing\.T\)`)
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() && (d.Name() == ".git" || d.Name() == "out" || d.Name() == "build") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, "_test.go") {
			b, _ := os.ReadFile(p)
			for _, m := range decl.FindAllSubmatch(b, -1) {
				tests[string(m[1])] = true
			}
		}
		return nil
	})

	f, err := os.Open(filepath.Join(root, "docs", "faults.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in, rows := false, 0
	named := regexp.MustCompile("`(Test\\w+)`")
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Operator mistakes and tampering"
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if !in || !strings.HasPrefix(line, "|") || len(cells) != 3 || strings.HasPrefix(strings.TrimSpace(cells[0]), "---") || strings.TrimSpace(cells[0]) == "mistake" {
			continue
		}
		rows++
		mistake, cost, by := strings.TrimSpace(cells[0]), strings.TrimSpace(cells[1]), cells[2]
		if !regexp.MustCompile(`^(refused|recovered|detected)\b`).MatchString(cost) {
			t.Errorf("%q: costs %q; say refused, recovered or detected first", mistake, cost)
		}
		names := named.FindAllStringSubmatch(by, -1)
		if len(names) == 0 {
			t.Errorf("%q: names no test", mistake)
		}
		for _, n := range names {
			if !tests[n[1]] {
				t.Errorf("%q: test %s does not exist", mistake, n[1])
			}
		}
	}
	if rows == 0 {
		t.Fatal("docs/faults.md has no table under \"## Operator mistakes and tampering\"")
	}
}
