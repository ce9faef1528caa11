package selection

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/filter"
	"selection/internal/memo"
)

// What a change can do to a pool without running its plan. RefreshAll asks these before it
// re-runs a pool whose member or admitted SKU changed: each answers "no" only when the run
// would give the same ranking, and "yes" whenever it cannot tell.

// pinsMoved reports whether a changed pin now shows where the version does not have it, or the
// other way round: a pin shows (first, in its order) while it is live and in stock
// (Executor.withPins), so only a change of those moves it. pinned is the pins the version
// shows as pins: their other changes (a title, a price, sales) move nothing, as pins are not
// ranked.
func (s *Service) pinsMoved(plan Plan, cur *Version, changed *roaring64.Bitmap) (moved bool, pinned *roaring64.Bitmap) {
	pinned = roaring64.New()
	for _, id := range plan.Pins {
		o, ok := s.Executor.Index.Ordinal(id)
		if !ok {
			continue // not in the index: not shown, and it has no applied change yet
		}
		shows := s.Executor.Index.IsLive(o)
		if shows {
			stock, err := s.Executor.Index.NumericValues("stock", []int64{o})
			shows = err == nil && stock[0] > 0
		}
		member := cur.Members.Contains(uint64(o))
		if changed.Contains(uint64(o)) && shows != member {
			return true, nil
		}
		if shows && member {
			pinned.Add(uint64(o))
		}
	}
	return false, pinned
}

// tailRanked reports whether the plan's run (Executor.rankByQuery) ranks the query's hits by
// relevance and fills the pool after them with the intent's other SKUs, best sellers first: a
// change to sales moves only that tail (relevance reads text and vectors, not sales).
func (s *Service) tailRanked(plan Plan) bool {
	return plan.Intent != nil && len(plan.Intent.Types) > 0 && plan.Ranking.By == SortRelevance &&
		strings.TrimSpace(plan.Query) != "" && s.Executor.Retriever != nil && len(plan.Rules) == 0 && len(plan.Slots) == 0
}

// fieldRanked returns the field the plan's run orders its whole set by, when it does and
// nothing else reorders it: a plan without a query (or retriever) and without types, or a plan
// of types ranked by a field (Executor.rankTypesBy), without rules or slots.
func (s *Service) fieldRanked(plan Plan) (field string, desc bool, ok bool) {
	if len(plan.Rules) > 0 || len(plan.Slots) > 0 {
		return "", false, false
	}
	by := plan.Ranking.By
	types := plan.Intent != nil && len(plan.Intent.Types) > 0
	noQuery := strings.TrimSpace(plan.Query) == "" || s.Executor.Retriever == nil
	switch {
	case types && by != SortRelevance && by != SortBlend:
	case !types && noQuery:
		if by == SortRelevance || by == SortBlend {
			by = SortSales // what a pool without a query is ranked by
		}
	default:
		return "", false, false
	}
	rf, ok := rankField[by]
	return rf.field, rf.desc, ok
}

// tail is the version's members after its hits (tailRanked): the suffix of its ranking scored
// 0 (Executor.restOf scores 0; hitItems scores no hit 0), pins left out. last is its last
// member (ok false: no tail).
func (s *Service) tail(cur *Version, pinned *roaring64.Bitmap) (tail *roaring64.Bitmap, last int64, ok bool) {
	tail = roaring64.New()
	for i := len(cur.Ranking) - 1; i >= 0 && cur.Scores[i] == 0; i-- {
		o, known := s.Executor.Index.Ordinal(cur.Ranking[i])
		if !known {
			return nil, 0, false // a member the index lost: nothing to compare with
		}
		if pinned.Contains(uint64(o)) {
			break
		}
		if !ok {
			last, ok = o, true
		}
		tail.Add(uint64(o))
	}
	return tail, last, ok
}

// zeroTail is how many scores end the list at 0: a tailRanked version's tail.
func zeroTail(scores []float32) int {
	n := 0
	for n < len(scores) && scores[len(scores)-1-n] == 0 {
		n++
	}
	return n
}

