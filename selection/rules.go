package selection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/filter"
)

// Merchandising rules: boost and bury rules nudge the ranked list, slots reserve positions.
//
// A rule's move is measured against the list's own spread, not its scores' units: the ranked
// list is read as positions on [0, 1] (the first item 1, the last 0), each rule adds
// Factor x RuleReach to the position of every item its filter holds, and the list is sorted
// again by the sum. With RuleReach 0.5 and the rules' total bounded to [-1, 1], a boosted item
// moves up at most half the list: the best items of the ranking stay above any item that began
// in its second half, so a rule nudges relevance (or sales, or price) and never replaces it.
// Rules apply after the ranking and before slots and pins, over the best 2 x limit SKUs of the
// ranking (depth).
//
// A slot reserves positions From..To (1-based, in the final list) for the best-ranked items its
// filter holds; pins keep their positions first. A slot no item fills is left to the ranking,
// with a warning.

const (
	// MaxRules and MaxSlots bound a plan's rules and slots.
	MaxRules = 20
	MaxSlots = 10
	// RuleReach is how far, as a share of the list, a rule of factor 1 moves an item.
	RuleReach = 0.5
)

// Rule boosts (Factor > 0) or buries (Factor < 0) the items its filter holds.
type Rule struct {
	// Name labels the rule in explanations; default the filter's text.
	Name string `json:"name,omitempty"`
	// Filter selects the items the rule moves. In JSON it is the filter's text ("brand =
	// Logitech", "stock < 5", "tag = clearance") or a filter expression object.
	Filter filter.Expr `json:"-"`
	// Factor in [-1, 1], not 0: 1 moves an item up by half the list, -1 down by half.
	Factor float64 `json:"factor"`
}

// Slot reserves positions From..To of the pool for items its filter holds.
type Slot struct {
	Name   string      `json:"name,omitempty"`
	From   int         `json:"from"`
	To     int         `json:"to"`
	Filter filter.Expr `json:"-"`
}

// label is how explanations name a rule or slot.
func label(name string, f filter.Expr) string {
	if name != "" {
		return name
	}
	return f.String()
}

// filterJSON is the wire form of a rule's or slot's filter: its text.
type ruleJSON struct {
	Name   string          `json:"name,omitempty"`
	Filter json.RawMessage `json:"filter"`
	Factor float64         `json:"factor"`
}

type slotJSON struct {
	Name   string          `json:"name,omitempty"`
	From   int             `json:"from"`
	To     int             `json:"to"`
	Filter json.RawMessage `json:"filter"`
}

// decodeFilter reads a rule's filter: a JSON string of filter text, or an expression object.
func decodeFilter(raw json.RawMessage) (filter.Expr, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return filter.Expr{}, errors.New("filter is required")
	}
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		if strings.TrimSpace(text) == "" {
			return filter.Expr{}, errors.New("filter is required")
		}
		return filter.ParseExpr(text)
	}
	return filter.ParseExprJSON(raw)
}

// MarshalJSON writes the filter as its text.
func (r Rule) MarshalJSON() ([]byte, error) {
	f, err := json.Marshal(r.Filter.String())
	if err != nil {
		return nil, err
	}
	return json.Marshal(ruleJSON{Name: r.Name, Filter: f, Factor: r.Factor})
}

// UnmarshalJSON reads a rule; its filter may be text or an expression object.
func (r *Rule) UnmarshalJSON(b []byte) error {
	var j ruleJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	f, err := decodeFilter(j.Filter)
	if err != nil {
		return fmt.Errorf("rule: %w", err)
	}
	*r = Rule{Name: j.Name, Filter: f, Factor: j.Factor}
	return nil
}

// MarshalJSON writes the filter as its text.
func (s Slot) MarshalJSON() ([]byte, error) {
	f, err := json.Marshal(s.Filter.String())
	if err != nil {
		return nil, err
	}
	return json.Marshal(slotJSON{Name: s.Name, From: s.From, To: s.To, Filter: f})
}

// UnmarshalJSON reads a slot; its filter may be text or an expression object.
func (s *Slot) UnmarshalJSON(b []byte) error {
	var j slotJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	f, err := decodeFilter(j.Filter)
	if err != nil {
		return fmt.Errorf("slot: %w", err)
	}
	*s = Slot{Name: j.Name, From: j.From, To: j.To, Filter: f}
	return nil
}

// depth is how many ranked SKUs a plan's rules and slots choose from: twice its limit (up to
// MaxLimit), so that a buried member can leave the pool and a slot can reach past it; the
// limit without rules or slots.
func (p *Plan) depth() int {
	if len(p.Rules) == 0 && len(p.Slots) == 0 {
		return p.Limit
	}
	return min(2*p.Limit, MaxLimit)
}

// Tags are the tags the plan's filter, rules and slots name (a tag in use cannot be deleted).
func (p *Plan) Tags() []string {
	var out []string
	if p.Filter != nil {
		out = append(out, p.Filter.Tags()...)
	}
	for _, f := range p.ruleFilters() {
		out = append(out, f.Tags()...)
	}
	return out
}

