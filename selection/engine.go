package selection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/filter"
	"selection/internal/memo"
)

// Index is what the engine needs of the tag index (filter.Index implements it).
type Index interface {
	// EvalContext evaluates a filter; it stops with ctx's error when ctx is done.
	EvalContext(ctx context.Context, e filter.Expr) (*roaring64.Bitmap, error)
	// EvalWithinContext evaluates a filter over the ordinals of within only: what a few
	// hundred ranked SKUs' rules need costs that few, not the catalogue.
	EvalWithinContext(ctx context.Context, e filter.Expr, within *roaring64.Bitmap) (*roaring64.Bitmap, error)
	Live() *roaring64.Bitmap
	SKUID(ordinal int64) (int64, bool)
	Ordinal(id int64) (int64, bool)
	TopK(field string, k int, within *roaring64.Bitmap, desc bool) ([]int64, []int64, error)
	NumericValues(field string, ordinals []int64) ([]int64, error)
	// NumericSum is the sum of a numeric field over the ordinals (none with a value: 0).
	NumericSum(field string, ordinals []int64) (int64, error)
	// Row is a SKU's indexed values (false when the index does not hold the ordinal).
	Row(ordinal int64) (filter.Row, bool)
	// IsLive reports whether the ordinal is a live SKU's.
	IsLive(ordinal int64) bool
	// IDsOf is SKUID of each ordinal (0 where the index holds none).
	IDsOf(ordinals []int64) []int64
}

// Retriever ranks SKUs by relevance to a text within a candidate set.
type Retriever interface {
	// Retrieve returns up to k candidates relevant to text, best first, with a confidence in
	// the list as a whole (0..1). Candidates nil means every live SKU. It may return fewer than k
	// when few products are relevant.
	Retrieve(ctx context.Context, text string, candidates *roaring64.Bitmap, k int) (Retrieved, error)
	// Mentioning returns the ordinals of SKUs whose text contains any of the words.
	Mentioning(words []string) *roaring64.Bitmap
}

// DenseScopedRetriever is a Retriever that can restrict the semantic-only hits it adds to a
// subset of the candidates: a widening intent retrieves within the filtered set for the
// lexical matches of other types, but only its types' SKUs can join without a query word, so
// the dense scan need not cover the rest (at 1M SKUs it was 20 ms of a 25 ms scenario).
type DenseScopedRetriever interface {
	RetrieveDense(ctx context.Context, text string, candidates, dense *roaring64.Bitmap, k int) (Retrieved, error)
}

// LexicalLedRetriever is a Retriever that can leave out the semantic-only hits it would add when
// lexical matching finds fewer than k: the engine asks for that when it ranks by a field, where
// only hits within RelevantShare of the best one's relevance count and semantic-only hits rank
// below every lexical one.
type LexicalLedRetriever interface {
	RetrieveLexicalLed(ctx context.Context, text string, candidates *roaring64.Bitmap, k int) (Retrieved, error)
}

// CompleteRetriever is a Retriever that also says, without ranking, which SKUs of a set hold
// every word of a query (the hits it would mark Complete).
type CompleteRetriever interface {
	HoldingAll(text string, within *roaring64.Bitmap) *roaring64.Bitmap
}

// MentionRetriever is a Retriever that can tell which SKUs of a small set hold any of the
// words without reading the words' whole postings (the refresher's check of changed SKUs).
type MentionRetriever interface {
	MentioningAmong(words []string, within *roaring64.Bitmap) *roaring64.Bitmap
}

// CoverRetriever is a Retriever that can tell which SKUs of a small set a search for text
// would mark Complete (Hit.Complete), without searching: the refresher's check of which changed
// SKUs a widening intent can take from outside its types.
type CoverRetriever interface {
	CompleteAmong(text string, within *roaring64.Bitmap) *roaring64.Bitmap
}

// Retrieved is a Retriever's answer.
type Retrieved struct {
	Hits       []Hit
	Confidence float32
	Method     string
}

// Hit is one relevant SKU.
type Hit struct {
	Ordinal int64
	Score   float32 // relevance, higher is better
	Why     string  // how it matched, for people
	// Complete reports that the SKU's text holds every word of the query.
	Complete bool
}

