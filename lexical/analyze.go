package lexical

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/snowballstem"
	"github.com/blevesearch/snowballstem/english"
	"golang.org/x/text/unicode/norm"
)

// maxTokenBytes bounds one token; longer runs (base64 blobs, URLs glued together) are cut.
const maxTokenBytes = 64

// stopWords is Lucene's classic English stop set (33 words), the one bleve's and Lucene's
// English analyzers use: words too common to carry meaning in a product search.
var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an and are as at be but by for if in into is it no not of
		on or such that the their then there these they this to was will with`) {
		stopWords[w] = true
	}
}

// Analyze turns text into index terms: NFKC-normalised, split into runs of letters and digits
// (a '.' or ',' between two digits stays inside the number, so "3.5" and "802.11" are one
// token), lowercased, English possessive "'s" removed, stop words dropped, and words stemmed
// with the Snowball English (Porter2) stemmer. Tokens holding digits are kept as they are
// ("ps4", "2060"), since model numbers must match exactly.
func Analyze(text string) []string {
	var out []string
	analyze(text, func(stem, _ string) { out = append(out, stem) })
	return out
}

// analyze calls fn with each term of text: its stem and its surface form (the lowercased word
// before stemming, possessive removed).
func analyze(text string, fn func(stem, surface string)) {
	tokenize(text, func(tok string) {
		surface := surfaceForm(tok)
		if surface == "" {
			return
		}
		fn(stem(surface), surface)
	})
}

var marks = strings.NewReplacer("™", " ", "®", " ", "©", " ", "℠", " ")

// tokenize calls fn with each raw token of text, lowercased.
func tokenize(text string, fn func(string)) {
	// Trade marks separate words: NFKC would turn "Core™2" into "CoreTM2".
	text = marks.Replace(text)
	if !norm.NFKC.IsNormalString(text) {
		text = norm.NFKC.String(text)
	}
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			tok := b.String()
			if len(tok) > maxTokenBytes {
				tok = truncateUTF8(tok, maxTokenBytes)
			}
			fn(tok)
			b.Reset()
		}
	}
	var prev rune
	for i, r := range text {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(unicode.ToLower(r))
		case (r == '.' || r == ',') && unicode.IsDigit(prev) && b.Len() > 0 && nextIsDigit(text[i+1:]):
			b.WriteRune(r)
		case (r == '\'' || r == '’') && b.Len() > 0 && unicode.IsLetter(prev) && nextIsLetter(text[i+utf8.RuneLen(r):]):
			// apostrophe inside a word: "men's" -> "men's", handled by the possessive rule
			b.WriteByte('\'')
		default:
			flush()
		}
		prev = r
	}
	flush()
}

func nextIsDigit(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsDigit(r)
}

func nextIsLetter(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLetter(r)
}

func truncateUTF8(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// surfaceForm applies the possessive rule and the stop list to one lowercased token; "" drops
// it.
func surfaceForm(tok string) string {
	tok = strings.TrimSuffix(tok, "'s")
	tok = strings.ReplaceAll(tok, "'", "")
	if tok == "" || stopWords[tok] {
		return ""
	}
	return tok
}

// irregular maps English plurals the Porter2 stemmer leaves apart from their singular ("mice"
// stems to "mice", "mouse" to "mous") to the singular, so that a query for "computer mice" finds
// what titles call a mouse. It is the language's grammar, not a list of products.
var irregular = map[string]string{
	"mice": "mouse", "feet": "foot", "teeth": "tooth", "geese": "goose", "men": "man",
	"women": "woman", "children": "child", "knives": "knife", "shelves": "shelf",
	"halves": "half", "wolves": "wolf", "loaves": "loaf", "thieves": "thief",
}

// american spells a British form the American way where English spelling differs by a rule, so
// that "fibre optic" finds the titles that say "fiber optic" and "colour" those that say
// "color": -tre and -bre become -ter and -ber (fibre, centre, metre, litre), -our in words of
// six letters or more becomes -or (colour, favour, behaviour; not four, hour or flour) and
// -ogue in words of seven or more becomes -og (catalogue, analogue), plurals alike. A word
// that only looks British ("contour") is spelt the same way in queries and titles, so it still
// finds itself.
func american(tok string) string {
	plural := ""
	if strings.HasSuffix(tok, "s") {
		tok, plural = tok[:len(tok)-1], "s"
	}
	n := len(tok)
	switch {
	case n >= 5 && (strings.HasSuffix(tok, "tre") || strings.HasSuffix(tok, "bre")):
		tok = tok[:n-2] + "er"
	case n >= 6 && strings.HasSuffix(tok, "our"):
		tok = tok[:n-2] + "r"
	case n >= 7 && strings.HasSuffix(tok, "ogue"):
		tok = tok[:n-2]
	}
	return tok + plural
}

// stem is the Porter2 stem of a surface form; forms holding digits stay as they are.
func stem(tok string) string {
	for _, r := range tok {
		if unicode.IsDigit(r) {
			return tok
		}
	}
	if s, ok := irregular[tok]; ok {
		tok = s
	}
	tok = american(tok)
	env := snowballstem.NewEnv(tok)
	english.Stem(env)
	return env.Current()
}
