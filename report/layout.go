package report

// The charts' text is 11px (svg text in the page's CSS), in the first
// font of the page's list that is installed: DejaVu Sans on a Linux
// without others, the widest of them. Margins and label positions are
// computed from the width of the text they hold, estimated from DejaVu
// Sans's advance widths, rounded up, so that no label is clipped by its
// chart's edge.
const fontSize = 11.0

// textWidth estimates the width of s in SVG pixels, on the wide side.
func textWidth(s string) float64 {
	var em float64
	for _, c := range s {
		switch {
		case c == ' ' || c == '.' || c == ',' || c == ':' || c == ';' || c == 'i' || c == 'l' || c == 'j' || c == '|' || c == '!' || c == '\'':
			em += 0.33
		case c == 'f' || c == 't' || c == 'r' || c == '(' || c == ')' || c == '/' || c == '-':
			em += 0.45
		case c == 'm' || c == 'w' || c == 'M' || c == 'W' || c == '%':
			em += 1.0
		case c >= 'A' && c <= 'Z':
			em += 0.75
		default: // digits, most lower case letters, µ
			em += 0.65
		}
	}
	return em * fontSize * 1.05
}

// widest returns the width of the widest of labels.
func widest(labels []string) float64 {
	var w float64
	for _, l := range labels {
		w = max(w, textWidth(l))
	}
	return w
}

// fit places label text at x with the given text-anchor ("start",
// "middle", "end"), moved as little as needed to lie within [lo, hi].
// The tick it returns is anchored at its start.
func fit(x float64, text string, lo, hi float64, anchor string) tick {
	w := textWidth(text)
	left := x
	switch anchor {
	case "middle":
		left = x - w/2
	case "end":
		left = x - w
	}
	left = max(min(left, hi-w), lo)
	return tick{X: left, Label: text, Anchor: "start", At: x}
}