// Item is one SKU of a result, in rank order.
type Item struct {
	SKUID     int64   `json:"sku_id,string"`
	Ordinal   int64   `json:"-"`
	Rank      int     `json:"rank"`
	Score     float32 `json:"score"`
	Relevance float32 `json:"relevance,omitempty"`
	Pinned    bool    `json:"pinned,omitempty"`
	// Rules names the boost and bury rules that moved the item (with their factors), Slot the
	// slot that placed it.
	Rules []string `json:"rules,omitempty"`
	Slot  string   `json:"slot,omitempty"`
	Why   string   `json:"why"`
}

// Result is what running a plan gives.
type Result struct {
	Plan       Plan              `json:"plan"`
	Items      []Item            `json:"items"`
	Members    *roaring64.Bitmap `json:"-"`
	Candidates uint64            `json:"candidates"` // SKUs passing the filter
	// Matched is how many SKUs pass the filter and are of the intent's types (Candidates when
	// the plan has no intent); Stop says why the pool holds what it holds.
	Matched    uint64             `json:"matched"`
	Stop       string             `json:"stop"`
	Confidence float32            `json:"confidence"`
	Method     string             `json:"method"`
	Warnings   []string           `json:"warnings,omitempty"`
	Timings    map[string]float64 `json:"timings_ms"`
}

// Executor runs plans against the tag index and the retriever.
type Executor struct {
	Index     Index
	Retriever Retriever
}

// rankSpec is the numeric field a sort orders by, its direction, and what a SKU's value is
// called when it explains the SKU's place.
type rankSpec struct {
	field string
	desc  bool
	label string
}

// rankField maps a sort to the numeric field and direction it orders by.
var rankField = map[string]rankSpec{
	SortSales:     {"sales_7d", true, "units sold in 7 days"},
	SortPriceAsc:  {"price", false, "price"},
	SortPriceDesc: {"price", true, "price"},
	SortRating:    {"rating", true, "rating x100"},
	SortNewest:    {"released", true, "released (days since 1970)"},
}

// Run executes a plan: the filter gives the exact candidate bitmap, exclusions and excluded
// words leave it, the retriever ranks the candidates by relevance to the query (or, without a
// query, the ranking's field orders them), the ranking reorders, and pins go first.
func (e *Executor) Run(ctx context.Context, plan Plan) (*Result, error) {
	if err := plan.Validate(); err != nil {
		return nil, err
	}
	res := &Result{Plan: plan, Timings: map[string]float64{}, Members: roaring64.New()}
	sw := stopwatch{t: time.Now(), timings: res.Timings}
	types := plan.Intent.Names()
	cand, filtered, err := e.candidates(ctx, plan, types, res)
	if err != nil {
		return nil, err
	}
	sw.lap("filter")

	by := plan.Ranking.By
	query := strings.TrimSpace(plan.Query)
	var ranked []Item
	switch {
	case len(types) > 0 && by != SortRelevance && by != SortBlend:
		// The intent decides the set; the field orders all of it.
		if ranked, err = e.rankTypesBy(ctx, plan, query, cand, filtered, res); err != nil {
			return nil, err
		}
		res.Method, res.Confidence = "intent+"+by, float32(plan.Intent.Confidence)
		sw.lap("rank")
	case query != "" && e.Retriever != nil:
		if ranked, err = e.rankByQuery(ctx, plan, query, types, cand, filtered, res, &sw); err != nil {
			return nil, err
		}
	default:
		if ranked, err = e.rankWithoutQuery(ctx, plan, query, cand, res); err != nil {
			return nil, err
		}
		sw.lap("rank")
	}

	if err := e.applyRules(ctx, plan.Rules, ranked, res); err != nil {
		return nil, err
	}
	if res.Items, err = e.withPins(ctx, plan, ranked, res); err != nil {
		return nil, err
	}
	// In order, so that each container takes its values at its end rather than by insertion.
	ords := make([]uint64, len(res.Items))
	for i, it := range res.Items {
		ords[i] = uint64(it.Ordinal)
	}
	slices.Sort(ords)
	res.Members.AddMany(ords)
	res.Stop = stopReason(res, plan, len(types) > 0)
	sw.lap("assemble")
	return res, nil
}

// stopwatch records the time of each stage of a run, in milliseconds to two decimals.
type stopwatch struct {
	t       time.Time
	timings map[string]float64
}

