package selection

import (
	"regexp"
	"strings"
)

// Lists of names after a trigger word: negations ("excluding Samsung and Apple"), brands ("by
// Logitech or Razer") and explicit tags ("tagged gaming").

type negation struct {
	lo, hi int // byte span in the text
	items  []string
}

var (
	negTrigger = regexp.MustCompile(`(?i)(?:^|[\s,(;])(no|not|excluding|exclude|except|without|minus|but\s+not)\s+`)
	wordRe     = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N}&'+.-]*`)
	sepRe      = regexp.MustCompile(`(?i)^\s*(,|\bor\b|\band\b|\bnor\b)\s*(?:(?:no|not)\s+)?`)
)

// findNegations scans for a trigger word followed by a list of items: known brand or tag names
// (longest first, so "Western Digital" is one item) or single words. After "and" the list goes on
// only with a known name ("excluding Samsung and Apple"), so "no refurbished and in stock" keeps
// "in stock" for its own rule.
func findNegations(text string, names []string) []negation {
	return scanLists(text, negTrigger, names, false)
}

// listsAfter finds lists of known names only after a trigger ("by Logitech or Razer").
func listsAfter(text string, trigger *regexp.Regexp, names []string) []negation {
	return scanLists(text, trigger, names, true)
}

func canonical(items []string, m map[string]string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = m[it]
	}
	return out
}

func scanLists(text string, trigger *regexp.Regexp, names []string, knownOnly bool) []negation {
	lower := asciiLower(text) // same byte offsets as text
	var out []negation
	pos := 0
	for pos < len(text) {
		m := trigger.FindStringSubmatchIndex(text[pos:])
		if m == nil {
			break
		}
		lo := pos + m[2]
		i := pos + m[1]
		var n negation
		n.lo = lo
		item := func(at int, knownOnly bool) (string, int) {
			for _, nm := range names {
				if strings.HasPrefix(lower[at:], nm) && (at+len(nm) == len(lower) || !isWordByte(lower[at+len(nm)])) {
					return nm, at + len(nm)
				}
			}
			if knownOnly {
				return "", at
			}
			w := wordRe.FindString(lower[at:])
			w = strings.TrimRight(w, ".")
			if w == "" || filler[w] || w == "stock" {
				return "", at
			}
			return w, at + len(w)
		}
		it, end := item(i, knownOnly)
		if it == "" {
			pos = i
			continue
		}
		n.items = append(n.items, it)
		n.hi = end
		for {
			sm := sepRe.FindStringSubmatchIndex(text[n.hi:])
			if sm == nil {
				break
			}
			sep := strings.ToLower(strings.TrimSpace(text[n.hi+sm[2] : n.hi+sm[3]]))
			next, e := item(n.hi+sm[1], knownOnly || sep == "and" || sep == ",")
			if next == "" {
				break
			}
			n.items = append(n.items, next)
			n.hi = e
		}
		out = append(out, n)
		pos = n.hi
	}
	return out
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b >= 0x80
}
