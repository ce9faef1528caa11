package search

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/lexical"
	"selection/prodtype"
	"selection/selection"
	"selection/vectorindex"
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
	// SiblingOf, for a sibling, lists the better-named types of its phrase.
	SiblingOf []string
	// Alias is the query's word that names the type by the judged queries (Aliases)
	// ("laptop" for "notebook"), and AliasShare the type's share of the SKUs judged for it.
	Alias      string
	AliasShare float64
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

// Evidence scores every type for a query (unsorted) and returns the query's stems: its name in
// the query's noun phrases, its share of the query's lexical matches, and the query's nearness
// to its centroid.
func (in *Intents) Evidence(ctx context.Context, text string) ([]TypeScore, []string, error) {
	ev, stems, _, err := in.evidence(ctx, text)
	return ev, stems, err
}

// evidence is Evidence, and also the text the lexical and semantic evidence was taken on (the
// query without its class words).
func (in *Intents) evidence(ctx context.Context, text string) ([]TypeScore, []string, string, error) {
	m := in.types.TypeModel()
	if m == nil || m.Len() == 0 {
		return nil, nil, "", nil
	}
	stems := lexical.Analyze(text)
	ev := &evidence{m: m, scores: map[string]*TypeScore{}}
	names, cents := in.types.TypeCentroids()
	kin, class := in.kinOf(m, names, cents)
	flat := in.names(ev, text, class)
	total, err := in.lexicalShares(ctx, ev, flat)
	if err != nil {
		return nil, nil, "", err
	}
	if err := in.nearness(ctx, ev, flat, names, cents); err != nil {
		return nil, nil, "", err
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
	return out, stems, flat, nil
}

// names sets the name score of the types the query's noun phrases name, and returns the text
// the lexical and semantic evidence is taken on: the query without the class words of its
// phrases ("gaming accessories" is evidence as "gaming").
func (in *Intents) names(ev *evidence, text string, class map[string]bool) string {
	// The type's name in the query. A type is named by a noun phrase of the query (the text
	// separates them with commas: "monitor arms, wall mounts" names arms and mounts, not
	// monitors) whose head, its last word, is the type's head (or one of its alternatives,
	// "headphones/headset"). Against the phrase, a type is exact ("hdmi cables": "hdmi
	// cable"), a subtype ("printers": "inkjet printer"), a supertype ("hdmi cables": "cable")
	// or a sibling ("hdmi cables": "vga cable"); a phrase word counts as missing from a type
	// only when it is a word of some type's name ("4k" in "4k monitor" is a property, not a
	// kind of monitor). The best class present is kept: exact and subtypes (1), else
	// supertypes (0.75), else siblings (0.5).
	tab := in.table(ev.m)
	var flat []string
	for _, ph := range strings.Split(text, ",") {
		st := lexical.Analyze(ph)
		if len(st) == 0 {
			continue
		}
		head := st[len(st)-1]
		if class[head] && len(st) > 1 {
			flat = append(flat, in.classPhrase(ev, tab, ph, st))
			continue
		}
		flat = append(flat, ph)
		set := map[string]bool{}
		for _, w := range st {
			set[w] = true
		}
		type cand struct {
			name  string
			class float64
		}
		if len(tab.byHead[head]) == 0 {
			// No type is named so: the word may be what people call a type the catalogue
			// names otherwise ("laptops": notebooks).
			for _, lt := range in.aliases.typesOf(head, in.types.TypeOfSKU) {
				ts := ev.get(lt.name)
				if ts.NameMatch < 1 {
					ts.NameMatch, ts.Alias, ts.AliasShare = 1, head, lt.share
				}
			}
			continue
		}
		var cands []cand
		bestClass := 0.0
		for _, ti := range tab.byHead[head] {
			if class, ok := tab.classOf(ti, ph, head, set); ok {
				cands = append(cands, cand{ti.name, class})
				bestClass = max(bestClass, class)
			}
		}
		var better []string
		size := 0
		for _, c := range cands {
			if c.class == bestClass && c.class > siblingClass {
				better = append(better, c.name)
				size += in.types.TypeSize(c.name)
			}
		}
		// Few SKUs carry the exact name ("laser printer": 4, where most laser printers are
		// "printer"s): the supertypes are meant too.
		keepSuper := bestClass == 1 && size < in.cfg.MinExact
		for _, c := range cands {
			switch {
			case c.class == bestClass || (keepSuper && c.class == 0.75):
				ts := ev.get(c.name)
				ts.NameMatch = max(ts.NameMatch, c.class)
			case c.class == siblingClass && len(better) > 0:
				// A sibling where better-named types exist: Decide keeps it only as their kin
				// ("lcd monitor" beside "computer monitor").
				ts := ev.get(c.name)
				if ts.NameMatch == 0 {
					ts.NameMatch = siblingClass
					ts.SiblingOf = append(ts.SiblingOf, better...)
				}
			}
		}
	}
	return strings.Join(flat, " ")
}

// classPhrase names the types a phrase with a class word for its head means ("gaming
// accessories", "laptop accessories", "coffee machines"): the types of that head sharing a
// word with the phrase ("pod coffee machine"), else the accessories of the type its other words
// name ("laptop accessories": notebook cases, stands, docks, by prodtype's accessory
// relation); else none is named, and the evidence of its other words decides ("gaming": mice,
// keyboards, headsets). It returns the phrase without its class word.
func (in *Intents) classPhrase(ev *evidence, tab *typeTable, ph string, st []string) string {
	head, mods := st[len(st)-1], st[:len(st)-1]
	set := map[string]bool{}
	for _, w := range mods {
		set[w] = true
	}
	named := false
	for _, ti := range tab.byHead[head] {
		for w := range ti.words {
			if set[w] {
				ts := ev.get(ti.name)
				ts.NameMatch, named = max(ts.NameMatch, 1), true
				break
			}
		}
	}
	words := strings.Fields(ph)
	rest := strings.Join(words[:max(len(words)-1, 0)], " ")
	if named {
		return rest
	}
	// Unnamed, the other words' evidence decides, among types priced like the class: "gaming
	// accessories" are mice and headsets, not gaming notebooks.
	var prices []float64
	for _, ti := range tab.byHead[head] {
		if t, ok := ev.m.Type(ti.name); ok && t.MedianPrice > 0 {
			prices = append(prices, float64(t.MedianPrice))
		}
	}
	if len(prices) > 0 {
		ev.priceCap = max(ev.priceCap, int64(classPriceCap*median(prices)))
	}
	// The type the other words name: exactly by its head, or by the judged queries' words.
	served := map[string]bool{}
	for _, ti := range tab.byHead[mods[len(mods)-1]] {
		if c, ok := tab.classOf(ti, rest, mods[len(mods)-1], set); ok && c == 1 && len(ti.words) == len(set) {
			served[ti.name] = true
		}
	}
	if len(served) == 0 {
		for _, lt := range in.aliases.typesOf(mods[len(mods)-1], in.types.TypeOfSKU) {
			served[lt.name] = true
		}
	}
	for _, t := range ev.m.Types() {
		if t.AccessoryOf != "" && served[t.AccessoryOf] {
			ts := ev.get(t.Name)
			ts.NameMatch = max(ts.NameMatch, 1)
			named = true
		}
	}
	return rest
}

// lexicalShares adds to each type the weight of its SKUs among the query's best lexical
// matches (normalised by Evidence) and returns the total weight.
func (in *Intents) lexicalShares(ctx context.Context, ev *evidence, flat string) (float64, error) {
	lr, err := in.eng.lex.Search(ctx, flat, in.cfg.Depth, in.sample())
	if err == nil && len(lr.Hits) < in.cfg.Depth/4 && in.cfg.SampleSize > 0 && in.eng.lex.Len() > 4*in.cfg.SampleSize {
		lr, err = in.eng.lex.Search(ctx, flat, in.cfg.Depth, nil) // rare words: all of them
	}
	if err != nil {
		return 0, err
	}
	var total float64
	for _, h := range lr.Hits {
		ty := in.types.TypeOf(h.Ordinal)
		w := float64(h.Score) * float64(h.Coverage) * float64(h.Coverage)
		total += w
		if ty != "" {
			ev.get(ty).Lex += w
		}
	}
	return total, nil
}

// nearness sets, for the types the query's embedding is more than 2 standard deviations
// nearer than the others' centroids, how many it is.
func (in *Intents) nearness(ctx context.Context, ev *evidence, flat string, names []string, cents [][]float32) error {
	if len(cents) > 1 && in.eng.emb != nil {
		qv, err := in.eng.embedQuery(ctx, flat)
		if err != nil {
			return fmt.Errorf("search: embed query: %w", err)
		}
		cos := make([]float64, len(cents))
		var s, ss float64
		for i, c := range cents {
			cos[i] = float64(vectorindex.Dot(c, qv))
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
					ev.get(names[i]).SemZ = z
				}
			}
		}
	}
	return nil
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

