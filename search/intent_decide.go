package search

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"selection/lexical"
	"selection/selection"
)

// Decide turns the evidence into an intent with c's weights (c must have its defaults): the
// siblings' name scores, each type's score, the types chosen by it, those that play another
// part left out, the chosen types' kin added, and the query's words no chosen type holds as
// properties.
func (c IntentConfig) Decide(ev []TypeScore, stems []string) selection.Intent {
	var it selection.Intent
	if len(ev) == 0 {
		return it
	}
	sc := make([]TypeScore, len(ev))
	copy(sc, ev)
	named := c.nameSiblings(sc)
	c.score(sc, named)
	sort.Slice(sc, func(a, b int) bool {
		if sc[a].Score != sc[b].Score {
			return sc[a].Score > sc[b].Score
		}
		return sc[a].Name < sc[b].Name
	})
	best := sc[0].Score
	if best < c.MinScore {
		return it
	}
	byName := make(map[string]*TypeScore, len(sc))
	for i := range sc {
		byName[sc[i].Name] = &sc[i]
	}
	it.Types = c.choose(sc, best)
	if named {
		it.Types = c.withoutOtherParts(it.Types, byName)
	}
	it.Types = c.withKin(it.Types, byName)
	it.Confidence = math.Min(1, best)
	it.Widen, it.Named = !c.Strict, sc[0].NameMatch > 0
	it.Properties = properties(it.Types, stems)
	return it
}

// nameSiblings turns the siblings' marks into name scores (Sibling alone; 0.75 as the kin, at
// SiblingKin or closer, of a better-named type of their phrase whose SKUs mention the
// sibling's words), names the types a modifier names that hold MinLex of the lexical matches
// or are among the nearest to the query,
// and reports whether any type is named.
func (c IntentConfig) nameSiblings(sc []TypeScore) bool {
	named := false
	for i := range sc {
		e := &sc[i]
		if e.NameMatch == siblingClass {
			e.NameMatch = 0
			if len(e.SiblingOf) == 0 {
				e.NameMatch = max(c.Sibling, 0)
			}
			for _, k := range e.Kin {
				if c.SiblingKin > 0 && k.Cos >= c.SiblingKin && slices.Contains(e.SiblingOf, k.Name) &&
					(c.SiblingMention < 0 || e.SiblingMention >= c.SiblingMention) {
					e.NameMatch = 0.75
				}
			}
		}
		if e.ByModifier && e.NameMatch == 0 && (e.Lex >= c.MinLex || e.SemZ > 0) {
			e.NameMatch = 1
		}
		named = named || e.NameMatch > 0
	}
	return named
}

// score weighs each type's evidence.
func (c IntentConfig) score(sc []TypeScore, named bool) {
	for i := range sc {
		e := &sc[i]
		// The raw share: a type holding most of the query's lexical matches is evidence, the
		// largest of many small shares is not ("lenovo" matches notebooks, adapters, phones).
		e.Score = c.NameWeight*e.NameMatch + c.LexicalWeight*e.Lex + c.SemanticWeight*math.Min(e.SemZ/4, 1)
		if e.NameMatch == 0 && e.Lex < c.MinLex {
			e.Score = 0 // nearness in embedding space alone does not make a type meant ("netflix")
		}
		if named && e.NameMatch == 0 {
			e.Score *= c.Unnamed
		}
	}
}

// choose takes the types (sorted by score) scoring at least Keep of the best, up to MaxTypes;
// an accessory of a type also meant is left out unless the query names it.
func (c IntentConfig) choose(sc []TypeScore, best float64) []selection.IntentType {
	var out []selection.IntentType
	chosen := map[string]bool{}
	for _, e := range sc {
		if len(out) >= c.MaxTypes || e.Score < c.Keep*best {
			break
		}
		if e.AccessoryOf != "" && chosen[e.AccessoryOf] && e.NameMatch == 0 {
			continue
		}
		chosen[e.Name] = true
		why := fmt.Sprintf("name %.2f, share of lexical matches %.2f, semantic %.1f sd", e.NameMatch, e.Lex, e.SemZ)
		switch {
		case e.Acronym:
			why = fmt.Sprintf("%q is the acronym of %s, which its products use; %s", e.Alias, e.Name, why)
		case e.Alias != "":
			why = fmt.Sprintf("%q means %s by judged queries (%.0f%% of the products judged for it); %s", e.Alias, e.Name, 100*e.AliasShare, why)
		}
		if len(e.Mentions) > 0 {
			why += fmt.Sprintf("; only its SKUs that say %s", strings.Join(e.Mentions, " or "))
		}
		out = append(out, selection.IntentType{Name: e.Name, Score: math.Round(e.Score*1000) / 1000, Kind: e.Kind, Why: why, Mentions: e.Mentions})
	}
	return out
}

// withoutOtherParts leaves out a type chosen on lexical and semantic evidence alone that shares
// a word with a named one, since it plays another part: "projector lamp" beside the named "data
// projector" serves it; "mouse" beside the named "mouse pad" is what the pad serves. The named
// type's kin stays.
func (c IntentConfig) withoutOtherParts(types []selection.IntentType, byName map[string]*TypeScore) []selection.IntentType {
	nameWords := make(map[string]map[string]bool, len(types))
	for _, t := range types {
		ws := map[string]bool{}
		for _, w := range lexical.Analyze(t.Name) {
			ws[w] = true
		}
		nameWords[t.Name] = ws
	}
	kept := types[:0]
	for _, t := range types {
		drop := false
		if byName[t.Name].NameMatch == 0 {
			for _, o := range types {
				if byName[o.Name].NameMatch == 0 || o.Name == t.Name || isKin(byName[t.Name], o.Name, c.KinCos) {
					continue
				}
				for w := range nameWords[t.Name] {
					drop = drop || nameWords[o.Name][w]
				}
			}
		}
		if !drop {
			kept = append(kept, t)
		}
	}
	return kept
}

// withKin adds the chosen types' kin close enough (KinCos) to be the same thing named another
// way.
func (c IntentConfig) withKin(types []selection.IntentType, byName map[string]*TypeScore) []selection.IntentType {
	if c.KinCos <= 0 {
		return types
	}
	chosen := make(map[string]bool, len(types))
	for _, t := range types {
		chosen[t.Name] = true
	}
	for _, t := range types[:len(types):len(types)] {
		for _, k := range byName[t.Name].Kin {
			if k.Cos >= c.KinCos && !chosen[k.Name] && len(types) < c.MaxTypes {
				chosen[k.Name] = true
				types = append(types, selection.IntentType{Name: k.Name, Score: t.Score,
					Why: fmt.Sprintf("the same products as %q by their vectors (centroid cosine %.2f)", t.Name, k.Cos)})
			}
		}
	}
	return types
}

// properties are the query's words no chosen type's name holds.
func properties(types []selection.IntentType, stems []string) []string {
	in := map[string]bool{}
	for _, t := range types {
		for _, w := range lexical.Analyze(t.Name) {
			in[w] = true
		}
	}
	var out []string
	for _, s := range stems {
		if !in[s] {
			out = append(out, s)
		}
	}
	return out
}

// isKin reports whether o is e's kin at cos or closer.
func isKin(e *TypeScore, o string, cos float64) bool {
	if cos <= 0 {
		return false
	}
	for _, k := range e.Kin {
		if k.Name == o && k.Cos >= cos {
			return true
		}
	}
	return false
}