// lap records the time since the previous lap as the stage's.
func (w *stopwatch) lap(stage string) {
	now := time.Now()
	w.timings[stage] = math.Round(float64(now.Sub(w.t).Microseconds())/10) / 100
	w.t = now
}

// candidates is the plan's candidate set (cand): what the filter passes, less the exclusions
// and the SKUs mentioning an excluded word, narrowed to the intent's types. filtered is the set
// before the intent when a widening intent needs it (else cand). It sets res.Candidates and
// res.Matched.
//
// In a refresh pass (memo.Scope) the pools with the same filter, exclusions and intent (one
// brief's copies in one market, whatever their size, ranking or pins) share the sets: callers
// only read them.
func (e *Executor) candidates(ctx context.Context, plan Plan, types []string, res *Result) (cand, filtered *roaring64.Bitmap, err error) {
	scope := memo.ScopeFrom(ctx)
	if scope == nil {
		return e.candidatesNow(ctx, plan, types, res)
	}
	raw, err := json.Marshal(struct {
		F *filter.Expr
		X IDs
		T []string
		I *Intent
	}{plan.Filter, plan.Exclusions, plan.ExcludeTerms, plan.Intent})
	if err != nil {
		return e.candidatesNow(ctx, plan, types, res)
	}
	key := scopeCandidates + string(raw)
	if got, ok := scope.Get(key, nil, nil); ok {
		c := got.(candidateSets)
		res.Candidates, res.Matched = c.candidates, c.matched
		res.Warnings = append(res.Warnings, c.warnings...)
		return c.cand, c.filtered, nil
	}
	own := &Result{}
	if cand, filtered, err = e.candidatesNow(ctx, plan, types, own); err != nil {
		return nil, nil, err
	}
	scope.Put(key, nil, candidateSets{cand: cand, filtered: filtered, candidates: own.Candidates, matched: own.Matched, warnings: own.Warnings})
	res.Candidates, res.Matched = own.Candidates, own.Matched
	res.Warnings = append(res.Warnings, own.Warnings...)
	return cand, filtered, nil
}

// candidateSets is what candidates keeps in a pass's scope.
type candidateSets struct {
	cand, filtered      *roaring64.Bitmap
	candidates, matched uint64
	warnings            []string
}

// scopeCandidates prefixes the candidate sets' keys in a memo.Scope.
const scopeCandidates = "selection.candidates\x00"

// candidatesNow is candidates computed from the indexes as they are.
func (e *Executor) candidatesNow(ctx context.Context, plan Plan, types []string, res *Result) (cand, filtered *roaring64.Bitmap, err error) {
	if plan.Filter != nil {
		bm, err := e.Index.EvalContext(ctx, *plan.Filter)
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, fmt.Errorf("filter: %w", err) // the caller gave up or ran out of time
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: filter: %v", ErrInvalid, err)
		}
		cand = bm
	} else {
		cand = e.Index.Live()
	}
	for _, id := range plan.Exclusions {
		if o, ok := e.Index.Ordinal(id); ok {
			cand.Remove(uint64(o))
		}
	}
	if len(plan.ExcludeTerms) > 0 && e.Retriever != nil {
		cand.AndNot(e.Retriever.Mentioning(plan.ExcludeTerms))
	}
	res.Candidates = cand.GetCardinality()
	filtered = cand // what the filter passes, before the intent
	if len(types) > 0 {
		bm, err := e.typeSet(ctx, plan.Intent, res)
		if err != nil {
			return nil, nil, err
		}
		if plan.Intent.Widen {
			filtered = cand.Clone()
		}
		cand.And(bm)
		if plan.Intent.Widen && len(plan.Intent.Phrases) > 0 && e.Retriever != nil {
			// Each of the scenario's phrases widens by itself: a mouse pad typed "wrist rest"
			// holds "mouse pad", not "mouse pad mat".
			for _, ph := range plan.Intent.Phrases {
				cand.Or(e.holdingAll(ph, filtered))
			}
		}
	}
	res.Matched = cand.GetCardinality()
	return cand, filtered, nil
}