// membersMoved reports whether the members in hit (members with a change the ranking reads,
// pins left out) can move: for a tailRanked plan only a change to sales of a tail member can
// (or any change but metrics); for others, any.
func (s *Service) membersMoved(plan Plan, cur *Version, cs *changeSet, hit, pinned *roaring64.Bitmap) bool {
	if hit.IsEmpty() {
		return false
	}
	if !s.tailRanked(plan) || len(cur.Scores) != len(cur.Ranking) || !roaring64.AndNot(hit, cs.metrics).IsEmpty() {
		return true
	}
	tail, _, _ := s.tail(cur, pinned)
	return tail == nil || hit.Intersects(tail)
}

// canEnter says why one of the admitted SKUs can enter ("": none can), for the trigger of the
// run it asks for. It reports whether one of the admitted SKUs (changed SKUs of cs, not members, passing
// the filter and of the plan's types or holding a word of its query; filtered are the changed
// SKUs whose change the filter reads) can enter the pool. It can whenever the
// pool has room, or the plan's ranking is not one compared here:
//   - ranked by a field (fieldRanked), a SKU can enter only when its value beats the last
//     member's, whatever changed (its text or type decide only whether it is admitted). (A
//     widening plan of types adds the SKUs holding every query word; when more than it ranks
//     hold them, which are added depends on relevance among the filtered, and a SKU the
//     filter newly passes, or whose text changed, can enter.)
//   - tailRanked, a SKU whose only change is to metrics the filter does not read was a
//     candidate before and its relevance is unchanged: it can enter only the tail, by selling
//     more than the tail's last member.
func (s *Service) canEnter(ctx context.Context, plan Plan, cur *Version, cs *changeSet, admitted, filtered, pinned *roaring64.Bitmap) (string, error) {
	if len(cur.Ranking) < plan.Limit || len(cur.Scores) != len(cur.Ranking) {
		return "the pool has room", nil
	}
	if field, desc, ok := s.fieldRanked(plan); ok {
		if query := strings.TrimSpace(plan.Query); plan.Intent != nil && plan.Intent.Widen && query != "" &&
			s.Executor.Retriever != nil && admitted.Intersects(filtered) {
			if all, err := s.takesAllHolding(ctx, plan, query); err != nil || !all {
				return "more SKUs than it ranks hold the query's words", err
			}
		}
		last, ok := s.lastRanked(cur, pinned)
		if !ok {
			return "no ranked member", nil
		}
		return why(s.beats(field, desc, admitted, last))("ranks before the last member")
	}
	switch {
	case !s.tailRanked(plan):
		return "ranked by relevance", nil
	case admitted.Intersects(roaring64.And(filtered, cs.other)):
		return "its text or type changed", nil
	case admitted.Intersects(filtered):
		return "the filter passes it now", nil
	}
	// Metrics-only changes of SKUs that passed before: candidates (of the types, or holding
	// every word of a phrase of a widening intent) can enter the tail; others (holding a query
	// word) only by relevance, which is unchanged.
	rest, err := cs.typesAmong(ctx, s.Executor, plan.Intent, admitted)
	if err != nil {
		return "", err
	}
	if plan.Intent.Widen {
		for _, ph := range plan.Intent.Phrases {
			holding, err := cs.holdingAllAmong(ctx, s, ph, admitted)
			if err != nil {
				return "", err
			}
			rest.Or(holding)
		}
	}
	if rest.IsEmpty() {
		return "", nil
	}
	tail, last, ok := s.tail(cur, pinned)
	switch {
	case tail == nil:
		return "no tail to compare with", nil
	case !ok:
		return "", nil // hits fill the pool: sales bring no one in
	}
	return why(s.beats(rankField[SortSales].field, true, rest, last))("outsells the tail's last member")
}