// siblingClass marks a sibling's name score in the evidence; Decide weighs it by Sibling.
const siblingClass = 0.5

// typeTable is what naming needs of the model's types, analysed once per model: each type's
// head alternatives and name words as stems, the types by the last stem of each alternative,
// and every stem of any type's name.
type typeTable struct {
	byHead    map[string][]*typeInfo
	typeWords map[string]bool
}

type typeInfo struct {
	name     string
	alts     []headAlt
	words    map[string]bool // stems of the name
	altWords map[string]bool // stems of the head's alternatives
}

type headAlt struct {
	word   string
	stems  []string
	hyphen bool
}

// classOf says whether a phrase (its text, head stem and stems) names the type, and as what:
// exact or subtype (1), supertype (0.75) or sibling (siblingClass).
func (tab *typeTable) classOf(ti *typeInfo, ph, head string, set map[string]bool) (float64, bool) {
	named := false
	for _, alt := range ti.alts {
		if alt.stems[len(alt.stems)-1] != head {
			continue
		}
		// A hyphenated head is one word: "s-bag" is not named by "bag".
		all := true
		for _, w := range alt.stems {
			all = all && set[w]
		}
		named = named || (all && (!alt.hyphen || strings.Contains(" "+strings.ToLower(ph)+" ", " "+alt.word)))
	}
	if !named {
		return 0, false
	}
	extra, missing := 0, 0
	for w := range ti.words {
		if !set[w] && !(ti.altWords[w] && len(ti.alts) > 1) {
			extra++
		}
	}
	for w := range set {
		if w != head && !ti.words[w] && tab.typeWords[w] {
			missing++
		}
	}
	switch {
	case missing == 0:
		return 1, true
	case extra == 0:
		return 0.75, true
	}
	return siblingClass, true
}