// holdingAll returns the SKUs of within whose text holds every word of phrase.
func (e *Executor) holdingAll(phrase string, within *roaring64.Bitmap) *roaring64.Bitmap {
	out := within.Clone()
	for _, w := range strings.Fields(phrase) {
		out.And(e.Retriever.Mentioning([]string{w}))
		if out.IsEmpty() {
			break
		}
	}
	return out
}

// rankByQuery ranks the candidates by relevance to the query (within the filtered set for a
// widening intent); a ranking by a field then reorders a wider relevant set, and an intent's
// SKUs the query's words did not reach fill the pool up to the plan's limit.
func (e *Executor) rankByQuery(ctx context.Context, plan Plan, query string, types []string, cand, filtered *roaring64.Bitmap, res *Result, sw *stopwatch) ([]Item, error) {
	by := plan.Ranking.By
	k := plan.depth()
	if by != SortRelevance {
		// Reorder a wider relevant set by the ranking's field.
		k = widenDepth(plan)
	}
	within, dense := cand, (*roaring64.Bitmap)(nil)
	if len(types) > 0 && plan.Intent.Widen {
		within, dense = filtered, cand
	}
	got, err := e.retrieve(ctx, query, within, dense, k, by != SortRelevance)
	if err != nil {
		return nil, err
	}
	sw.lap("retrieve")
	res.Confidence, res.Method = got.Confidence, got.Method
	ranked := hitItems(got.Hits, cand, within, res)
	if by != SortRelevance && len(types) == 0 {
		ranked = relevantSet(ranked)
	}
	if len(types) > 0 && len(ranked) < plan.depth() {
		// The whole pool: the intent's SKUs the query's words did not reach, best sellers first.
		more, err := e.restOf(ctx, cand, ranked, plan.depth()-len(ranked))
		if err != nil {
			return nil, err
		}
		ranked = append(ranked, more...)
		res.Method += "+intent"
	}
	if by != SortRelevance {
		if err := e.reorder(ranked, plan.Ranking); err != nil {
			return nil, err
		}
	}
	return ranked, nil
}

// rankWithoutQuery orders the candidates by the ranking's field (by sales when the ranking
// needs a query there is none of, or no retriever to use it).
func (e *Executor) rankWithoutQuery(ctx context.Context, plan Plan, query string, cand *roaring64.Bitmap, res *Result) ([]Item, error) {
	by := plan.Ranking.By
	if query != "" {
		res.Warnings = append(res.Warnings, "no retriever configured: the query was not used")
	}
	if by == SortRelevance || by == SortBlend {
		res.Warnings = append(res.Warnings, "no query to be relevant to: ranked by sales")
		by = SortSales
	}
	ranked, err := e.topK(ctx, by, plan.depth(), cand)
	if err != nil {
		return nil, err
	}
	res.Method = "filter+" + by
	res.Confidence = 1
	return ranked, nil
}