// why turns a check's answer into canEnter's: reason when it holds.
func why(holds bool, err error) func(reason string) (string, error) {
	return func(reason string) (string, error) {
		if err != nil || !holds {
			return "", err
		}
		return reason, nil
	}
}

// takesAllHolding reports whether a widening plan of types ranked by a field takes every SKU
// the filter passes that holds every word of query (Executor.rankTypesBy: they are at most
// widenDepth), rather than the most relevant of them.
func (s *Service) takesAllHolding(ctx context.Context, plan Plan, query string) (bool, error) {
	cr, ok := s.Executor.Retriever.(CompleteRetriever)
	if !ok {
		return false, nil
	}
	// In a refresh pass (memo.Scope) the answer is kept by filter, query and depth: the pools
	// of one brief share it, and each would otherwise evaluate (and copy) its whole filter.
	scope, key := memo.ScopeFrom(ctx), ""
	if scope != nil {
		raw, err := json.Marshal(plan.Filter)
		if err != nil {
			return false, fmt.Errorf("takes all holding: %w", err)
		}
		key = fmt.Sprintf("%s%d\x00%s\x00%s", scopeTakesAll, widenDepth(plan), query, raw)
		if got, ok := scope.Get(key, nil, nil); ok {
			return got.(bool), nil
		}
	}
	all, err := s.passing(ctx, plan)
	if err != nil {
		return false, err
	}
	takes := cr.HoldingAll(query, all).GetCardinality() <= uint64(widenDepth(plan))
	if scope != nil {
		scope.Put(key, nil, takes)
	}
	return takes, nil
}

// scopeTakesAll prefixes takesAllHolding's keys in a memo.Scope.
const scopeTakesAll = "selection.takesAll\x00"

// holdingAllAmong is the SKUs of set (a few) whose text holds every word of phrase
// (Executor.holdingAll, read from their own terms when the retriever can).
func (s *Service) holdingAllAmong(phrase string, set *roaring64.Bitmap) *roaring64.Bitmap {
	mr, ok := s.Executor.Retriever.(MentionRetriever)
	if !ok {
		return s.Executor.holdingAll(phrase, set)
	}
	out := set.Clone()
	for _, w := range strings.Fields(phrase) {
		if out = mr.MentioningAmong([]string{w}, out); out.IsEmpty() {
			break
		}
	}
	return out
}

// ranksBefore reports whether value va of ordinal a ranks before vb of b in a ranking by
// field (filter.Index.TopK: by value, ties by ordinal, the later first for release dates).
func ranksBefore(field string, desc bool, va, a, vb, b int64) bool {
	if va != vb {
		return (va > vb) == desc
	}
	return (a < b) != (field == rankField[SortNewest].field)
}

// stillRanked reports whether every SKU of set (members whose text or type changed) is still
// one a plan ranked by a field ranks: it passes the filter (passes holds the changed SKUs it
// passes now), mentions no excluded word and, for a plan of types, is of them, holds every
// word of a widening intent's phrase, or holds every word of its query while those SKUs are
// few enough to be taken all (Executor.rankTypesBy).
func (s *Service) stillRanked(ctx context.Context, plan Plan, cs *changeSet, set, passes *roaring64.Bitmap) (bool, error) {
	if !roaring64.AndNot(set, passes).IsEmpty() {
		return false, nil
	}
	if len(plan.ExcludeTerms) > 0 && s.Executor.Retriever != nil && !s.Executor.mentioningAmong(plan.ExcludeTerms, set).IsEmpty() {
		return false, nil
	}
	if plan.Intent == nil || len(plan.Intent.Types) == 0 {
		return true, nil
	}
	in, err := cs.typesAmong(ctx, s.Executor, plan.Intent, set)
	if err != nil {
		return false, err
	}
	rest := roaring64.AndNot(set, in)
	if rest.IsEmpty() {
		return true, nil
	}
	if !plan.Intent.Widen || s.Executor.Retriever == nil {
		return false, nil
	}
	for _, ph := range plan.Intent.Phrases {
		holding, err := cs.holdingAllAmong(ctx, s, ph, rest)
		if err != nil {
			return false, err
		}
		rest.AndNot(holding)
	}
	if query := strings.TrimSpace(plan.Query); !rest.IsEmpty() && query != "" {
		all, err := s.takesAllHolding(ctx, plan, query)
		if err != nil {
			return false, err
		}
		if all {
			holding, err := cs.holdingAllAmong(ctx, s, query, rest)
			if err != nil {
				return false, err
			}
			rest.AndNot(holding)
		}
	}
	return rest.IsEmpty(), nil
}

