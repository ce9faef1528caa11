package tagger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/filter"
)

// Define creates a tag and computes its members (rule tags from the index; prototype and
// propagated tags from the vectors, which must be configured). A rule may refer to other
// tags, but not in a cycle.
func (t *Tagger) Define(ctx context.Context, def TagDef) (TagDef, error) {
	if err := def.Definition.Validate(def.Kind); err != nil {
		return def, fmt.Errorf("tag %q: %w", def.Name, err)
	}
	if def.Kind != KindRule && def.Kind != KindDiscovered && t.vectors == nil {
		return def, fmt.Errorf("tag %q: %s: %w", def.Name, def.Kind, ErrNoVectors)
	}
	if def.Kind == KindRule {
		if err := t.checkRule(ctx, def); err != nil {
			return def, err
		}
	}
	// t.mu is held from the insert until the members are in the index: no poll or tag sync
	// sees the tag half-made, and nothing in this process finds it before it has its members
	// (a search or a pool naming it meanwhile gets ErrUnknownTag, not an empty answer saved).
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.loaded {
		return def, errors.New("tagger: not loaded")
	}
	created, err := t.store.CreateTag(ctx, def)
	if err != nil {
		return def, err
	}
	if err := t.rebuildLocked(ctx, created.Name); err != nil {
		// A tag whose members cannot be computed is not kept. It never reached this index; only
		// another process's sync can have shown it (and a pool there named it): then it stays,
		// and every process's sync builds it.
		t.ix.DropTag(created.Name)
		if _, derr := t.store.DeleteUnreferenced(context.WithoutCancel(ctx), created.Name, t.cfg.Referrers); derr != nil {
			t.cfg.Logger.Warn("tagger: a tag whose build failed could not be taken back", "tag", created.Name, "err", derr)
		}
		return created, err
	}
	return created, nil
}

