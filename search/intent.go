package search

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"selection/lexical"
	"selection/prodtype"
	"selection/selection"
)

// TypeSource is what intent resolution needs of the product types (the tagger implements it):
// each SKU's type, the learned model, and the types' centroids in embedding space.
type TypeSource interface {
	TypeOf(ordinal int64) string
	TypeModel() *prodtype.Model
	TypeCentroids() ([]string, [][]float32)
}

// IntentConfig weighs the three kinds of evidence that a query means a product type. Zero
// fields take the defaults stated on each; they were fitted by cross-validation over the
// campaign scenarios (evals/README.md).
type IntentConfig struct {
	// NameWeight weighs the type's name in the query: its head word present, scaled by the
	// share of its words present ("monitor" in "4k monitor" for "computer monitor"). Default 1.
	NameWeight float64
	// LexicalWeight weighs the type's share of the query's best lexical matches over the whole
	// catalogue (what products holding the query's words are). Default 1.
	LexicalWeight float64
	// SemanticWeight weighs how far above the other types the query's embedding is to the
	// type's centroid. Default 0.5.
	SemanticWeight float64
	// Keep is the share of the best type's score another type needs to be meant too.
	// Default 0.5.
	Keep float64
	// MinScore is the score the best type needs for the query to mean a type at all.
	// Default 0.6.
	MinScore float64
	// Unnamed scales the score of a type whose name the query does not hold when another
	// type's name is in the query: "4k monitor" names monitors, not the cables that mention
	// them. Default 0.5.
	Unnamed float64
	// Depth is how many lexical matches the lexical share is taken over. Default 200.
	Depth int
	// NamedOnly resolves only queries that name the best type whole ("mouse", "notebook
	// case"); others keep the search's own membership. Set by DefaultIntentConfig.
	NamedOnly bool
	// MaxTypes bounds the types one query means. Default 8.
	MaxTypes int
}

// WithDefaults fills zero fields.
func (c IntentConfig) WithDefaults() IntentConfig {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.NameWeight, 1)
	def(&c.LexicalWeight, 1)
	def(&c.SemanticWeight, 0.5)
	def(&c.Keep, 0.5)
	def(&c.MinScore, 0.6)
	def(&c.Unnamed, 0.5)
	if c.Depth == 0 {
		c.Depth = 200
	}
	if c.MaxTypes == 0 {
		c.MaxTypes = 8
	}
	return c
}

// IntentType is one product type a query means.
type IntentType struct {
	Name  string  `json:"name"`
	Score float64 `json:"score"`
	Kind  string  `json:"kind,omitempty"`
	Why   string  `json:"why,omitempty"`
}

// Intent is what a query means: product types, best first, and its words no type explains
// (wanted properties: "4k", "gaming", "noise cancelling").
type Intent struct {
	Types      []IntentType `json:"types"`
	Properties []string     `json:"properties,omitempty"`
	// Confidence is the best type's score, capped at 1.
	Confidence float64 `json:"confidence"`
}

// TypeScore is the evidence for one type (for evaluation and explanations).
type TypeScore struct {
	Name                    string
	NameMatch, Lex, SemZ    float64
	Score                   float64
	Kind, AccessoryOf, Head string
}

// Intents resolves queries to product types over an engine's indexes.
type Intents struct {
	eng   *Engine
	types TypeSource
	cfg   IntentConfig
}

// NewIntents returns a resolver.
func NewIntents(eng *Engine, types TypeSource, cfg IntentConfig) *Intents {
	return &Intents{eng: eng, types: types, cfg: cfg.WithDefaults()}
}

// WithConfig returns a resolver over the same indexes with another configuration.
func (in *Intents) WithConfig(cfg IntentConfig) *Intents {
	return &Intents{eng: in.eng, types: in.types, cfg: cfg.WithDefaults()}
}

