package lexical

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestAnalyze(t *testing.T) {
	for in, want := range map[string][]string{
		"Brother TN-2110 Toner":         {"brother", "tn", "2110", "toner"},
		"The Boys":                      {"boy"},
		"Gaming Mice and Keyboards":     {"game", "mous", "keyboard"},
		"HP's 17\" notebook, 3.5 GHz":   {"hp", "17", "notebook", "3.5", "ghz"},
		"Intel® Core™2 Duo":             {"intel", "core", "2", "duo"},
		"PS4 rechargeable batteries":    {"ps4", "recharg", "batteri"},
		"802.11g wireless, 1,000 pages": {"802.11g", "wireless", "1,000", "page"},
		"ＵＳＢ stick":                     {"usb", "stick"}, // NFKC folds full-width letters
		"":                              nil,
		"   -- !! ":                     nil,
		"end.":                          {"end"},
		"men's shoes' laces":            {"man", "shoe", "lace"},
		"computer mice, mouse feet":     {"comput", "mous", "mous", "foot"},
	} {
		require.Equal(t, want, Analyze(in), in)
	}
}

func TestAnalyzeQueryAndDocumentAgree(t *testing.T) {
	// What matters for retrieval: the same word in a query and a title gives the same term.
	require.Equal(t, Analyze("laptops"), Analyze("Laptop"))
	require.Equal(t, Analyze("headphones"), Analyze("Headphone"))
	require.Equal(t, Analyze("batteries"), Analyze("battery"))
	// British and American spellings meet: "fibre optic" finds what titles call fiber.
	for uk, us := range map[string]string{"fibre": "fiber", "centres": "centers", "colour": "color",
		"behaviours": "behaviors", "catalogue": "catalog", "analogue": "analog", "litre": "liter"} {
		require.Equal(t, Analyze(us), Analyze(uk), uk)
	}
	// Not words that only look British.
	for _, w := range []string{"four", "hours", "flour", "tour", "acre", "genre", "rogue", "vogue", "tre", "s"} {
		require.Equal(t, w, american(w), w)
	}
}

func FuzzAnalyze(f *testing.F) {
	for _, s := range []string{"Brother TN-2110", "3.5\" HDD 1,000 GB", "men's", "Ａ’ｓ", "\xff\xfe", strings.Repeat("x", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range Analyze(s) {
			require.NotEmpty(t, tok)
			require.True(t, utf8.ValidString(tok), "%q", tok)
			require.LessOrEqual(t, len(tok), maxTokenBytes)
			require.False(t, strings.ContainsAny(tok, " \t\n-'"), "%q", tok)
		}
	})
}