// ruleFilters are the filters of the plan's rules and slots.
func (p *Plan) ruleFilters() []filter.Expr {
	var out []filter.Expr
	for _, r := range p.Rules {
		out = append(out, r.Filter)
	}
	for _, s := range p.Slots {
		out = append(out, s.Filter)
	}
	return out
}

// validateRules checks a plan's rules and slots.
func (p *Plan) validateRules() error {
	if len(p.Rules) > MaxRules {
		return fmt.Errorf("%w: %d rules, at most %d", ErrInvalid, len(p.Rules), MaxRules)
	}
	if len(p.Slots) > MaxSlots {
		return fmt.Errorf("%w: %d slots, at most %d", ErrInvalid, len(p.Slots), MaxSlots)
	}
	for i, r := range p.Rules {
		if math.IsNaN(r.Factor) || r.Factor < -1 || r.Factor > 1 || r.Factor == 0 {
			return fmt.Errorf("%w: rule %d: factor %v, want a number in [-1, 1] other than 0", ErrInvalid, i+1, r.Factor)
		}
		if err := r.Filter.Validate(); err != nil {
			return fmt.Errorf("%w: rule %d: filter: %v", ErrInvalid, i+1, err)
		}
		if len(r.Name) > MaxCampaignBytes {
			return fmt.Errorf("%w: rule %d: name longer than %d bytes", ErrInvalid, i+1, MaxCampaignBytes)
		}
	}
	taken := map[int]int{}
	for i, s := range p.Slots {
		if s.From < 1 || s.To < s.From || s.To > p.Limit {
			return fmt.Errorf("%w: slot %d: positions %d-%d, want 1 <= from <= to <= limit (%d)", ErrInvalid, i+1, s.From, s.To, p.Limit)
		}
		if err := s.Filter.Validate(); err != nil {
			return fmt.Errorf("%w: slot %d: filter: %v", ErrInvalid, i+1, err)
		}
		if len(s.Name) > MaxCampaignBytes {
			return fmt.Errorf("%w: slot %d: name longer than %d bytes", ErrInvalid, i+1, MaxCampaignBytes)
		}
		for pos := s.From; pos <= s.To; pos++ {
			if o, ok := taken[pos]; ok {
				return fmt.Errorf("%w: slots %d and %d both reserve position %d", ErrInvalid, o+1, i+1, pos)
			}
			taken[pos] = i
		}
	}
	return nil
}

// applyRules moves the ranked items by the plan's rules (see the package comment above).
func (e *Executor) applyRules(ctx context.Context, rules []Rule, ranked []Item, res *Result) error {
	if len(rules) == 0 || len(ranked) < 2 {
		return nil
	}
	n := len(ranked)
	shift := make([]float64, n)
	moved := make([][]string, n)
	within := ordinalsOf(ranked)
	for _, r := range rules {
		name := label(r.Name, r.Filter)
		bm, err := e.Index.EvalWithinContext(ctx, r.Filter, within)
		if err != nil {
			return fmt.Errorf("%w: rule %q: %w", ErrInvalid, name, err)
		}
		if bm.IsEmpty() {
			res.Warnings = append(res.Warnings, fmt.Sprintf("rule %q moves no SKU of this pool", name))
			continue
		}
		why := fmt.Sprintf("%s %+.2f", name, r.Factor)
		for i := range ranked {
			if bm.Contains(uint64(ranked[i].Ordinal)) {
				shift[i] += r.Factor * RuleReach
				moved[i] = append(moved[i], why)
			}
		}
	}
	type keyed struct {
		it  Item
		key float64
	}
	ks := make([]keyed, n)
	for i, it := range ranked {
		s := math.Max(-RuleReach, math.Min(RuleReach, shift[i]))
		if len(moved[i]) > 0 {
			verb := "boosted"
			if s < 0 {
				verb = "buried"
			}
			it.Rules = moved[i]
			it.Why = fmt.Sprintf("%s by %s; %s", verb, strings.Join(moved[i], ", "), it.Why)
		}
		ks[i] = keyed{it, 1 - float64(i)/float64(n-1) + s}
	}
	sort.SliceStable(ks, func(a, b int) bool { return ks[a].key > ks[b].key })
	for i := range ks {
		ranked[i] = ks[i].it
	}
	return nil
}

// ordinalsOf is the items' ordinals as a bitmap.
func ordinalsOf(items []Item) *roaring64.Bitmap {
	bm := roaring64.New()
	for _, it := range items {
		bm.Add(uint64(it.Ordinal))
	}
	return bm
}

// slotSets evaluates the slots' filters over the ranked items.
func (e *Executor) slotSets(ctx context.Context, slots []Slot, ranked []Item) ([]*roaring64.Bitmap, error) {
	if len(slots) == 0 {
		return nil, nil
	}
	out := make([]*roaring64.Bitmap, len(slots))
	within := ordinalsOf(ranked)
	for i, s := range slots {
		bm, err := e.Index.EvalWithinContext(ctx, s.Filter, within)
		if err != nil {
			return nil, fmt.Errorf("%w: slot %q: %w", ErrInvalid, label(s.Name, s.Filter), err)
		}
		out[i] = bm
	}
	return out, nil
}