// lastRanked is the version's last member that is not a pin.
func (s *Service) lastRanked(cur *Version, pinned *roaring64.Bitmap) (int64, bool) {
	for i := len(cur.Ranking) - 1; i >= 0; i-- {
		o, ok := s.Executor.Index.Ordinal(cur.Ranking[i])
		if !ok {
			return 0, false
		}
		if !pinned.Contains(uint64(o)) {
			return o, true
		}
	}
	return 0, false
}

// beats reports whether the best of set by field ranks before last, as the run's ranking
// (filter.Index.TopK) would order them: by value, ties by ordinal (ranksBefore). Every live
// SKU holds a value of every numeric field (0 when unknown), so none ranks as valueless.
func (s *Service) beats(field string, desc bool, set *roaring64.Bitmap, last int64) (bool, error) {
	ords, best, err := s.Executor.Index.TopK(field, 1, set, desc)
	if err != nil || len(best) == 0 {
		return true, err
	}
	lv, err := s.Executor.Index.NumericValues(field, []int64{last})
	if err != nil || len(lv) == 0 {
		return true, err
	}
	return ranksBefore(field, desc, best[0], ords[0], lv[0], last), nil
}

// resorted returns the next version when the change is only to the values the version's
// ordered part is sorted by, and sorting its members again by their values now is what a run
// of the plan would give; nil when the plan must run. The ordered part is, for a plan ranked
// by a field (fieldRanked), every member but the pins; for a tailRanked plan, its tail (the
// hits before it do not read sales). A run gives the same members when none of them left it
// (hit holds the members whose values changed, every one in the part), the part's last
// member did not change and still comes last (a SKU outside, unchanged, ranked below it
// before and still does), and no admitted SKU beats it (canEnter); then only their order can
// differ. (In a tailRanked plan's hits, hit holds sales changes only, which they do not read.)
func (s *Service) resorted(ctx context.Context, plan Plan, cur *Version, cs *changeSet, hit, pinned, admitted, filtered, passes *roaring64.Bitmap, pos Position) (*Version, error) {
	if len(cur.Scores) != len(cur.Ranking) {
		return nil, nil
	}
	field, desc, ok := s.fieldRanked(plan)
	if content := roaring64.And(hit, cs.other); !content.IsEmpty() {
		// A member whose text or type changed: sorted again only by a field, and only while it
		// is still one of the SKUs the plan ranks.
		if !ok || passes == nil {
			return nil, nil
		}
		if still, err := s.stillRanked(ctx, plan, cs, content, passes); err != nil || !still {
			return nil, err
		}
	}
	from := 0 // the first position of the ordered part
	switch {
	case ok:
		for from < len(cur.Ranking) {
			o, known := s.Executor.Index.Ordinal(cur.Ranking[from])
			if !known || !pinned.Contains(uint64(o)) {
				break
			}
			from++
		}
	case s.tailRanked(plan):
		field, desc = rankField[SortSales].field, true
		tail, _, ok := s.tail(cur, pinned)
		if !ok {
			return nil, nil
		}
		from = len(cur.Ranking) - int(tail.GetCardinality())
	default:
		return nil, nil
	}
	part := roaring64.New()
	if ok && cur.Members != nil && cur.Members.GetCardinality() == uint64(len(cur.Ranking)) {
		// The members are the ranking's ordinals: the part is them less the leading pins, and
		// a pin among the rest sits inside it.
		part = cur.Members.Clone()
		for _, id := range cur.Ranking[:from] {
			o, _ := s.Executor.Index.Ordinal(id)
			part.Remove(uint64(o))
		}
		if part.Intersects(pinned) {
			return nil, nil
		}
	} else {
		for _, id := range cur.Ranking[from:] {
			o, known := s.Executor.Index.Ordinal(id)
			if !known || pinned.Contains(uint64(o)) {
				return nil, nil
			}
			part.Add(uint64(o))
		}
	}
	if part.IsEmpty() {
		return nil, nil
	}
	last, _ := s.Executor.Index.Ordinal(cur.Ranking[len(cur.Ranking)-1])
	ords, vals, err := s.Executor.Index.TopK(field, int(part.GetCardinality()), part, desc)
	if err != nil {
		return nil, err
	}
	if len(cur.Ranking) >= plan.Limit {
		// Full: a SKU outside ranked below the last member before; it still does when the
		// last is unchanged and the new last ranks at or above it.
		if hit.Contains(uint64(last)) {
			// Its value when the version was last found right is not kept (a version's
			// scores are those of the run that wrote it, and a later run that ranked the
			// same confirmed it without rewriting them).
			return nil, nil
		}
		lv, err := s.Executor.Index.NumericValues(field, []int64{last})
		if err != nil {
			return nil, err
		}
		if n := len(ords) - 1; ranksBefore(field, desc, lv[0], last, vals[n], ords[n]) {
			return nil, nil
		}
	}
	if !admitted.IsEmpty() {
		if enters, err := s.canEnter(ctx, plan, cur, cs, admitted, filtered, pinned); err != nil || enters != "" {
			return nil, err
		}
	}
	next := &Version{PoolID: cur.PoolID, Plan: plan, Members: cur.Members, EventSeq: pos.EventSeq, Position: pos,
		Ranking: append(IDs{}, cur.Ranking[:from]...), Scores: append([]float32{}, cur.Scores[:from]...)}
	ids := s.Executor.Index.IDsOf(ords)
	for i, id := range ids {
		score := float32(vals[i])
		if s.tailRanked(plan) {
			score = 0 // a tail member's score (Executor.restOf)
		}
		next.Ranking, next.Scores = append(next.Ranking, id), append(next.Scores, score)
	}
	return next, nil
}

