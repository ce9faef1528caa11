package search

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"selection/lexical"
)

// whyHybrid writes what the fmt verbs it replaced wrote, for ordinary values, NaN, the
// infinities and halves that round.
func TestWhyHybridMatchesFmt(t *testing.T) {
	viaFmt := func(terms []string, c cand) string {
		var b strings.Builder
		fmt.Fprintf(&b, "words: %.0f%% of the query (%s), BM25 %.2f", 100*c.lex.Coverage, strings.Join(terms, ", "), c.lex.Score)
		if !math.IsNaN(float64(c.cos)) {
			fmt.Fprintf(&b, "; semantic %.2f (%.1f sd)", c.cos, c.z)
		}
		if !math.IsNaN(float64(c.fb)) {
			fmt.Fprintf(&b, "; like the best matches %.2f", c.fb)
		}
		return b.String()
	}
	nan := float32(math.NaN())
	cases := []cand{
		{lex: lexical.Hit{Coverage: 1, Score: 12.345}, cos: 0.125, z: 3.25, fb: 0.005},
		{lex: lexical.Hit{Coverage: 0.005, Score: 0}, cos: nan, z: 0, fb: nan},
		{lex: lexical.Hit{Coverage: 0.5, Score: float32(math.Inf(1))}, cos: -0.335, z: math.Inf(-1), fb: nan},
		{lex: lexical.Hit{Coverage: 0.125, Score: -1.005}, cos: nan, z: math.NaN(), fb: 0.995},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		cases = append(cases, cand{lex: lexical.Hit{Coverage: rng.Float32(), Score: 40 * rng.Float32()},
			cos: 2*rng.Float32() - 1, z: 10 * rng.NormFloat64(), fb: 2*rng.Float32() - 1})
	}
	for _, terms := range [][]string{nil, {"hdmi"}, {"noise", "cancel", "headphon"}} {
		for _, c := range cases {
			if got, want := whyHybrid(terms, c), viaFmt(terms, c); got != want {
				t.Fatalf("whyHybrid(%v, %+v) = %q, fmt gives %q", terms, c, got, want)
			}
		}
	}
}
