package report

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gridrun/gridrun/outdir"
)

// deadKind is one kind of dead letter with its examples.
type deadKind struct {
	Kind     string
	Count    int64
	Examples []deadExample
}

type deadExample struct {
	outdir.DeadLetter
	Where   string
	Element string
}

const (
	// maxLine is the longest dead-letter line read for an example; a
	// longer one (a huge element) is skipped, not loaded.
	maxLine = 1 << 20
	// maxShown caps each text shown in an example.
	maxShown = 2000
)

// readDeadLetters reads the dead-letter files until every kind in the
// manifest has its examples.
func readDeadLetters(dir string, m *outdir.Manifest, examples int) ([]*deadKind, error) {
	kinds := map[string]*deadKind{}
	for _, k := range slices.Sorted(maps.Keys(m.DeadLettersByKind)) {
		kinds[k] = &deadKind{Kind: k, Count: m.DeadLettersByKind[k]}
	}
	wanting := func() bool {
		for _, k := range kinds {
			if int64(len(k.Examples)) < min(k.Count, int64(examples)) {
				return true
			}
		}
		return false
	}
	for _, name := range m.DeadLetterFiles {
		if !wanting() {
			break
		}
		if err := scanDeadLetters(filepath.Join(dir, name), func(d outdir.DeadLetter) bool {
			k := kinds[d.Kind]
			if k == nil { // a kind the manifest does not count: show it all the same
				k = &deadKind{Kind: d.Kind}
				kinds[d.Kind] = k
			}
			if len(k.Examples) < examples {
				k.Examples = append(k.Examples, example(d))
			}
			return wanting()
		}); err != nil {
			return nil, err
		}
	}
	out := make([]*deadKind, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b *deadKind) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Kind, b.Kind))
	})
	return out, nil
}

// scanDeadLetters calls fn with each dead letter of a file until fn
// returns false. Lines longer than maxLine are skipped.
func scanDeadLetters(path string, fn func(outdir.DeadLetter) bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := readLine(r, maxLine)
		if len(line) > 0 {
			var d outdir.DeadLetter
			if json.Unmarshal(line, &d) == nil && !fn(d) {
				return nil
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
}

// readLine returns the next line, or nil for a line longer than limit,
// which it skips.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	tooLong := false
	for {
		chunk, err := r.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > limit {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimRight(line, "\r\n"), err
	}
}

func example(d outdir.DeadLetter) deadExample {
	e := deadExample{DeadLetter: d}
	if d.Input != "" {
		e.Where = d.Input
		if d.Line > 0 {
			e.Where += fmt.Sprintf(":%d", d.Line)
		}
	}
	e.Message = clip(d.Message)
	e.Stderr = clip(d.Stderr)
	if len(d.Element) > 0 && string(d.Element) != "null" {
		var buf bytes.Buffer
		if json.Indent(&buf, d.Element, "", "  ") == nil {
			e.Element = clip(buf.String())
		} else {
			e.Element = clip(string(d.Element))
		}
	}
	return e
}

// clip shortens s to maxShown bytes on a rune boundary.
func clip(s string) string {
	if len(s) <= maxShown {
		return s
	}
	cut := maxShown
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf(" … (%d more bytes)", len(s)-cut)
}