// table returns the type table of m (cached per model).
func (in *Intents) table(m *prodtype.Model) *typeTable {
	in.kin.mu.Lock()
	defer in.kin.mu.Unlock()
	if in.kin.model == m && in.kin.table != nil {
		return in.kin.table
	}
	tab := &typeTable{byHead: map[string][]*typeInfo{}, typeWords: map[string]bool{}}
	for _, t := range m.Types() {
		ti := &typeInfo{name: t.Name, words: map[string]bool{}, altWords: map[string]bool{}}
		for _, w := range lexical.Analyze(t.Name) {
			ti.words[w] = true
			tab.typeWords[w] = true
		}
		heads := map[string]bool{}
		for _, alt := range strings.Split(t.Head, "/") {
			st := lexical.Analyze(alt)
			if len(st) == 0 {
				continue
			}
			ti.alts = append(ti.alts, headAlt{word: alt, stems: st, hyphen: strings.Contains(alt, "-")})
			for _, w := range st {
				ti.altWords[w] = true
			}
			heads[st[len(st)-1]] = true
		}
		for h := range heads {
			tab.byHead[h] = append(tab.byHead[h], ti)
		}
	}
	in.kin.model, in.kin.table = m, tab
	return tab
}

// sample is the fixed lexical sample for large catalogues (nil: search them whole), drawn
// again when the catalogue has grown or shrunk by more than a tenth.
func (in *Intents) sample() *roaring64.Bitmap {
	n := in.eng.lex.Len()
	if in.cfg.SampleSize <= 0 || n <= 4*in.cfg.SampleSize {
		return nil
	}
	in.kin.mu.Lock()
	defer in.kin.mu.Unlock()
	if in.kin.sample == nil || math.Abs(float64(n-in.kin.sampleOf)) > 0.1*float64(in.kin.sampleOf) {
		in.kin.sample, in.kin.sampleOf = in.eng.lex.Sample(in.cfg.SampleSize), n
	}
	return in.kin.sample
}

