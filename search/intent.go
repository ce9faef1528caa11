package search

import (
	"context"
	"strings"
	"sync"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/lexical"
	"selection/prodtype"
	"selection/selection"
)

// TypeSource is what intent resolution needs of the product types (the tagger implements it):
// each SKU's type, the learned model, and the types' centroids in embedding space.
type TypeSource interface {
	TypeOf(ordinal int64) string
	// TypeOfSKU is the type of the SKU with that id ("" when it has none or is not indexed).
	TypeOfSKU(id int64) string
	TypeModel() *prodtype.Model
	TypeCentroids() ([]string, [][]float32)
	// TypeSize is how many live SKUs have the type.
	TypeSize(name string) int
	// TypeMembers returns the ordinals of the live SKUs that have the type.
	TypeMembers(name string) *roaring64.Bitmap
}

// IntentConfig weighs the three kinds of evidence that a query means a product type. Zero
// fields take the defaults stated on each; they were fitted by cross-validation over the
// campaign scenarios (evals/README.md).
type IntentConfig struct {
	// NameWeight weighs the type's name in the query: its head word present, scaled by the
	// share of its words present ("monitor" in "4k monitor" for "computer monitor"). Default 1.
	NameWeight float64
	// LexicalWeight weighs the type's share of the query's best lexical matches over the whole
	// catalogue (what products holding the query's words are). Default 2.
	LexicalWeight float64
	// SemanticWeight weighs how far above the other types the query's embedding is to the
	// type's centroid. Default 0.5.
	SemanticWeight float64
	// Keep is the share of the best type's score another type needs to be meant too.
	// Default 0.4.
	Keep float64
	// MinScore is the score the best type needs for the query to mean a type at all.
	// Default 0.4.
	MinScore float64
	// Unnamed scales the score of a type whose name the query does not hold when another
	// type's name is in the query: "4k monitor" names monitors, not the cables that mention
	// them. Default 0.5.
	Unnamed float64
	// MinExact is how many SKUs the types a phrase names exactly (or their subtypes) must
	// hold for its supertypes to be left out. Default 20.
	MinExact int
	// Depth is how many lexical matches the lexical share is taken over. Default 200.
	// SampleSize: above four times this many SKUs, the share is estimated on a fixed sample
	// of them (the best Depth matches among SampleSize SKUs spread over the catalogue), and on
	// the whole catalogue only when the sample holds fewer than Depth/4 matches (rare words).
	// At 1M SKUs a search of the whole lexical index costs 3 ms for common words. Default
	// 32,768; negative: never sample.
	SampleSize int
	Depth      int
	// Sibling is the name score of a type that shares only the head with the query's phrase
	// ("vga cable" for "hdmi cables"), used when no type is exact, a subtype or a supertype.
	// Default -1: siblings alone are not named.
	Sibling float64
	// SiblingKin is the centroid cosine at which a sibling of a better-named type is meant too
	// ("lcd monitor", 0.94, beside "computer monitor"). Default 0.9, chosen by cross-validation;
	// the USE-Lite centroids do not tell every pair apart ("vga cable" is 0.92 from "hdmi
	// cable" and joins it too); negative: never.
	SiblingKin float64
	// SiblingMention is the share of a better-named type's SKUs whose text must hold a word
	// of a sibling's own name for the sibling to be its kin: a "computer monitor" is often
	// described as LCD (44% on Icecat), so "lcd monitor"s are computer monitors too; no "hdmi
	// cable" says VGA and no "external hard drive" says internal, since those are the other
	// kinds, not other names of one kind. Default 0.1; negative: not checked.
	SiblingMention float64
	// KinCos is the centroid cosine above which a type sharing a word with a chosen one is
	// meant too ("toner" with "toner cartridge"). Default 0.97; negative: never.
	KinCos float64
	// MinLex is the share of the query's lexical matches a type the query does not name must
	// hold to be meant. Default 0.1.
	MinLex float64
	// Strict keeps the intents it resolves to SKUs of their types. Default false: they also
	// admit SKUs of other types whose text holds every word of the query
	// (selection.Intent.Widen), which keeps keyword search whole where typing errs.
	Strict bool
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
	def(&c.LexicalWeight, 2)
	def(&c.SemanticWeight, 0.5)
	def(&c.Keep, 0.4)
	def(&c.MinScore, 0.4)
	def(&c.Unnamed, 0.5)
	def(&c.KinCos, 0.97)
	def(&c.Sibling, -1)
	def(&c.SiblingKin, 0.9)
	def(&c.SiblingMention, 0.1)
	def(&c.MinLex, 0.1)
	if c.MinExact == 0 {
		c.MinExact = 20
	}
	if c.SampleSize == 0 {
		c.SampleSize = 1 << 15
	}
	if c.Depth == 0 {
		c.Depth = 200
	}
	if c.MaxTypes == 0 {
		c.MaxTypes = 8
	}
	return c
}