// ownVersion is a pool's version this process last wrote or confirmed: its number, the
// position's event snapshot and the filter index's generation then (zero Epoch: unknown).
type ownVersion struct {
	version  int
	snapshot string
	gen      filter.Generation
}

// owned records that this process wrote or confirmed version v of pool id at pos.
func (s *Service) owned(id int64, v int, pos Position) {
	if s.GenerationAt == nil || pos.EventSnapshot == "" {
		return
	}
	ov := ownVersion{version: v, snapshot: pos.EventSnapshot}
	if g, ok := s.GenerationAt(pos.EventSnapshot); ok {
		ov.gen = g
	}
	for { // a newer version's record stands (a pass confirms its page after the runs)
		old, loaded := s.own.LoadOrStore(id, ov)
		if !loaded || old.(ownVersion).version > v || s.own.CompareAndSwap(id, old, ov) {
			return
		}
	}
}

// pastStates is what the filter index held since a change set's position for the SKUs asked
// about so far: a small index of those rows (one ordinal each) and, by SKU ordinal, the
// ordinals of its states there. Each SKU's states are read once per change set, when a pool
// first asks (a pass has a change set per position its versions hold, so reading every
// changed SKU's states for each would cost more than the runs it saves).
type pastStates struct {
	mu   sync.Mutex
	gen  filter.Generation // the generation they are read since (the first asker's)
	ix   *filter.Index
	of   map[uint64][]uint64
	next int64
}