// withPins is the result's items: pins first, in their order, when live; then the ranked items
// without them, up to the plan's limit, numbered and with their SKU ids.
func (e *Executor) withPins(ctx context.Context, plan Plan, ranked []Item, res *Result) ([]Item, error) {
	if len(plan.Pins) == 0 && len(plan.Slots) == 0 {
		// Nothing to place: the ranked items, as far as the limit (ranked is the run's own).
		return e.numbered(ranked[:max(0, min(plan.Limit, len(ranked)))]), nil
	}
	out := roaring64.New()
	if len(plan.Pins) > 0 {
		pins := roaring64.New()
		for _, id := range plan.Pins {
			if o, ok := e.Index.Ordinal(id); ok {
				pins.Add(uint64(o))
			}
		}
		var err error
		if out, err = e.Index.EvalWithinContext(ctx, filter.Attr("in_stock", "false"), pins); err != nil {
			return nil, err
		}
	}
	items := make([]Item, 0, min(plan.Limit, len(plan.Pins)+len(ranked)))
	pinned := map[int64]bool{}
	for _, id := range plan.Pins {
		o, ok := e.Index.Ordinal(id)
		switch {
		case !ok || !e.Index.IsLive(o):
			res.Warnings = append(res.Warnings, fmt.Sprintf("pinned SKU %d is not in the catalogue (or deleted): the SKUs after it move up", id))
			continue
		case out.Contains(uint64(o)):
			res.Warnings = append(res.Warnings, fmt.Sprintf("pinned SKU %d is out of stock: the SKUs after it move up until it is back", id))
			continue
		case pinned[o]:
			continue
		}
		pinned[o] = true
		items = append(items, Item{Ordinal: o, Pinned: true, Why: "pinned"})
	}
	sets, err := e.slotSets(ctx, plan.Slots, ranked)
	if err != nil {
		return nil, err
	}
	reserved := map[int]int{} // position -> slot
	for i, s := range plan.Slots {
		for p := s.From; p <= s.To; p++ {
			reserved[p] = i
		}
	}
	used := make([]bool, len(ranked))
	next := 0 // the first ranked item not used yet
	empty := map[int]bool{}
	for len(items) < plan.Limit {
		pos := len(items) + 1
		took := false
		if si, ok := reserved[pos]; ok && !empty[si] {
			for i := next; i < len(ranked); i++ {
				if !used[i] && !pinned[ranked[i].Ordinal] && sets[si].Contains(uint64(ranked[i].Ordinal)) {
					used[i] = true
					it := ranked[i]
					it.Slot = label(plan.Slots[si].Name, plan.Slots[si].Filter)
					it.Why = fmt.Sprintf("slot %d-%d (%s); %s", plan.Slots[si].From, plan.Slots[si].To, it.Slot, it.Why)
					items = append(items, it)
					took = true
					break
				}
			}
			if !took {
				empty[si] = true
				res.Warnings = append(res.Warnings, fmt.Sprintf("slot %d-%d (%s): no more SKUs of this pool match it from position %d",
					plan.Slots[si].From, plan.Slots[si].To, label(plan.Slots[si].Name, plan.Slots[si].Filter), pos))
			}
		}
		if took {
			continue
		}
		for next < len(ranked) && (used[next] || pinned[ranked[next].Ordinal]) {
			next++
		}
		if next >= len(ranked) {
			break
		}
		used[next] = true
		items = append(items, ranked[next])
	}
	return e.numbered(items), nil
}

// numbered sets the items' ranks and SKU ids, in place.
func (e *Executor) numbered(items []Item) []Item {
	ords := make([]int64, len(items))
	for i := range items {
		ords[i] = items[i].Ordinal
	}
	for i, id := range e.Index.IDsOf(ords) {
		items[i].Rank, items[i].SKUID = i+1, id
	}
	return items
}

// hitItems turns retrieved hits into items. Hits outside cand (retrieved within a wider set for
// a widening intent) stay only when their text holds every word of the query; they count as
// matched.
func hitItems(hits []Hit, cand, within *roaring64.Bitmap, res *Result) []Item {
	ranked := make([]Item, 0, len(hits))
	for _, h := range hits {
		if within != cand && !cand.Contains(uint64(h.Ordinal)) {
			if !h.Complete {
				continue
			}
			res.Matched++
			h.Why = "of another type, but its text holds every word of the query; " + h.Why
		}
		if h.Score == 0 {
			// 0 marks the SKUs that fill a pool after its hits (restOf), and refreshes read
			// a version's tail by it.
			h.Score = 1e-30 // a normal float, kept exactly by every store
		}
		ranked = append(ranked, Item{Ordinal: h.Ordinal, Score: h.Score, Relevance: h.Score, Why: h.Why})
	}
	return ranked
}

// typeSet is the union of the intent's types, one type at a time so that a type the catalogue
// lacks is reported.
func (e *Executor) typeSet(ctx context.Context, it *Intent, res *Result) (*roaring64.Bitmap, error) {
	return e.typesWithin(ctx, it, nil, res)
}

// typesWithin is typeSet within set (nil: everything; a few SKUs are read one by one, without
// the types' whole bitmaps). Only the whole catalogue reports a missing type.
func (e *Executor) typesWithin(ctx context.Context, it *Intent, set *roaring64.Bitmap, res *Result) (*roaring64.Bitmap, error) {
	bm := roaring64.New()
	for _, t := range it.Types {
		one, err := e.Index.EvalWithinContext(ctx, filter.Attr("product_type", t.Name), set)
		if err != nil {
			return nil, fmt.Errorf("%w: intent: %v", ErrInvalid, err)
		}
		if one.IsEmpty() && set == nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("no SKU of the catalogue has the product type %q", t.Name))
		}
		if len(t.Mentions) > 0 && e.Retriever != nil {
			if set == nil {
				one.And(e.Retriever.Mentioning(t.Mentions))
			} else {
				one = e.mentioningAmong(t.Mentions, one)
			}
		}
		bm.Or(one)
	}
	return bm, nil
}