// kinOf returns each type's kin and the class words for a centroid set, computed once per set.
func (in *Intents) kinOf(m *prodtype.Model, names []string, cents [][]float32) (map[string][]Kin, map[string]bool) {
	if len(cents) == 0 {
		return nil, nil
	}
	in.kin.mu.Lock()
	defer in.kin.mu.Unlock()
	if in.kin.n == len(cents) && len(in.kin.first) > 0 && &in.kin.first[0] == &cents[0][0] && in.kin.classOf == m {
		return in.kin.kin, in.kin.class
	}
	byWord := map[string][]int{}
	for i, n := range names {
		for _, w := range lexical.Analyze(n) {
			byWord[w] = append(byWord[w], i)
		}
	}
	kin := map[string][]Kin{}
	done := map[[2]int]bool{}
	for _, idx := range byWord {
		for a := 0; a < len(idx); a++ {
			for b := a + 1; b < len(idx); b++ {
				i, j := idx[a], idx[b]
				if done[[2]int{i, j}] {
					continue
				}
				done[[2]int{i, j}] = true
				var d float32
				for k := range cents[i] {
					d += cents[i][k] * cents[j][k]
				}
				kin[names[i]] = append(kin[names[i]], Kin{Name: names[j], Cos: float64(d)})
				kin[names[j]] = append(kin[names[j]], Kin{Name: names[i], Cos: float64(d)})
			}
		}
	}
	for _, ks := range kin {
		sort.Slice(ks, func(a, b int) bool { return ks[a].Name < ks[b].Name })
	}
	in.kin.first, in.kin.n, in.kin.kin = cents[0], len(cents), kin
	in.kin.class, in.kin.classOf = classWords(m, names, cents), m
	return kin, in.kin.class
}

// classPriceCap is how many times the median price of a class's types an unnamed type of a
// class phrase may cost.
const classPriceCap = 3