// TypeScore is the evidence for one type (for evaluation and explanations).
type TypeScore struct {
	Name                 string
	NameMatch, Lex, SemZ float64
	Score                float64
	Kind, AccessoryOf    string
	// SiblingOf, for a sibling, lists the better-named types of its phrase, and
	// SiblingMention is the share of their SKUs whose text holds a word of the sibling's own
	// name ("lcd" for "lcd monitor" beside "computer monitor").
	SiblingOf      []string
	SiblingMention float64
	// Mentions narrows a type broader than the phrase that names it to its SKUs whose text
	// holds one of the phrase's words that tell kinds of its head apart ("patch cable" for
	// "fibre optic patch cables": fibre, optic).
	Mentions []string
	// ByModifier marks a type named by the word before a phrase's head when the head names
	// only other kinds ("ssd" in "ssd upgrades"); Decide names it when its lexical share is
	// at least MinLex or the query is near its centroid (SemZ > 0).
	ByModifier bool
	// Alias is the query's word that names the type by the judged queries (Aliases)
	// ("laptop" for "notebook"), and AliasShare the type's share of the SKUs judged for it.
	Alias      string
	AliasShare float64
	// Acronym: Alias is the acronym of the type's name, which its own SKUs use ("ups").
	Acronym bool
	// Kin are the types sharing a word with this one, with the cosine of their centroids:
	// "toner" and "toner cartridge" (0.9 and more) are one thing named two ways.
	Kin []Kin
}

// Kin is a type related to another by a shared word, and how close their centroids are.
type Kin struct {
	Name string
	Cos  float64
}

// Intents resolves queries to product types over an engine's indexes.
type Intents struct {
	eng     *Searcher
	types   TypeSource
	cfg     IntentConfig
	kin     *kinCache
	aliases *Aliases
}

// kinCache holds, for the current centroids, each type's kin.
type kinCache struct {
	mu    sync.Mutex
	first []float32 // identifies the centroid set it was built from
	n     int
	kin   map[string][]Kin
	// class: the class words, for the centroid set and the model classOf.
	class   map[string]bool
	classOf *prodtype.Model
	model   *prodtype.Model
	table   *typeTable
	// sample: the lexical sample of a large catalogue, drawn at sampleOf SKUs.
	sample   *roaring64.Bitmap
	sampleOf int
}

// NewIntents returns a resolver.
func NewIntents(eng *Searcher, types TypeSource, cfg IntentConfig) *Intents {
	return &Intents{eng: eng, types: types, cfg: cfg.WithDefaults(), kin: &kinCache{}}
}

// WithConfig returns a resolver over the same indexes with another configuration.
func (in *Intents) WithConfig(cfg IntentConfig) *Intents {
	return &Intents{eng: in.eng, types: in.types, cfg: cfg.WithDefaults(), kin: in.kin, aliases: in.aliases}
}

// WithAliases returns a resolver that also knows the words of v (nil: none).
func (in *Intents) WithAliases(v *Aliases) *Intents {
	return &Intents{eng: in.eng, types: in.types, cfg: in.cfg, kin: in.kin, aliases: v}
}

