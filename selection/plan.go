package selection

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"selection/catalog"
	"selection/filter"
)

// PlanVersion is the version of the plan schema (selection/plan.schema.json).
const PlanVersion = 1

// Limits of a plan.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
	// MaxCampaignBytes bounds a plan's campaign label.
	MaxCampaignBytes = 100
	// MaxPins, MaxExclusions and MaxExcludeTerms bound a plan's pins, exclusions and
	// excluded words (each pin and exclusion is a map entry on every run of the plan).
	MaxPins         = 1000
	MaxExclusions   = 10000
	MaxExcludeTerms = 100
)

// Plan is what a scenario compiles to, what a planner reviews and edits, and what a pool
// re-runs on every refresh. Its JSON form is documented by selection/plan.schema.json.
type Plan struct {
	Version int `json:"version"`
	// Query is the semantic query: what the products are. Empty: the filter alone selects.
	Query string `json:"query"`
	// Filter is an exact filter over the tag index (tags, categorical values, numeric ranges;
	// and, or, not). Absent: every live SKU.
	Filter *filter.Expr `json:"filter,omitempty"`
	// Intent, when it names product types, restricts the plan to SKUs of those types (learned
	// from the catalogue: the tag index's product_type field); the query then ranks them.
	Intent *Intent `json:"intent,omitempty"`
	// ExcludeTerms drops products whose title or description mentions any of these words.
	ExcludeTerms []string `json:"exclude_terms,omitempty"`
	Ranking      Ranking  `json:"ranking"`
	Limit        int      `json:"limit"`
	// Pins come first, in this order, when they are live; Exclusions never appear.
	Pins       IDs `json:"pins,omitempty"`
	Exclusions IDs `json:"exclusions,omitempty"`
	// Rules boost or bury the items their filters hold; Slots reserve positions for items
	// their filters hold (rules.go).
	Rules []Rule `json:"rules,omitempty"`
	Slots []Slot `json:"slots,omitempty"`
	// Guard is the pool's safety net on refresh (guard.go); nil: every refresh publishes.
	Guard *Guard `json:"guard,omitempty"`
	// Currency of the money amounts in Filter (informational; prices are minor units).
	Currency string `json:"currency,omitempty"`
	Campaign string `json:"campaign,omitempty"`
}

// Ranking orders a pool.
type Ranking struct {
	// By is relevance, sales, price_asc, price_desc, newest, rating or blend.
	By string `json:"by"`
	// Weights of a blend, over relevance, sales, rating, discount, newest and cheap (each >= 0).
	Weights map[string]float64 `json:"weights,omitempty"`
}

var rankings = map[string]bool{SortRelevance: true, SortSales: true, SortPriceAsc: true,
	SortPriceDesc: true, SortNewest: true, SortRating: true, SortBlend: true}

// BlendSignals are the signals a blend may weigh.
var BlendSignals = []string{"relevance", "sales", "rating", "discount", "newest", "cheap"}

// Validate checks a plan: its version, filter, ranking and bounds.
func (p *Plan) Validate() error {
	if p.Version != PlanVersion {
		return fmt.Errorf("%w: plan version %d (this service speaks %d)", ErrInvalid, p.Version, PlanVersion)
	}
	if len(p.Query) > MaxScenarioBytes {
		return fmt.Errorf("%w: query longer than %d bytes", ErrInvalid, MaxScenarioBytes)
	}
	if p.Filter != nil {
		if err := p.Filter.Validate(); err != nil {
			return fmt.Errorf("%w: filter: %v", ErrInvalid, err)
		}
	}
	if err := p.Intent.validate(); err != nil {
		return err
	}
	if !rankings[p.Ranking.By] {
		return fmt.Errorf("%w: ranking %q (want one of relevance, sales, price_asc, price_desc, newest, rating, blend)", ErrInvalid, p.Ranking.By)
	}
	if p.Ranking.By == SortBlend {
		total := 0.0
		for k, w := range p.Ranking.Weights {
			if !contains(BlendSignals, k) {
				return fmt.Errorf("%w: blend weight %q (signals: %s)", ErrInvalid, k, strings.Join(BlendSignals, ", "))
			}
			if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
				return fmt.Errorf("%w: blend weight %s must be a finite number >= 0", ErrInvalid, k)
			}
			total += w
		}
		if total == 0 {
			return fmt.Errorf("%w: a blend needs at least one positive weight", ErrInvalid)
		}
	}
	if p.Limit < 1 || p.Limit > MaxLimit {
		return fmt.Errorf("%w: limit %d outside 1..%d", ErrInvalid, p.Limit, MaxLimit)
	}
	if len(p.Campaign) > MaxCampaignBytes {
		return fmt.Errorf("%w: campaign longer than %d bytes", ErrInvalid, MaxCampaignBytes)
	}
	if !currencyCode(p.Currency) {
		return fmt.Errorf("%w: currency %.20q, want an ISO 4217 code (three capital letters) or none", ErrInvalid, p.Currency)
	}
	for _, l := range []struct {
		what     string
		n, limit int
	}{{"pins", len(p.Pins), MaxPins}, {"exclusions", len(p.Exclusions), MaxExclusions}, {"excluded terms", len(p.ExcludeTerms), MaxExcludeTerms}} {
		if l.n > l.limit {
			return fmt.Errorf("%w: %d %s, at most %d", ErrInvalid, l.n, l.what, l.limit)
		}
	}
	if err := p.Guard.validate(p.Limit); err != nil {
		return err
	}
	return p.validateRules()
}

