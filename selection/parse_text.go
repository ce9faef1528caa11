package selection

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text helpers of the parser: cleaning the scenario, the semantic remainder and its product
// phrases, and the vocabulary's name sets.

func mergeKeys(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// filler words dropped from the edges and middle of the semantic remainder.
var filler = map[string]bool{
	"show": true, "me": true, "find": true, "get": true, "give": true, "i": true, "want": true,
	"need": true, "looking": true, "some": true, "all": true, "any": true, "please": true,
	"products": true, "product": true, "items": true, "item": true, "skus": true, "sku": true,
	"a": true, "an": true, "the": true, "for": true, "with": true, "and": true, "or": true,
	"of": true, "in": true, "on": true, "that": true, "are": true, "is": true, "which": true,
	"pool": true, "campaign": true, "sale": true, "deals": true, "deal": true, "price": true,
	"priced": true, "only": true, "to": true, "our": true, "list": true, "selection": true,
}

func tidyQuery(s string) string {
	words := strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == ',' || r == ';' || r == ':' || r == '!' || r == '?' || r == '(' || r == ')'
	})
	var out []string
	for _, w := range words {
		w = strings.Trim(w, ".-")
		if w == "" || filler[strings.ToLower(w)] {
			continue
		}
		out = append(out, w)
	}
	return strings.Join(out, " ")
}

// phraseBreaks separate noun phrases; servedMarks start what the products serve.
var (
	phraseBreaks = map[string]bool{"and": true, "or": true, "&": true, "plus": true, "+": true}
	servedMarks  = map[string]bool{"for": true, "compatible": true, "fits": true, "fitting": true}
)

// productText is the noun phrases of s that name the products (see Parsed.ProductText).
func productText(s string) string {
	var phrases []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			phrases = append(phrases, strings.Join(cur, " "))
		}
		cur = nil
	}
	for _, f := range strings.Fields(s) {
		brk := strings.ContainsAny(f, ",;:")
		w := strings.ToLower(strings.Trim(f, ",;:.!?()-"))
		if servedMarks[w] {
			break
		}
		if phraseBreaks[w] {
			flush()
			continue
		}
		if w != "" && !filler[w] {
			cur = append(cur, w)
		}
		if brk {
			flush()
		}
	}
	flush()
	return strings.Join(phrases, ", ")
}

// clean bounds the text, replaces invalid UTF-8 and control characters, and folds spaces.
func clean(s string) string {
	if len(s) > MaxScenarioBytes {
		s = s[:MaxScenarioBytes]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	s = strings.ToValidUTF8(s, " ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

func vocabSets(v Vocabulary) (brands, tags map[string]string) {
	brands, tags = map[string]string{}, map[string]string{}
	if v == nil {
		return
	}
	for _, b := range v.Brands() {
		if k := strings.ToLower(strings.TrimSpace(b)); len(k) > 1 {
			brands[k] = b
		}
	}
	for _, t := range v.Tags() {
		if k := strings.ToLower(strings.TrimSpace(t)); len(k) > 1 {
			tags[k] = t
		}
	}
	return
}

func longestFirst(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) > len(keys[j])
		}
		return keys[i] < keys[j]
	})
	return keys
}

func appendUniq(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// asciiLower lower-cases ASCII letters only, keeping every byte offset.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