// mentioningAmong is the SKUs of set (a few) whose text holds any of the words.
func (e *Executor) mentioningAmong(words []string, set *roaring64.Bitmap) *roaring64.Bitmap {
	if mr, ok := e.Retriever.(MentionRetriever); ok {
		return mr.MentioningAmong(words, set)
	}
	return roaring64.And(set, e.Retriever.Mentioning(words))
}

// retrieve asks the retriever for k SKUs relevant to query within a set; lexicalLed leaves out
// the semantic-only expansion when the retriever can, and dense (when set) restricts it.
func (e *Executor) retrieve(ctx context.Context, query string, within, dense *roaring64.Bitmap, k int, lexicalLed bool) (Retrieved, error) {
	var got Retrieved
	var err error
	dr, scoped := e.Retriever.(DenseScopedRetriever)
	if lr, ok := e.Retriever.(LexicalLedRetriever); ok && lexicalLed {
		got, err = lr.RetrieveLexicalLed(ctx, query, within, k)
	} else if scoped && dense != nil {
		got, err = dr.RetrieveDense(ctx, query, within, dense, k)
	} else {
		got, err = e.Retriever.Retrieve(ctx, query, within, k)
	}
	if err != nil {
		return got, fmt.Errorf("retrieve: %w", err)
	}
	return got, nil
}

// rankTypesBy orders the intent's SKUs (cand) by the plan's ranking field; a widening intent
// adds the SKUs of the filtered set whose text holds every word of the query (lexical matches
// only: the semantic-only expansion is a dense scan of the filtered set, 20 ms at 1M SKUs).
func (e *Executor) rankTypesBy(ctx context.Context, plan Plan, query string, cand, filtered *roaring64.Bitmap, res *Result) ([]Item, error) {
	set := cand
	if plan.Intent.Widen && query != "" && e.Retriever != nil {
		k := widenDepth(plan)
		var complete *roaring64.Bitmap
		if cr, ok := e.Retriever.(CompleteRetriever); ok {
			// Only whether a SKU holds every word matters here, not how relevant it is: the
			// postings say so without ranking (a ranked retrieval was a quarter of a refresh
			// pass's CPU at 1M SKUs). When more than k hold them all, the ranked retrieval
			// chooses the k most relevant, as before.
			if h := cr.HoldingAll(query, filtered); h.GetCardinality() <= uint64(k) {
				complete = h
			}
		}
		if complete == nil {
			got, err := e.retrieve(ctx, query, filtered, nil, k, true)
			if err != nil {
				return nil, err
			}
			complete = roaring64.New()
			for _, h := range got.Hits {
				if h.Complete {
					complete.Add(uint64(h.Ordinal))
				}
			}
		}
		set = roaring64.Or(cand, complete)
		res.Matched += set.GetCardinality() - cand.GetCardinality()
	}
	return e.topK(ctx, plan.Ranking.By, plan.depth(), set)
}

// widenDepth is how many relevant SKUs a ranking by a field takes to reorder (rankByQuery),
// and how many holding every query word a widening intent ranked by a field adds at most.
func widenDepth(plan Plan) int { return min(max(plan.Limit*5, 500), MaxLimit) }

// restOf is up to n SKUs of cand not ranked yet, best sellers first, marked as the type's: the
// best sellers of cand, the ranked skipped (so pools with the same candidates share one
// ordering of them in a pass, whatever their hits).
func (e *Executor) restOf(ctx context.Context, cand *roaring64.Bitmap, ranked []Item, n int) ([]Item, error) {
	if n <= 0 {
		return nil, nil
	}
	skip := roaring64.New()
	for _, it := range ranked {
		skip.Add(uint64(it.Ordinal))
	}
	rf := rankField[SortSales]
	ords, vals, err := e.orderBy(ctx, rf.field, rf.desc, n+int(skip.AndCardinality(cand)), cand)
	if err != nil {
		return nil, err
	}
	more := make([]Item, 0, n)
	for i, o := range ords {
		if len(more) == n {
			break
		}
		if !skip.Contains(uint64(o)) {
			it := fieldItem(rf, o, vals[i])
			it.Score = 0
			it.Why = "of the scenario's product type; " + it.Why
			more = append(more, it)
		}
	}
	return more, nil
}

