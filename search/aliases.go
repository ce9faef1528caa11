package search

import (
	"sort"

	"selection/lexical"
)

// Aliases holds the words people use for the catalogue's product types where the
// catalogue's own names differ: the Icecat titles say "notebook" where shoppers and planners
// say "laptop", "internal solid state drive" where they say "SSD". It is learned from judged
// queries (a rater's or a click log's "this query found this product"): a query's head word
// that names no type means the types of the products judged an exact answer to it. The types
// are read when a query is resolved, so they follow the tagger as it types the catalogue.
type Aliases struct {
	byHead map[string][]int64 // head stem -> SKUs judged exact answers to queries with that head
	terms  int
}

// NewAliases learns from judged queries: each query with the SKUs judged an exact answer to
// it. Queries are grouped by their head word (the last word of the query after analysis).
func NewAliases(exact map[string][]int64) *Aliases {
	v := &Aliases{byHead: map[string][]int64{}}
	queries := make([]string, 0, len(exact))
	for q := range exact {
		queries = append(queries, q)
	}
	sort.Strings(queries)
	seen := map[string]map[int64]bool{}
	for _, q := range queries {
		st := lexical.Analyze(q)
		if len(st) == 0 || len(exact[q]) == 0 {
			continue
		}
		h := st[len(st)-1]
		if seen[h] == nil {
			seen[h] = map[int64]bool{}
			v.terms++
		}
		for _, id := range exact[q] {
			if !seen[h][id] {
				seen[h][id] = true
				v.byHead[h] = append(v.byHead[h], id)
			}
		}
	}
	return v
}

// Len is how many head words it knows.
func (v *Aliases) Len() int {
	if v == nil {
		return 0
	}
	return v.terms
}

// aliasMinSKUs is how many typed SKUs judged for a word it takes to learn what the word means,
// and aliasMinShare the share of them a type needs to be meant by it.
const (
	aliasMinSKUs  = 3
	aliasMinShare = 0.3
)

// typesOf returns the types a head word means by the judged queries, with each one's share of
// the judged SKUs that have a type, best first; none when the word is unknown or its SKUs are
// too few or too mixed.
func (v *Aliases) typesOf(head string, typeOf func(id int64) string) []learnedType {
	if v == nil {
		return nil
	}
	ids := v.byHead[head]
	count := map[string]int{}
	typed := 0
	for _, id := range ids {
		if t := typeOf(id); t != "" {
			count[t]++
			typed++
		}
	}
	if typed < aliasMinSKUs {
		return nil
	}
	var out []learnedType
	for t, n := range count {
		if share := float64(n) / float64(typed); share >= aliasMinShare && n >= 2 {
			out = append(out, learnedType{name: t, share: share, judged: typed})
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].share != out[b].share {
			return out[a].share > out[b].share
		}
		return out[a].name < out[b].name
	})
	return out
}

type learnedType struct {
	name    string
	share   float64
	judged  int
	acronym bool // the word is the acronym of the type's name
}
