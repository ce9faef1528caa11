package prodtype

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
)

// Types named in a title's words in any case ("Xerox DocuColor 242/252 Magenta Toner
// Cartridges", "Tripp Lite SmartPro 1kVA Line-Interactive UPS, Tower, LCD Display"), when
// neither the category position nor the device type names one. Such titles say what the
// product is first and what it has after commas:
//
//   - a type's name matches a run of the title's words, singular or plural ("Toner
//     Cartridges"), or, for a name of three words or more, its acronym in capitals ("UPS" for
//     "uninterruptible power supply") when no other type has the same;
//   - matches in a "for ..." or "with ..." clause name what the product serves or holds;
//   - of the rest, the first segment of the title that holds one (segments end at commas,
//     brackets and dashes standing alone) gives the type: its longest match, the one ending
//     last of equals. The Tripp Lite UPS titles name "LCD Display" in a later segment.
//
// Measured on the campaign scenarios (evals/README.md), these rules together moved pool F1
// from 0.805 to 0.809 and its cross-validated figure from 0.789 to 0.792 (the UPS scenario
// from 0.45 to 0.56). Two more were tried and left out: preferring the match that ends last
// (the head) over the longest ("Portable Speaker System" is then a "system"), and leaving a
// match that modifies the next type word ("External Hard Drive Enclosure") to the
// neighbours' vote, which put such SKUs in the type they modify.

// textMatch is a type's name found in a title's tokens [start, end).
type textMatch struct {
	name       string
	start, end int
	acronym    bool
}

// textType returns the type a title's words name, and why ("" when none).
func (m *Model) textType(toks []token) (string, string) {
	var best *textMatch
	bestSeg := -1
	seg, served := 0, false
	for i := range toks {
		if toks[i].brk {
			seg++
			served = false
		}
		if clauseWords[toks[i].low] {
			served = true
			continue
		}
		if served {
			continue
		}
		mt, ok := m.matchAt(toks, i)
		if !ok {
			continue
		}
		if best != nil && bestSeg < seg {
			break // an earlier segment named a type
		}
		if best == nil || len(mt.name) > len(best.name) || (len(mt.name) == len(best.name) && mt.end > best.end) {
			mt := mt
			best, bestSeg = &mt, seg
		}
	}
	if best == nil {
		return "", ""
	}
	if best.acronym {
		return best.name, fmt.Sprintf("the title says %q, the acronym of the type's name", toks[best.start].raw)
	}
	return best.name, "the title holds the type's name: \"" + best.name + "\""
}

// clauseWords open a clause naming what a product serves or holds.
var clauseWords = map[string]bool{"for": true, "with": true, "w/": true, "f/": true}

// matchAt returns the longest type whose name starts at token i (or whose acronym token i is).
func (m *Model) matchAt(toks []token, i int) (textMatch, bool) {
	for _, name := range m.bySing[singular(toks[i].low)] {
		words := strings.Fields(name)
		if i+len(words) > len(toks) {
			continue
		}
		match := true
		for k, w := range words {
			if k > 0 && toks[i+k].brk || singular(toks[i+k].low) != singular(w) {
				match = false
				break
			}
		}
		if match {
			return textMatch{name: name, start: i, end: i + len(words)}, true
		}
	}
	if toks[i].acronym {
		if name := m.acronyms[toks[i].low]; name != "" {
			return textMatch{name: name, start: i, end: i + 1, acronym: true}, true
		}
	}
	return textMatch{}, false
}

// singular is a word without its plural ending: "cartridges" -> "cartridge", "batteries" ->
// "battery", "boxes" -> "box"; words of three letters or fewer, and those in "ss", "us" or
// "is", stay.
func singular(w string) string {
	if len(w) <= 3 {
		return w
	}
	switch {
	case strings.HasSuffix(w, "ies"):
		return w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "sses"), strings.HasSuffix(w, "xes"), strings.HasSuffix(w, "ches"), strings.HasSuffix(w, "shes"):
		return w[:len(w)-2]
	case strings.HasSuffix(w, "ss"), strings.HasSuffix(w, "us"), strings.HasSuffix(w, "is"):
		return w
	case strings.HasSuffix(w, "s"):
		return w[:len(w)-1]
	}
	return w
}

// indexText builds bySing and acronyms from the types.
func (m *Model) indexText() {
	m.bySing, m.byHead = map[string][]string{}, map[string][]string{}
	acr := map[string][]string{}
	for _, name := range m.names {
		words := strings.Fields(name)
		m.bySing[singular(words[0])] = append(m.bySing[singular(words[0])], name)
		h := singular(words[len(words)-1])
		m.byHead[h] = append(m.byHead[h], name)
		if len(words) >= 3 {
			var b strings.Builder
			for _, w := range words {
				r := []rune(w)[0]
				if !unicode.IsLetter(r) {
					b.Reset()
					break
				}
				b.WriteRune(r)
			}
			if a := b.String(); len(a) == len(words) {
				acr[a] = append(acr[a], name)
			}
		}
	}
	m.acronyms = map[string]string{}
	for a, names := range acr {
		if len(names) == 1 && m.types[a] == nil && !m.units[a] && !m.props[a] {
			m.acronyms[a] = names[0]
		}
	}
	for h, l := range m.byHead {
		sort.Slice(l, func(a, b int) bool {
			if m.types[l[a]].Count != m.types[l[b]].Count {
				return m.types[l[a]].Count > m.types[l[b]].Count
			}
			return l[a] < l[b]
		})
		if len(l) > maxKinds {
			m.byHead[h] = l[:maxKinds]
		}
	}
	for _, l := range m.bySing {
		sort.Slice(l, func(a, b int) bool {
			if len(l[a]) != len(l[b]) {
				return len(l[a]) > len(l[b])
			}
			return l[a] < l[b]
		})
	}
}

// maxKinds bounds Assignment.Kinds.
const maxKinds = 16

// headKinds returns, for a title that names no type, the types whose head word is the last
// word of its first segment (before a comma, a bracket or a "for"/"with" clause; numbers,
// model codes, units and colours after it aside), since English puts the head of a noun
// phrase last ("Rackmount Switch"; "Speaker wire" is no speaker), those
// sharing the most other words with the title first ("SATA Hard Drive": the hard drives, not
// the flash or optical drives).
func (m *Model) headKinds(toks []token) []string {
	var kinds []string
	for i, tk := range toks {
		if i > 0 && tk.brk || clauseWords[tk.low] {
			break
		}
		if isWord(tk.raw) && !stopWords[tk.low] && !m.units[tk.low] && !m.props[tk.low] {
			kinds = m.byHead[singular(tk.low)] // the segment's last word so far
		}
	}
	if len(kinds) == 0 {
		return nil
	}
	has := map[string]bool{}
	for _, tk := range toks {
		has[singular(tk.low)] = true
	}
	shared := func(name string) int {
		n := 0
		for _, w := range strings.Fields(name) {
			if has[singular(w)] {
				n++
			}
		}
		return n
	}
	most := 0
	for _, k := range kinds {
		most = max(most, shared(k))
	}
	var out []string
	for _, k := range kinds {
		if shared(k) == most {
			out = append(out, k)
		}
	}
	return out
}

// isWord reports a word of letters (capitals too, '-' and '/' inside), at least two.
func isWord(s string) bool { return lettersWord(s, unicode.IsLetter) }