// topK orders within by a ranking field, best first.
func (e *Executor) topK(ctx context.Context, by string, k int, within *roaring64.Bitmap) ([]Item, error) {
	rf := rankField[by]
	ords, vals, err := e.orderBy(ctx, rf.field, rf.desc, k, within)
	if err != nil {
		return nil, err
	}
	out := make([]Item, len(ords))
	for i, o := range ords {
		out[i] = fieldItem(rf, o, vals[i])
	}
	return out, nil
}

// fieldItem is an ordinal ranked by a field's value.
func fieldItem(rf rankSpec, o, v int64) Item {
	return Item{Ordinal: o, Score: float32(v), Why: rf.label + " " + strconv.FormatInt(v, 10)}
}

// ordered is the best of a set by a field (filter.Index.TopK), kept in a pass's scope:
// all when fewer than asked for.
type ordered struct {
	ords, vals []int64
	all        bool
}

// scopeOrdered prefixes a field ordering's key in a memo.Scope.
const scopeOrdered = "selection.orderBy\x00"

// orderBy is filter.Index.TopK; within a refresh pass (memo.Scope) the pools that order the
// same set by the same field (a market's best sellers, a type's newest) share one ordering of
// at least orderedKept, which a smaller k reads a prefix of.
func (e *Executor) orderBy(ctx context.Context, field string, desc bool, k int, within *roaring64.Bitmap) ([]int64, []int64, error) {
	scope := memo.ScopeFrom(ctx)
	if scope == nil || within == nil {
		return e.Index.TopK(field, k, within, desc)
	}
	key := scopeOrdered + field + "\x00" + strconv.FormatBool(desc)
	if got, ok := scope.Get(key, within, func(v any) bool { o := v.(ordered); return o.all || len(o.ords) >= k }); ok {
		o := got.(ordered)
		n := min(k, len(o.ords))
		return o.ords[:n:n], o.vals[:n:n], nil
	}
	want := max(k, orderedKept)
	ords, vals, err := e.Index.TopK(field, want, within, desc)
	if err != nil {
		return nil, nil, err
	}
	scope.Set(key, within, ordered{ords: ords, vals: vals, all: len(ords) < want})
	n := min(k, len(ords))
	return ords[:n:n], vals[:n:n], nil
}

// orderedKept is the least a pass's shared ordering holds: the depth of most pools.
const orderedKept = 2000

// stopReason says, for people, why a result holds what it holds.
func stopReason(res *Result, plan Plan, intent bool) string {
	n, m := uint64(len(res.Items)), res.Matched
	what := "SKUs pass the filter"
	if intent {
		what = fmt.Sprintf("SKUs pass the filter and are of the types %s", strings.Join(plan.Intent.Names(), ", "))
	}
	switch {
	case m == 0 && intent:
		return "no SKU passes the filter and is of the types " + strings.Join(plan.Intent.Names(), ", ")
	case m == 0:
		return "no SKU passes the filter"
	case n >= m:
		return fmt.Sprintf("all %d %s", m, what)
	case n >= uint64(plan.Limit):
		return fmt.Sprintf("the pool's limit: %d of the %d %s", n, m, what)
	default:
		return fmt.Sprintf("relevance: %d of the %d %s match the query well enough (the rest share too few of its words or too little of its meaning)", n, m, what)
	}
}

// normKnown min-max normalises the values above 0 (0 is "unknown", as a release date can be);
// unknown values get 0, so they neither win nor squeeze the known ones together.
func normKnown(vals []int64) []float64 {
	lo, hi := int64(0), int64(0)
	for _, v := range vals {
		if v > 0 && (lo == 0 || v < lo) {
			lo = v
		}
		hi = max(hi, v)
	}
	out := make([]float64, len(vals))
	for i, v := range vals {
		switch {
		case v <= 0:
		case hi > lo:
			out[i] = float64(v-lo) / float64(hi-lo)
		default:
			out[i] = 1
		}
	}
	return out
}

