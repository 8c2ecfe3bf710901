package progress

import (
	"cmp"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gridrun/gridrun/grid"
)

// tty redraws one line in place: "\r", the line, then "\033[K" to clear
// what a longer line before it left. It draws only when given a snapshot
// or a log line, so that it owns no goroutine and a test sees exactly what
// a terminal would. The line is cut to the terminal's width less a margin:
// a line that wraps can no longer be redrawn with "\r", and the terminal
// echoes "^C" after it when the job is interrupted.
//
// mpb drew the line before: it redraws on a timer of its own, and its
// line, not sized to its decorators, wrapped at 80 columns.
type tty struct {
	out   io.Writer
	width func() int

	mu     sync.Mutex
	est    estimator
	last   Stats
	warns  map[string]int64
	drawn  bool // the line is on the terminal, the cursor at its end
	closed bool
}

// margin is the columns left free at the end of the line: the "^C" the
// terminal echoes, and one for terminals that wrap on the last column.
const margin = 3

func newTTY(out io.Writer, width func() int) *tty {
	return &tty{out: out, width: width, last: Stats{Total: -1, Percent: -1, ETA: -1}, warns: map[string]int64{}}
}

func (d *tty) Update(p grid.Progress) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last = d.est.add(p)
	if !d.closed {
		d.draw()
	}
}

// draw writes the line over the one on the terminal. d.mu is held.
func (d *tty) draw() {
	io.WriteString(d.out, "\r"+Line(d.last, d.warns, d.width()-margin)+"\033[K")
	d.drawn = true
}

// Close draws the last snapshot and ends the line; it stays on the
// terminal.
func (d *tty) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.closed = true
	if d.drawn {
		d.draw()
		io.WriteString(d.out, "\n")
	}
}

// Write prints p above the live line: the line is cleared, p written, and
// the line drawn again below it.
func (d *tty) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	live := d.drawn && !d.closed
	if live {
		io.WriteString(d.out, "\r\033[K")
	}
	n, err := d.out.Write(p)
	if live {
		d.draw()
	}
	return n, err
}

// On says the line is on the terminal.
func (d *tty) On() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.drawn && !d.closed
}

// Warn counts a warning on the line.
func (d *tty) Warn(kind string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.warns[kind]++
	if d.drawn && !d.closed {
		d.draw()
	}
}

// Line renders the live line of s, with warns the warnings counted by
// kind, in at most width columns: the count, the percentage, the rate, the
// ETA, the calls running, the retries, the dead letters and the warnings,
// and a bar after the count when there is room. When the line is too long,
// the retries go first, then the calls running, then the warnings are
// summed and the dead letters said short, then the rest from the end.
func Line(s Stats, warns map[string]int64, width int) string {
	total := "?"
	if s.Total >= 0 {
		total = count(s.Total)
		if s.Estimated {
			total = "~" + total
		}
	}
	pct := "?%"
	if s.Percent >= 0 {
		pct = strconv.FormatFloat(s.Percent, 'f', 1, 64) + "%"
	}
	type part struct {
		text  string
		short string // a shorter form, tried before the part goes
		drop  int    // the part with the highest goes first; 0 stays
	}
	parts := []part{{text: count(s.Settled) + "/" + total}, {text: pct}, {text: rate(s.Rate), drop: 3}, {text: "ETA " + eta(s.ETA), drop: 2},
		{text: strconv.Itoa(s.Running) + " running", drop: 5}}
	if s.Retries > 0 {
		parts = append(parts, part{text: count(s.Retries) + " retries", drop: 6})
	}
	if s.DeadLetters > 0 {
		parts = append(parts, part{text: count(s.DeadLetters) + " dead letters", short: count(s.DeadLetters) + " dead", drop: 4})
	}
	if len(warns) > 0 {
		var sum int64
		for _, n := range warns {
			sum += n
		}
		parts = append(parts, part{text: "warnings: " + kinds(warns), short: "warnings: " + count(sum), drop: 4})
	}
	join := func() string {
		texts := make([]string, len(parts))
		for i, p := range parts {
			texts[i] = p.text
		}
		return strings.Join(texts, "  ")
	}
	line := join()
	for columns(line) > width {
		// Of the parts that go first, shorten the first that can be (the
		// dead letters before the warnings' kinds), or drop the last.
		level := 0
		for _, p := range parts {
			level = max(level, p.drop)
		}
		if level == 0 {
			return string([]rune(line)[:max(width, 0)])
		}
		last, short := -1, -1
		for i, p := range parts {
			if p.drop == level {
				last = i
				if p.short != "" && short < 0 {
					short = i
				}
			}
		}
		if short >= 0 {
			parts[short].text, parts[short].short = parts[short].short, ""
		} else {
			parts = slices.Delete(parts, last, last+1)
		}
		line = join()
	}
	if free := width - columns(line) - 2; free >= 12 {
		n := min(free-2, 30)
		return parts[0].text + "  " + bar(s.Percent, n) + line[len(parts[0].text):]
	}
	return line
}

// bar draws n columns filled to pct percent (empty while unknown).
func bar(pct float64, n int) string {
	filled := 0
	if pct > 0 {
		filled = min(int(pct/100*float64(n)), n)
	}
	return "[" + strings.Repeat("=", filled) + strings.Repeat("-", n-filled) + "]"
}

// columns is the width of s on a terminal: every character of the line
// takes one column.
func columns(s string) int { return len([]rune(s)) }

// kinds renders counts by kind, the largest first: "2 crash, 1 timeout".
func kinds(m map[string]int64) string {
	ks := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(ks, func(a, b string) int { return cmp.Compare(m[b], m[a]) })
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = count(m[k]) + " " + k
	}
	return strings.Join(parts, ", ")
}