// currencyCode reports whether c is empty or three capital ASCII letters.
func currencyCode(c string) bool {
	if c == "" {
		return true
	}
	if len(c) != 3 {
		return false
	}
	for i := range len(c) {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ReferenceRates convert scenario amounts into the catalogue currency: units of each currency per
// US dollar. They are fixed reference rates (not live quotes), recorded in the plan's notes
// whenever a conversion happens.
var ReferenceRates = map[string]float64{"USD": 1, "SGD": 1.35, "MYR": 4.7, "THB": 36, "IDR": 16000,
	"PHP": 58, "VND": 25000}

// convert moves minor units of from into minor units of to, through the reference rates.
func convert(v int64, from, to string) int64 {
	if from == to {
		return v
	}
	rf, rt := ReferenceRates[from], ReferenceRates[to]
	if rf == 0 || rt == 0 {
		return v
	}
	major := float64(v) / math.Pow10(CurrencyExponent[from])
	out := major / rf * rt * math.Pow10(CurrencyExponent[to])
	if out > math.MaxInt64/2 {
		return math.MaxInt64 / 2
	}
	return int64(math.Round(out))
}

// FromParsed compiles what the parser understood into a plan. Money amounts are converted into
// catalogCurrency (the currency the catalogue's prices are in) when the scenario used another;
// notes say so.
func FromParsed(p Parsed, catalogCurrency string) (Plan, []string) {
	var notes []string
	plan := Plan{Version: PlanVersion, Query: p.Query, Limit: DefaultLimit, Campaign: p.Campaign,
		Ranking: Ranking{By: SortRelevance}, ExcludeTerms: p.ExcludeTerms}
	if p.Limit > 0 {
		plan.Limit = min(p.Limit, MaxLimit)
	}
	if p.Sort != "" {
		plan.Ranking.By = p.Sort
	}
	plan.Rules = p.Rules
	if len(plan.Rules) > MaxRules {
		plan.Rules = plan.Rules[:MaxRules]
		notes = append(notes, fmt.Sprintf("only the first %d boost and bury phrases became rules", MaxRules))
	}
	for _, sl := range p.Slots {
		sl.To = min(sl.To, plan.Limit)
		if len(plan.Slots) == MaxSlots || (len(plan.Slots) > 0 && sl.From <= plan.Slots[len(plan.Slots)-1].To) {
			notes = append(notes, fmt.Sprintf("positions %d-%d for %s overlap an earlier slot: left out", sl.From, sl.To, sl.Name))
			continue
		}
		plan.Slots = append(plan.Slots, sl)
	}
	if plan.Query == "" && plan.Ranking.By == SortRelevance {
		plan.Ranking.By = SortSales // nothing to be relevant to: best sellers first
		notes = append(notes, "no product words left in the scenario: ranking by sales")
	}
	var parts []filter.Expr
	if len(p.Markets) > 0 {
		parts = append(parts, filter.Attr("market", append(append([]string(nil), p.Markets...), catalog.MarketAll)...))
	}
	if p.PriceMin != nil || p.PriceMax != nil {
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		if p.PriceMin != nil {
			lo = convert(*p.PriceMin, p.Currency, catalogCurrency)
		}
		if p.PriceMax != nil {
			hi = convert(*p.PriceMax, p.Currency, catalogCurrency)
		}
		if p.Currency != catalogCurrency {
			notes = append(notes, fmt.Sprintf("prices converted from %s to %s at the reference rate %.4g %s per %s",
				p.Currency, catalogCurrency, ReferenceRates[p.Currency]/ReferenceRates[catalogCurrency], p.Currency, catalogCurrency))
		}
		parts = append(parts, filter.Range("price", lo, hi))
		plan.Currency = catalogCurrency
	}
	if len(p.Brands) > 0 {
		parts = append(parts, filter.Attr("brand", p.Brands...))
	}
	for _, b := range p.ExcludeBrands {
		parts = append(parts, filter.Not(filter.Attr("brand", b)))
	}
	for _, t := range p.Tags {
		parts = append(parts, filter.Tag(t))
	}
	for _, t := range p.ExcludeTags {
		parts = append(parts, filter.Not(filter.Tag(t)))
	}
	if p.InStock {
		parts = append(parts, filter.Attr("in_stock", "true"))
	}
	if p.MinDiscountPct > 0 {
		parts = append(parts, filter.AtLeast("discount", p.MinDiscountPct))
	}
	if p.MinRating > 0 {
		parts = append(parts, filter.AtLeast("rating", int64(math.Round(p.MinRating*100))))
	}
	if lo, hi := releasedDay(p.ReleasedFrom), releasedDay(p.ReleasedBefore); lo > 0 || hi > 0 {
		if hi == 0 {
			hi = math.MaxInt64
		}
		parts = append(parts, filter.Range("released", max(lo, 1), hi-1)) // 0 is "unknown"
	}
	switch len(parts) {
	case 0:
	case 1:
		plan.Filter = &parts[0]
	default:
		e := filter.And(parts...)
		plan.Filter = &e
	}
	return plan, notes
}

// IDs are SKU ids. In JSON they are strings (64-bit ids do not fit a JavaScript number); numbers
// are accepted too.
type IDs []int64

// MarshalJSON writes the ids as strings.
func (ids IDs) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(ids)*12)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = strconv.AppendInt(b, id, 10)
		b = append(b, '"')
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads strings or numbers.
func (ids *IDs) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("sku ids: want an array of ids: %w", err)
	}
	out := make(IDs, 0, len(raw))
	for _, r := range raw {
		s := strings.Trim(string(r), `"`)
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("sku id %s is not a 64-bit integer", r)
		}
		out = append(out, v)
	}
	*ids = out
	return nil
}

// releasedDay is the released column's value for a YYYY-MM-DD date, 0 for none.
func releasedDay(date string) int64 {
	v, _ := filter.ParseReleasedDate(date) // 0 on error: no bound
	return v
}