// evidence collects the scores of the types a query touches.
type evidence struct {
	m      *prodtype.Model
	scores map[string]*TypeScore
	// priceCap, when > 0, leaves out the unnamed types whose median price is above it.
	priceCap int64
	// surface maps the query's stems to the words as written, lower case ("ups" stems to
	// "up").
	surface map[string]string
	// kin are the types' kin; called and members memoise what the query's words call types
	// and the types' SKUs.
	phrases []string // the query's noun phrases, without class words
	kin     map[string][]Kin
	called  map[string][]learnedType
	members map[string]*roaring64.Bitmap
}

func (ev *evidence) get(name string) *TypeScore {
	ts := ev.scores[name]
	if ts == nil {
		ts = &TypeScore{Name: name}
		if t, ok := ev.m.Type(name); ok {
			ts.Kind, ts.AccessoryOf = string(t.Kind), t.AccessoryOf
		}
		ev.scores[name] = ts
	}
	return ts
}

// Evidence is what a query says of the product types it may mean: each type's scores
// (unsorted), the query's stems, the text the lexical and semantic evidence was taken on (the
// query without its class words) and its noun phrases.
type Evidence struct {
	Scores  []TypeScore
	Stems   []string
	Text    string
	Phrases []string
	query   string
}

// Evidence scores every type for a query: its name in the query's noun phrases, its share of
// the query's lexical matches, and the query's nearness to its centroid.
func (in *Intents) Evidence(ctx context.Context, text string) (Evidence, error) {
	m := in.types.TypeModel()
	if m == nil || m.Len() == 0 {
		return Evidence{query: text}, nil
	}
	stems := lexical.Analyze(text)
	ev := &evidence{m: m, scores: map[string]*TypeScore{}}
	names, cents := in.types.TypeCentroids()
	tab := in.table(m)
	kin, class := in.kinOf(m, tab, names, cents)
	ev.kin = kin
	flat := in.names(ev, tab, text, class)
	total, err := in.lexicalShares(ctx, ev, flat)
	if err != nil {
		return Evidence{}, err
	}
	if err := in.nearness(ctx, ev, flat, names, cents); err != nil {
		return Evidence{}, err
	}
	out := make([]TypeScore, 0, len(ev.scores))
	for name, ts := range ev.scores {
		if t, ok := m.Type(name); ok && ev.priceCap > 0 && ts.NameMatch == 0 && t.MedianPrice > ev.priceCap {
			total -= ts.Lex // the shares are of the matches of the types that may be meant
			delete(ev.scores, name)
		}
	}
	for _, ts := range ev.scores {
		ts.Kin = kin[ts.Name]
		if total > 0 {
			ts.Lex /= total
		}
		out = append(out, *ts)
	}
	return Evidence{Scores: out, Stems: stems, Text: flat, Phrases: ev.phrases, query: text}, nil
}

// Resolve returns the product types a query means (none when no type is clear enough).
func (in *Intents) Resolve(ctx context.Context, text string) (selection.Intent, error) {
	e, err := in.Evidence(ctx, text)
	if err != nil {
		return selection.Intent{}, err
	}
	return in.cfg.DecideEvidence(e), nil
}

// DecideEvidence is Decide over a query's evidence, with what the query's text adds: the
// phrases a widening intent widens by, and the query without its class words.
func (c IntentConfig) DecideEvidence(e Evidence) selection.Intent {
	it := c.Decide(e.Scores, e.Stems)
	if it.Widen && len(it.Types) > 0 && len(e.Phrases) > 1 {
		// A one-word phrase ("headsets", "sd") names too little to widen by itself.
		for _, ph := range e.Phrases {
			var words []string // its words that are terms (not "the")
			for _, w := range strings.Fields(ph) {
				if len(lexical.Analyze(w)) > 0 {
					words = append(words, w)
				}
			}
			if len(words) > 1 {
				it.Phrases = append(it.Phrases, strings.Join(words, " "))
			}
		}
	}
	if q := strings.Join(strings.Fields(e.Text), " "); e.Text != "" && q != strings.Join(strings.Fields(strings.ReplaceAll(e.query, ",", " ")), " ") {
		it.Query = q
	}
	return it
}

// ResolveIntent is Resolve under the name selection.IntentResolver asks for.
func (in *Intents) ResolveIntent(ctx context.Context, text string) (selection.Intent, error) {
	return in.Resolve(ctx, text)
}