// RelevantShare is how close to the best match a product's relevance must be for a ranking by
// another field (sales, price, ...) to consider it: "best sellers" among products that match the
// query nearly as well as the best one, not a best-selling product that shares one word with it.
const RelevantShare = 0.75

// relevantSet keeps the hits whose relevance is at least RelevantShare of the best hit's.
func relevantSet(hits []Item) []Item {
	if len(hits) == 0 || hits[0].Relevance <= 0 {
		return hits
	}
	bar := hits[0].Relevance * RelevantShare
	n := 0
	for n < len(hits) && hits[n].Relevance >= bar {
		n++
	}
	return hits[:n]
}

// reorder sorts relevant items by the ranking (a field, or a weighted blend of normalised
// signals); relevance breaks ties.
func (e *Executor) reorder(items []Item, r Ranking) error {
	if len(items) == 0 {
		return nil
	}
	ords := make([]int64, len(items))
	for i := range items {
		ords[i] = items[i].Ordinal
	}
	if r.By != SortBlend {
		return e.reorderByField(items, ords, r.By)
	}
	signals, err := e.blendSignals(items, ords, r.Weights)
	if err != nil {
		return err
	}
	for i := range items {
		var s float64
		var parts []string
		for name, vals := range signals {
			s += r.Weights[name] * vals[i]
			parts = append(parts, fmt.Sprintf("%s %.2f", name, vals[i]))
		}
		sort.Strings(parts)
		items[i].Score = float32(s)
		items[i].Why = "blend of " + strings.Join(parts, ", ") + "; " + items[i].Why
	}
	sort.SliceStable(items, func(a, b int) bool { return items[a].Score > items[b].Score })
	return nil
}

// reorderByField sorts items (of ordinals ords) by a ranking field; relevance breaks ties.
func (e *Executor) reorderByField(items []Item, ords []int64, by string) error {
	rf := rankField[by]
	vals, err := e.Index.NumericValues(rf.field, ords)
	if err != nil {
		return err
	}
	for i := range items {
		items[i].Score = float32(vals[i])
		items[i].Why = fmt.Sprintf("%s %d; %s", rf.label, vals[i], items[i].Why)
	}
	sort.SliceStable(items, func(a, b int) bool {
		if items[a].Score != items[b].Score {
			return (items[a].Score > items[b].Score) == rf.desc
		}
		return items[a].Relevance > items[b].Relevance
	})
	return nil
}

// blendFields maps the blend's signals to the numeric fields they read.
var blendFields = map[string]string{"sales": "sales_7d", "rating": "rating", "discount": "discount",
	"cheap": "price", "newest": "released"}

// blendSignals is each weighted signal of a blend min-max normalised over the relevant set
// (items, best first, of ordinals ords), by signal name.
func (e *Executor) blendSignals(items []Item, ords []int64, weights map[string]float64) (map[string][]float64, error) {
	signals := map[string][]float64{}
	for name, w := range weights {
		if w == 0 {
			continue
		}
		if name == "relevance" {
			signals[name] = relevanceSignal(items)
			continue
		}
		vals, err := e.Index.NumericValues(blendFields[name], ords)
		if err != nil {
			return nil, err
		}
		if name == "newest" {
			signals[name] = normKnown(vals)
			continue
		}
		signals[name] = normRange(vals, name == "cheap")
	}
	return signals, nil
}

// relevanceSignal is the items' relevance min-max normalised (items are best first); all 1
// when they are equally relevant.
func relevanceSignal(items []Item) []float64 {
	rel := make([]float64, len(items))
	lo, hi := float64(items[len(items)-1].Relevance), float64(items[0].Relevance)
	for i := range items {
		if hi > lo {
			rel[i] = (float64(items[i].Relevance) - lo) / (hi - lo)
		} else {
			rel[i] = 1
		}
	}
	return rel
}

// normRange min-max normalises vals to 0..1 (all 0 when they are equal), inverted for a
// signal where less is better.
func normRange(vals []int64, invert bool) []float64 {
	lo, hi := vals[0], vals[0]
	for _, v := range vals {
		lo, hi = min(lo, v), max(hi, v)
	}
	out := make([]float64, len(vals))
	for i, v := range vals {
		if hi > lo {
			out[i] = float64(v-lo) / float64(hi-lo)
		}
		if invert {
			out[i] = 1 - out[i]
		}
	}
	return out
}