// steadyAmong is the SKUs of set (changed SKUs whose changes are price, stock or metrics
// ones) that passed plan's filter in every state since cur's position: at cur's ranking they
// passed and were not chosen, so a change only the filter reads cannot bring them in now, and
// one the ranking reads too brings them in only as it would had the filter read nothing. nil
// when that cannot be told:
//   - cur was not written or confirmed by this process (its ranking may have been read from
//     another index, whose states between are not this one's), or the journal does not reach
//     back to it;
//   - the plan has no filter, or one on tags (a tag may follow any field; the states hold the
//     rows only);
//   - the plan takes a relevance-limited set and orders it by a field (a widening intent or a
//     query without types, ranked by a field): there a SKU that is not a member leaving the
//     filter can make room, which no trigger sees, and the SKU's own change used to rerun it.
//
// A SKU whose row changed in any field its events do not write (a type vote) is not steady; a
// text change the text index had not read counts as a change of any kind (changedSince).
func (s *Service) steadyAmong(plan Plan, cur *Version, cs *changeSet, set *roaring64.Bitmap) *roaring64.Bitmap {
	if set.IsEmpty() || plan.Filter == nil || len(plan.Filter.Tags()) > 0 || s.PastStates == nil {
		return nil
	}
	if plan.Ranking.By != SortRelevance && strings.TrimSpace(plan.Query) != "" &&
		(len(plan.Intent.Names()) == 0 || plan.Intent.Widen) {
		return nil
	}
	rec, ok := s.own.Load(cur.PoolID)
	if !ok {
		return nil
	}
	ov := rec.(ownVersion)
	if ov.version != cur.Version || ov.snapshot != cur.Position.EventSnapshot || ov.gen.Epoch == 0 {
		return nil
	}
	past := &cs.past
	past.mu.Lock()
	defer past.mu.Unlock()
	if past.ix == nil || past.gen != ov.gen {
		// Versions that share a position share its generation; should one not, start over.
		past.ix, past.of, past.next, past.gen = filter.NewIndex(), map[uint64][]uint64{}, 0, ov.gen
	}
	missing := roaring64.New()
	it := set.Iterator()
	for it.HasNext() {
		if o := it.Next(); past.of[o] == nil {
			missing.Add(o)
		}
	}
	if !missing.IsEmpty() {
		states, ok := s.PastStates(ov.gen, missing)
		if !ok {
			return nil
		}
		var rows []filter.Row
		it := missing.Iterator()
		for it.HasNext() {
			o := it.Next()
			rs := states[int64(o)]
			if len(rs) == 0 || !sameBeyondEvents(rs) {
				past.of[o] = []uint64{} // not steady, whatever the filter
				continue
			}
			for _, r := range rs {
				r.Ordinal, r.ID = past.next, past.next+1
				rows = append(rows, r)
				past.of[o] = append(past.of[o], uint64(past.next))
				past.next++
			}
		}
		past.ix.Upsert(rows)
	}
	within := roaring64.New()
	it = set.Iterator()
	for it.HasNext() {
		within.AddMany(past.of[it.Next()])
	}
	passing, err := past.ix.EvalWithin(*plan.Filter, within)
	if err != nil {
		return nil
	}
	steady := roaring64.New()
	it = set.Iterator()
	for it.HasNext() {
		o := it.Next()
		states := past.of[o]
		all := len(states) > 0
		for _, st := range states {
			if !passing.Contains(st) {
				all = false
				break
			}
		}
		if all {
			steady.Add(o)
		}
	}
	return steady
}

// sameBeyondEvents reports whether rows (a SKU's states) agree on every field price, stock
// and metrics events do not write: market, brand, category, product type, release day.
func sameBeyondEvents(rows []filter.Row) bool {
	first := rows[0]
	for _, r := range rows[1:] {
		for _, f := range []int{filter.CatMarket, filter.CatBrand, filter.CatCategory, filter.CatProductType} {
			if !strings.EqualFold(r.Cat[f], first.Cat[f]) {
				return false
			}
		}
		if r.Num[filter.NumReleased] != first.Num[filter.NumReleased] {
			return false
		}
	}
	return true
}