// Evidence scores every type for a query (unsorted) and returns the query's stems.
func (in *Intents) Evidence(ctx context.Context, text string) ([]TypeScore, []string, error) {
	m := in.types.TypeModel()
	if m == nil || m.Len() == 0 {
		return nil, nil, nil
	}
	stems := lexical.Analyze(text)
	q := map[string]bool{}
	for _, s := range stems {
		q[s] = true
	}
	scores := map[string]*TypeScore{}
	get := func(name string) *TypeScore {
		ts := scores[name]
		if ts == nil {
			ts = &TypeScore{Name: name}
			if t, ok := m.Type(name); ok {
				ts.Kind, ts.AccessoryOf, ts.Head = string(t.Kind), t.AccessoryOf, t.Head
			}
			scores[name] = ts
		}
		return ts
	}
	// The type's name in the query.
	for _, t := range m.Types() {
		// The head word, or one of its alternatives ("headphones/headset"), whole: "s-bag" is
		// not named by "bag".
		hit := false
		for _, alt := range strings.Split(t.Head, "/") {
			stems := lexical.Analyze(alt)
			all := len(stems) > 0
			for _, h := range stems {
				all = all && q[h]
			}
			hit = hit || all
		}
		if !hit {
			continue
		}
		ws := lexical.Analyze(t.Name)
		n := 0
		for _, w := range ws {
			if q[w] {
				n++
			}
		}
		get(t.Name).NameMatch = float64(n) / float64(max(len(ws), 1))
	}
	// What the products holding the query's words are.
	lr, err := in.eng.lex.Search(ctx, text, in.cfg.Depth, nil)
	if err != nil {
		return nil, nil, err
	}
	var total float64
	for _, h := range lr.Hits {
		ty := in.types.TypeOf(h.Ordinal)
		w := float64(h.Score) * float64(h.Coverage) * float64(h.Coverage)
		total += w
		if ty != "" {
			get(ty).Lex += w
		}
	}
	// The query against the types' centroids.
	names, cents := in.types.TypeCentroids()
	if len(cents) > 1 && in.eng.emb != nil {
		qv, err := in.eng.emb.EmbedQuery(ctx, text)
		if err != nil {
			return nil, nil, fmt.Errorf("search: embed query: %w", err)
		}
		cos := make([]float64, len(cents))
		var s, ss float64
		for i, c := range cents {
			var d float32
			for k := range c {
				d += c[k] * qv[k]
			}
			cos[i] = float64(d)
			s += cos[i]
		}
		mean := s / float64(len(cos))
		for _, c := range cos {
			ss += (c - mean) * (c - mean)
		}
		sd := math.Sqrt(ss / float64(len(cos)-1))
		for i, c := range cos {
			if sd > 0 {
				if z := (c - mean) / sd; z > 2 {
					get(names[i]).SemZ = z
				}
			}
		}
	}
	out := make([]TypeScore, 0, len(scores))
	for _, ts := range scores {
		if total > 0 {
			ts.Lex /= total
		}
		out = append(out, *ts)
	}
	return out, stems, nil
}

// Resolve returns the product types a query means (none when no type is clear enough).
func (in *Intents) Resolve(ctx context.Context, text string) (Intent, error) {
	ev, stems, err := in.Evidence(ctx, text)
	if err != nil {
		return Intent{}, err
	}
	return in.cfg.Decide(ev, stems), nil
}

// Decide turns the evidence into an intent with c's weights (c must have its defaults).
func (c IntentConfig) Decide(ev []TypeScore, stems []string) Intent {
	var it Intent
	if len(ev) == 0 {
		return it
	}
	named := false
	maxLex := 0.0
	for _, e := range ev {
		named = named || e.NameMatch > 0
		maxLex = max(maxLex, e.Lex)
	}
	sc := make([]TypeScore, len(ev))
	copy(sc, ev)
	for i := range sc {
		e := &sc[i]
		lex := 0.0
		if maxLex > 0 {
			lex = e.Lex / maxLex
		}
		e.Score = c.NameWeight*e.NameMatch + c.LexicalWeight*lex + c.SemanticWeight*math.Min(e.SemZ/4, 1)
		if named && e.NameMatch == 0 {
			e.Score *= c.Unnamed
		}
	}
	sort.Slice(sc, func(a, b int) bool {
		if sc[a].Score != sc[b].Score {
			return sc[a].Score > sc[b].Score
		}
		return sc[a].Name < sc[b].Name
	})
	best := sc[0].Score
	if best < c.MinScore || (c.NamedOnly && sc[0].NameMatch < 1) {
		return it
	}
	chosen := map[string]bool{}
	for _, e := range sc {
		if len(it.Types) >= c.MaxTypes || e.Score < c.Keep*best {
			break
		}
		if c.NamedOnly && e.NameMatch == 0 {
			continue
		}
		// An accessory of a type also meant is left out unless the query names it.
		if e.AccessoryOf != "" && chosen[e.AccessoryOf] && e.NameMatch == 0 {
			continue
		}
		chosen[e.Name] = true
		it.Types = append(it.Types, IntentType{Name: e.Name, Score: math.Round(e.Score*1000) / 1000, Kind: e.Kind,
			Why: fmt.Sprintf("name %.2f, share of lexical matches %.2f, semantic %.1f sd", e.NameMatch, e.Lex, e.SemZ)})
	}
	it.Confidence = math.Min(1, best)
	// Properties: the query's words no chosen type's name holds.
	in := map[string]bool{}
	for _, t := range it.Types {
		for _, w := range lexical.Analyze(t.Name) {
			in[w] = true
		}
	}
	for _, s := range stems {
		if !in[s] {
			it.Properties = append(it.Properties, s)
		}
	}
	return it
}

// Names lists the intent's type names.
func (it Intent) Names() []string {
	out := make([]string, len(it.Types))
	for i, t := range it.Types {
		out[i] = t.Name
	}
	return out
}

// String is a short form for logs.
func (it Intent) String() string { return strings.Join(it.Names(), ", ") }

// ResolveIntent is Resolve in the selection engine's terms (selection.IntentResolver).
func (in *Intents) ResolveIntent(ctx context.Context, text string) (selection.Intent, error) {
	it, err := in.Resolve(ctx, text)
	if err != nil {
		return selection.Intent{}, err
	}
	out := selection.Intent{Properties: it.Properties, Confidence: it.Confidence, Types: make([]selection.IntentType, len(it.Types))}
	for i, t := range it.Types {
		out.Types[i] = selection.IntentType{Name: t.Name, Score: t.Score, Kind: t.Kind, Why: t.Why}
	}
	return out, nil
}