// checkRule refuses a rule naming an unknown tag or closing a cycle of rule tags.
func (t *Tagger) checkRule(ctx context.Context, def TagDef) error {
	tags, err := t.store.Tags(ctx)
	if err != nil {
		return err
	}
	byName := map[string]TagDef{}
	for _, tg := range tags {
		byName[lowerName(tg.Name)] = tg
	}
	var walk func(names []string, path []string) error
	walk = func(names []string, path []string) error {
		for _, n := range names {
			if strings.EqualFold(n, def.Name) {
				return fmt.Errorf("tag %q: rule refers to itself through %s", def.Name, strings.Join(append(path, n), " -> "))
			}
			dep, ok := byName[lowerName(n)]
			if !ok {
				return fmt.Errorf("tag %q: rule refers to %w %q", def.Name, filter.ErrUnknownTag, n)
			}
			if dep.Kind == KindRule && dep.Definition.Rule != nil {
				if err := walk(dep.Definition.Rule.Tags(), append(path, n)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(def.Definition.TagRefs(), []string{def.Name})
}

// Delete removes a tag (named in any case) from the database and the index. It refuses, with
// ErrInUse and the referrers' names, while another tag's definition or anything
// Config.Referrers lists (the service's pools) refers to it (Store.DeleteUnreferenced).
func (t *Tagger) Delete(ctx context.Context, name string) error {
	t.mu.Lock() // no poll between the delete and the index dropping the tag
	defer t.mu.Unlock()
	def, err := t.store.DeleteUnreferenced(ctx, name, t.cfg.Referrers)
	if err != nil {
		return err
	}
	t.ix.DropTag(def.Name)
	t.dirty = true
	return nil
}

// Explanation says why a SKU is or is not a member of a tag.
type Explanation struct {
	Tag        string  `json:"tag"`
	Kind       Kind    `json:"kind"`
	SKUID      int64   `json:"sku_id,string"`
	Ordinal    int64   `json:"ordinal"`
	Live       bool    `json:"live"`
	Member     bool    `json:"member"`
	Confidence float64 `json:"confidence"`
	// Rule tags: the rule and every predicate's value for this SKU.
	Rule       string           `json:"rule,omitempty"`
	Predicates []PredicateValue `json:"predicates,omitempty"`
	// Prototype tags: the best similarity, to which prototype, and the threshold.
	Similarity float64 `json:"similarity,omitempty"`
	Prototype  string  `json:"prototype,omitempty"`
	Threshold  float64 `json:"threshold,omitempty"`
	// Propagated tags: whether the SKU is a seed, its neighbours and their votes.
	Seed    bool    `json:"seed,omitempty"`
	Vote    float64 `json:"vote,omitempty"`
	MinVote float64 `json:"min_vote,omitempty"`
	// Lift is how much more a carrying neighbour's vote weighs (Definition.Balance).
	Lift       float64         `json:"lift,omitempty"`
	Neighbours []NeighbourVote `json:"neighbours,omitempty"`
	// Discovered tags: the similarity to this cluster's centroid and to the nearest one.
	Cluster string `json:"cluster,omitempty"`
	Why     string `json:"why"`
}

// PredicateValue is one leaf of a rule evaluated for one SKU.
type PredicateValue struct {
	Predicate string `json:"predicate"`
	Value     string `json:"value"`
	Holds     bool   `json:"holds"`
}

// Explain says why the SKU is or is not a member of the tag.
func (t *Tagger) Explain(ctx context.Context, tagName string, skuID int64) (Explanation, error) {
	tg, err := t.store.Tag(ctx, tagName)
	if err != nil {
		return Explanation{}, err
	}
	o, ok := t.ix.Ordinal(skuID)
	if !ok {
		return Explanation{}, fmt.Errorf("sku %d: %w", skuID, ErrNotFound)
	}
	row, _ := t.ix.Row(o)
	ex := Explanation{Tag: tg.Name, Kind: tg.Kind, SKUID: skuID, Ordinal: o, Live: row.Live}
	single := roaring64.BitmapOf(uint64(o))
	if conf, err := t.ix.Confidence(tg.Name, o); err == nil {
		ex.Confidence = conf
		ex.Member = conf > 0
		if m, err := t.ix.EvalWithin(filter.Tag(tg.Name), single); err == nil {
			ex.Member = !m.IsEmpty()
		}
	}
	if !row.Live {
		ex.Why = "the SKU is deleted: deleted SKUs belong to no tag"
		return ex, nil
	}
	switch tg.Kind {
	case KindRule:
		t.explainRule(&ex, &tg, row, single)
	case KindPrototype:
		t.explainPrototype(&ex, &tg)
	case KindPropagated:
		if err := t.explainPropagated(ctx, &ex, &tg); err != nil {
			return ex, err
		}
	case KindDiscovered:
		t.explainDiscovered(&ex, &tg)
	}
	return ex, nil
}

// explainRule fills in the rule and every leaf predicate's value and truth for the SKU single
// holds.
func (t *Tagger) explainRule(ex *Explanation, tg *TagDef, row filter.Row, single *roaring64.Bitmap) {
	o := ex.Ordinal
	rule := tg.Definition.ruleExpr()
	ex.Rule = rule.String()
	if len(tg.Definition.Words) > 0 {
		ex.Rule += " and " + wordsText(tg.Definition.Words)
	}
	var leaves func(e filter.Expr)
	leaves = func(e filter.Expr) {
		switch e.Op {
		case filter.OpAnd, filter.OpOr, filter.OpNot:
			for _, a := range e.Args {
				leaves(a)
			}
			return
		}
		pv := PredicateValue{Predicate: e.String()}
		switch e.Op {
		case filter.OpTag:
			c, _ := t.ix.Confidence(e.Name, o)
			pv.Value = fmt.Sprintf("member=%v", c > 0)
		case filter.OpAttr, filter.OpRange:
			pv.Value, _ = row.Get(e.Field)
		case filter.OpAll:
			pv.Value = "live"
		}
		m, err := t.ix.EvalWithin(e, single)
		pv.Holds = err == nil && !m.IsEmpty()
		ex.Predicates = append(ex.Predicates, pv)
	}
	leaves(rule)
	if words := tg.Definition.Words; len(words) > 0 {
		var held []string
		for _, w := range words {
			if !t.store.holding(wordTerms([]string{w}), single).IsEmpty() {
				held = append(held, w)
			}
		}
		pv := PredicateValue{Predicate: wordsText(words), Holds: len(held) > 0, Value: "none of them"}
		if len(held) > 0 {
			pv.Value = strings.Join(held, ", ")
		}
		ex.Predicates = append(ex.Predicates, pv)
	}
	if ex.Member {
		ex.Why = "the rule holds: " + ex.Rule
	} else {
		ex.Why = "the rule does not hold: " + ex.Rule
	}
}

// explainPrototype fills in the SKU's best similarity, to which prototype, and the threshold.
func (t *Tagger) explainPrototype(ex *Explanation, tg *TagDef) {
	m, ok := t.model(tg.ID)
	v, hasV := t.vectorOf(ex.Ordinal)
	if !ok || !hasV {
		ex.Why = "no prototype model or no vector for this SKU yet"
		return
	}
	_, labels, _ := t.prototypeLabels(&tg.Definition)
	rules := m.rules()
	if at, why := protoMatch(v, t.ix.TypeOf(ex.Ordinal), m.Vectors, rules); at >= 0 {
		ex.Similarity, ex.Threshold = dot(v, m.Vectors[at]), rules[at].threshold
		if at < len(labels) {
			ex.Prototype = labels[at]
		}
		ex.Why = fmt.Sprintf("to %s: %s", ex.Prototype, why)
		return
	}
	s, at := bestSim(v, m.Vectors)
	ex.Similarity, ex.Threshold = s, float64(m.Threshold)
	if at >= 0 && at < len(labels) {
		ex.Prototype, ex.Threshold = labels[at], rules[at].threshold
	}
	typ := t.ix.TypeOf(ex.Ordinal)
	if at >= 0 && s >= ex.Threshold {
		ex.Why = fmt.Sprintf("similarity %.3f to %s reaches its calibrated threshold %.3f, but its type %q is another kind than the types the prototype names, and its SKUs lie farther from it than theirs", s, ex.Prototype, ex.Threshold, typ)
		return
	}
	ex.Why = fmt.Sprintf("similarity %.3f to %s, the nearest prototype, is below its calibrated threshold %.3f, and its type %q is not one the prototype names whose SKUs mostly reach the type floor", s, ex.Prototype, ex.Threshold, typ)
}

// explainPropagated fills in whether the SKU is a seed, else its neighbours and their weighted
// vote against the tag's minimum.
func (t *Tagger) explainPropagated(ctx context.Context, ex *Explanation, tg *TagDef) error {
	o := ex.Ordinal
	p, err := t.propagation(ctx, tg)
	if err != nil {
		return err
	}
	ex.MinVote, ex.Lift = p.minVote, p.lift
	if p.seeds.Contains(uint64(o)) {
		ex.Seed = true
		ex.Why = "the SKU is a seed of the tag"
		return nil
	}
	v, hasV := t.vectorOf(o)
	if !hasV {
		ex.Why = "the SKU has no vector yet"
		return nil
	}
	vote, err := p.vote(ctx, t.vectors, o, v)
	if err != nil {
		return err
	}
	ex.Vote, ex.Neighbours = vote.Share, vote.Neighbours
	carriers := 0
	for _, n := range vote.Neighbours {
		if n.Carries {
			carriers++
		}
	}
	rel := "below"
	if vote.Share >= p.minVote && vote.Share > 0 {
		rel = "reaches"
	}
	ex.Why = fmt.Sprintf("%d of its %d nearest neighbours carry the tag: weighted vote %.2f %s the minimum %.2f",
		carriers, len(vote.Neighbours), vote.Share, rel, p.minVote)
	if p.lift != 1 {
		ex.Why += fmt.Sprintf(" (a carrier's vote weighs %.2f times another's: the seeds are %.1f%% of the voters)", p.lift, 100*p.prior)
	}
	if p.scope != nil && !p.scope.Contains(uint64(o)) {
		ex.Why += "; but the SKU is outside the tag's scope"
	}
	return nil
}

// explainDiscovered fills in the SKU's similarity to the cluster's centroid.
func (t *Tagger) explainDiscovered(ex *Explanation, tg *TagDef) {
	m, ok := t.model(tg.ID)
	v, hasV := t.vectorOf(ex.Ordinal)
	if !ok || !hasV || len(m.Vectors) != 1 {
		ex.Why = "no centroid or no vector for this SKU yet"
		return
	}
	ex.Similarity = dot(normalize(v), m.Vectors[0])
	ex.Cluster = fmt.Sprintf("%s #%d (%s)", tg.Definition.Family, tg.Definition.Cluster, strings.Join(tg.Definition.Terms, ", "))
	if ex.Member {
		ex.Why = fmt.Sprintf("its vector is nearest to this cluster's centroid (similarity %.3f)", ex.Similarity)
	} else {
		ex.Why = fmt.Sprintf("its vector is nearer another cluster of %s (similarity to this one %.3f)", tg.Definition.Family, ex.Similarity)
	}
}

func (t *Tagger) model(id int64) (Model, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.models[id]
	return m, ok
}

func (t *Tagger) vectorOf(o int64) ([]float32, bool) {
	if t.vectors == nil {
		return nil, false
	}
	v, ok := t.vectors.Vector(o)
	if !ok {
		return nil, false
	}
	return normalize(v), true
}

func (t *Tagger) prototypeLabels(d *Definition) ([][]float32, []string, error) {
	var labels []string
	for _, s := range d.Descriptions {
		labels = append(labels, fmt.Sprintf("description %q", s))
	}
	for _, id := range d.Examples {
		labels = append(labels, fmt.Sprintf("example SKU %d", id))
	}
	return nil, labels, nil
}

// Calibration returns how a prototype tag's threshold was chosen.
func (t *Tagger) Calibration(name string) (Calibration, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, m := range t.models {
		if tc := t.tagByID(id); tc != nil && strings.EqualFold(tc.Name, name) {
			var c Calibration
			if err := json.Unmarshal(m.Calibration, &c); err != nil {
				return c, err
			}
			return c, nil
		}
	}
	return Calibration{}, fmt.Errorf("calibration of %q: %w", name, ErrNotFound)
}

func (t *Tagger) tagByID(id int64) *filter.TagInfo {
	for _, tc := range t.ix.Tags() {
		if tc.ID == id {
			info := tc.TagInfo
			return &info
		}
	}
	return nil
}

var _ = errors.New
var _ = math.Inf
