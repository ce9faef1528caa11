package tagger

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"selection/filter"
)

// TagDef is one row of tags: a tag definition.
type TagDef struct {
	ID          int64      `json:"id"`
	Name        string     `json:"name"`
	Kind        Kind       `json:"kind"`
	Description string     `json:"description,omitempty"`
	Definition  Definition `json:"definition"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// Info is the tag's identity in the index.
func (t *TagDef) Info() filter.TagInfo {
	return filter.TagInfo{ID: t.ID, Name: t.Name, Kind: string(t.Kind)}
}

// Definition says how a tag gets its members; which fields apply depends on the kind.
type Definition struct {
	// Rule (rule tags): the members are the SKUs matching it. Words, when set, keeps only
	// the SKUs whose titles hold one of them (a phrase: all its words), compared without case
	// and plural ("game" holds "Games", not "gaming"): what the catalogue's own text says where
	// no attribute does. A rule tag with words and no rule holds every live SKU
	// whose title holds one.
	Rule  *filter.Expr `json:"rule,omitempty"`
	Words []string     `json:"words,omitempty"`

	// Descriptions and Examples (prototype tags): plain-language descriptions and example SKU
	// ids; each is a prototype vector and a SKU belongs when its best similarity to one reaches
	// the calibrated threshold.
	Descriptions []string `json:"descriptions,omitempty"`
	Examples     []int64  `json:"examples,omitempty"`

	// Seeds (propagated tags): the SKUs that carry the tag to begin with (an expression, and/or
	// SeedIDs). Reference is the set whose members vote (default: every live SKU; give the
	// labelled SKUs when the seeds are one class of a labelling). K neighbours vote (default 10),
	// weighted by similarity; a SKU joins when the seeds' share of the vote reaches MinVote
	// (default 0.5, a weighted majority), with that share as its confidence. Balance makes
	// up for seeds that are few among the voters: a carrying neighbour's vote weighs
	// ((1-p)/p)^Balance times a non-carrying one's, p the seeds' share of the reference, so a
	// small class beside a large one ("Workstation" beside "PC") is not outvoted by its
	// neighbour's size alone. 0 takes DefaultBalance; negative: no correction; at most 1
	// (the full prior correction).
	Seeds     *filter.Expr `json:"seeds,omitempty"`
	SeedIDs   []int64      `json:"seed_ids,omitempty"`
	Reference *filter.Expr `json:"reference,omitempty"`
	K         int          `json:"k,omitempty"`
	MinVote   float64      `json:"min_vote,omitempty"`
	Balance   float64      `json:"balance,omitempty"`

	// Scope (prototype and propagated tags): only SKUs matching it may become members.
	Scope *filter.Expr `json:"scope,omitempty"`

	// Discovered tags: the clustering they came from, the cluster and its distinctive terms.
	Family  string   `json:"family,omitempty"`
	Cluster int      `json:"cluster,omitempty"`
	Terms   []string `json:"terms,omitempty"`
	NamedBy string   `json:"named_by,omitempty"`
}

// ruleExpr is a rule tag's rule; without one (a tag by words alone), every live SKU.
func (d *Definition) ruleExpr() filter.Expr {
	if d.Rule == nil {
		return filter.All()
	}
	return *d.Rule
}

// TagRefs returns the names of the tags the definition's expressions refer to.
func (d *Definition) TagRefs() []string {
	var out []string
	for _, e := range []*filter.Expr{d.Rule, d.Seeds, d.Reference, d.Scope} {
		if e != nil {
			out = append(out, e.Tags()...)
		}
	}
	return out
}

// Validate checks a definition against its kind.
func (d *Definition) Validate(kind Kind) error {
	for _, e := range []*filter.Expr{d.Rule, d.Seeds, d.Reference, d.Scope} {
		if e != nil {
			if err := e.Validate(); err != nil {
				return err
			}
		}
	}
	switch kind {
	case KindRule:
		if d.Rule == nil && len(d.Words) == 0 {
			return errors.New("a rule tag needs a rule or words")
		}
		if len(d.Words) > MaxWords {
			return fmt.Errorf("%d words: at most %d", len(d.Words), MaxWords)
		}
		for _, w := range d.Words {
			if len(titleTerms(w)) == 0 {
				return fmt.Errorf("word %q has no letter or digit to look for", w)
			}
		}
	case KindPrototype:
		if len(d.Descriptions) == 0 && len(d.Examples) == 0 {
			return errors.New("a prototype tag needs descriptions or example SKUs")
		}
		for _, s := range d.Descriptions {
			if strings.TrimSpace(s) == "" {
				return errors.New("empty description")
			}
		}
	case KindPropagated:
		if d.Seeds == nil && len(d.SeedIDs) == 0 {
			return errors.New("a propagated tag needs seeds (an expression or SKU ids)")
		}
		if d.K < 0 || d.K > 1000 {
			return fmt.Errorf("k %d outside 1..1000", d.K)
		}
		if d.MinVote < 0 || d.MinVote > 1 || math.IsNaN(d.MinVote) {
			return fmt.Errorf("min_vote %v outside 0..1", d.MinVote)
		}
		if d.Balance > 1 || math.IsNaN(d.Balance) || math.IsInf(d.Balance, 0) {
			return fmt.Errorf("balance %v above 1 (negative: no correction)", d.Balance)
		}
	case KindDiscovered:
		if d.Family == "" {
			return errors.New("a discovered tag names its family")
		}
	default:
		return fmt.Errorf("unknown tag kind %q", kind)
	}
	return nil
}