// classWords are the heads that name a class of things rather than a kind: shared by three
// types or more whose centroids lie farther apart than those of other shared heads (their mean
// pairwise cosine more than one MAD below the median over such heads). On the Icecat catalogue:
// accessory, kit, part, set, adapter, machine, supplies, ... but not cable, printer or monitor.
func classWords(m *prodtype.Model, names []string, cents [][]float32) map[string]bool {
	idx := make(map[string]int, len(names))
	for i, n := range names {
		idx[n] = i
	}
	groups := map[string][]int{}
	for _, t := range m.Types() {
		i, ok := idx[t.Name]
		if !ok {
			continue
		}
		heads := map[string]bool{}
		for _, alt := range strings.Split(t.Head, "/") {
			if st := lexical.Analyze(alt); len(st) > 0 {
				heads[st[len(st)-1]] = true
			}
		}
		for h := range heads {
			groups[h] = append(groups[h], i)
		}
	}
	spread := map[string]float64{}
	var all []float64
	for h, g := range groups {
		if len(g) < 3 {
			continue
		}
		var sum float64
		n := 0
		for a := 0; a < len(g); a++ {
			for b := a + 1; b < len(g); b++ {
				sum += float64(vectorindex.Dot(cents[g[a]], cents[g[b]]))
				n++
			}
		}
		spread[h] = sum / float64(n)
		all = append(all, spread[h])
	}
	if len(all) < 5 {
		return nil
	}
	med := median(all)
	dev := make([]float64, len(all))
	for i, v := range all {
		dev[i] = math.Abs(v - med)
	}
	cut := med - median(dev)
	out := map[string]bool{}
	for h, v := range spread {
		if v < cut {
			out[h] = true
		}
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Resolve returns the product types a query means (none when no type is clear enough).
func (in *Intents) Resolve(ctx context.Context, text string) (selection.Intent, error) {
	ev, stems, flat, err := in.evidence(ctx, text)
	if err != nil {
		return selection.Intent{}, err
	}
	it := in.cfg.Decide(ev, stems)
	if q := strings.Join(strings.Fields(flat), " "); q != strings.Join(strings.Fields(strings.ReplaceAll(text, ",", " ")), " ") {
		it.Query = q
	}
	return it, nil
}

// Decide turns the evidence into an intent with c's weights (c must have its defaults).
func (c IntentConfig) Decide(ev []TypeScore, stems []string) selection.Intent {
	var it selection.Intent
	if len(ev) == 0 {
		return it
	}
	sc := make([]TypeScore, len(ev))
	copy(sc, ev)
	named := false
	for i := range sc {
		e := &sc[i]
		if e.NameMatch == siblingClass {
			e.NameMatch = 0
			if len(e.SiblingOf) == 0 {
				e.NameMatch = max(c.Sibling, 0)
			}
			for _, k := range e.Kin {
				if c.SiblingKin > 0 && k.Cos >= c.SiblingKin && slices.Contains(e.SiblingOf, k.Name) {
					e.NameMatch = 0.75
				}
			}
		}
		named = named || e.NameMatch > 0
	}
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
	sort.Slice(sc, func(a, b int) bool {
		if sc[a].Score != sc[b].Score {
			return sc[a].Score > sc[b].Score
		}
		return sc[a].Name < sc[b].Name
	})
	byName := make(map[string]*TypeScore, len(sc))
	for i := range sc {
		byName[sc[i].Name] = &sc[i]
	}
	best := sc[0].Score
	if best < c.MinScore {
		return it
	}
	chosen := map[string]bool{}
	for _, e := range sc {
		if len(it.Types) >= c.MaxTypes || e.Score < c.Keep*best {
			break
		}
		// An accessory of a type also meant is left out unless the query names it.
		if e.AccessoryOf != "" && chosen[e.AccessoryOf] && e.NameMatch == 0 {
			continue
		}
		chosen[e.Name] = true
		why := fmt.Sprintf("name %.2f, share of lexical matches %.2f, semantic %.1f sd", e.NameMatch, e.Lex, e.SemZ)
		if e.Alias != "" {
			why = fmt.Sprintf("%q means %s by judged queries (%.0f%% of the products judged for it); %s", e.Alias, e.Name, 100*e.AliasShare, why)
		}
		it.Types = append(it.Types, selection.IntentType{Name: e.Name, Score: math.Round(e.Score*1000) / 1000, Kind: e.Kind, Why: why})
	}
	// A type chosen on lexical and semantic evidence alone that shares a word with a named one
	// plays another part: "projector lamp" beside the named "data projector" serves it; "mouse"
	// beside the named "mouse pad" is what the pad serves. It is left out unless it is the named
	// type's kin.
	if named {
		nameWords := map[string]map[string]bool{}
		for _, e := range sc {
			if chosen[e.Name] {
				ws := map[string]bool{}
				for _, w := range lexical.Analyze(e.Name) {
					ws[w] = true
				}
				nameWords[e.Name] = ws
			}
		}
		kept := it.Types[:0]
		for _, t := range it.Types {
			drop := false
			if byName[t.Name].NameMatch == 0 {
				for _, o := range it.Types {
					if byName[o.Name].NameMatch == 0 || o.Name == t.Name || isKin(byName[t.Name], o.Name, c.KinCos) {
						continue
					}
					for w := range nameWords[t.Name] {
						if nameWords[o.Name][w] {
							drop = true
						}
					}
				}
			}
			if drop {
				delete(chosen, t.Name)
			} else {
				kept = append(kept, t)
			}
		}
		it.Types = kept
	}
	// The chosen types' kin close enough to be the same thing named another way.
	if c.KinCos > 0 {
		n := len(it.Types)
		for _, t := range it.Types[:n] {
			for _, e := range sc {
				if e.Name != t.Name {
					continue
				}
				for _, k := range e.Kin {
					if k.Cos >= c.KinCos && !chosen[k.Name] && len(it.Types) < c.MaxTypes {
						chosen[k.Name] = true
						it.Types = append(it.Types, selection.IntentType{Name: k.Name, Score: t.Score,
							Why: fmt.Sprintf("the same products as %q by their vectors (centroid cosine %.2f)", t.Name, k.Cos)})
					}
				}
			}
		}
	}
	it.Confidence = math.Min(1, best)
	it.Widen, it.Named = !c.Strict, sc[0].NameMatch > 0
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

// ResolveIntent is Resolve under the name selection.IntentResolver asks for.
func (in *Intents) ResolveIntent(ctx context.Context, text string) (selection.Intent, error) {
	return in.Resolve(ctx, text)
}
