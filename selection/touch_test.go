package selection_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/filter"
	"selection/internal/memo"
	"selection/internal/testdb"
	"selection/lexical"
	"selection/search"
	"selection/selection"
)

// typedFixture is fixture with product types (1001..1030 "mouse", 1031..1040 "mouse pad"),
// every fourth title "wireless mouse N", and a lexical retriever over the titles.
func typedFixture(t *testing.T) (*testdb.DB, *selection.Service, *lexical.Index) {
	t.Helper()
	ctx := context.Background()
	db, _, svc := fixture(t)
	var ps []catalog.Patch
	for i := int64(1); i <= 40; i++ {
		pt, title := "mouse", fmt.Sprintf("mouse %d", i)
		if i > 30 {
			pt = "mouse pad"
		}
		if i%4 == 0 {
			title = "wireless " + title
		}
		ps = append(ps, catalog.Patch{ID: 1000 + i, Fields: catalog.FieldProductType | catalog.FieldTitle, ProductType: pt, Title: title,
			ContentAt: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)})
	}
	_, err := catalog.NewStore(db.Pool).Upsert(ctx, ps)
	require.NoError(t, err)
	svc.Executor.Index = rebuild(t, db)
	lex, err := lexical.New(lexical.Config{})
	require.NoError(t, err)
	list, err := catalog.NewStore(db.Pool).List(ctx, catalog.ListOptions{First: true, Limit: 100})
	require.NoError(t, err)
	for _, s := range list {
		d := lexical.Document{SKUID: s.ID, Ordinal: s.Ordinal}
		d.Fields[lexical.FieldTitle] = s.Title
		require.NoError(t, lex.Upsert(d))
	}
	eng, err := search.New(lex, nil, nil, search.Config{})
	require.NoError(t, err)
	svc.Executor.Retriever = search.Retriever{Searcher: eng}
	return db, svc, lex
}

// refreshAfter records an event of kind about sku (after setting its column, if any), rebuilds
// the tag index and runs a pass; it returns the pool's outcome.
func refreshAfter(t *testing.T, db *testdb.DB, svc *selection.Service, pool int64, kind string, sku int64, set string, val any) selection.RefreshOutcome {
	t.Helper()
	ctx := context.Background()
	if set != "" {
		_, err := db.Pool.Exec(ctx, fmt.Sprintf(`UPDATE skus SET %s = $2 WHERE id = $1`, set), sku, val)
		require.NoError(t, err)
	}
	recordEvent(t, db, fmt.Sprintf("%s-%d-%d", kind, sku, time.Now().UnixNano()), kind, sku)
	svc.Executor.Index = rebuild(t, db)
	outs, err := svc.RefreshAll(ctx)
	require.NoError(t, err)
	for _, o := range outs {
		if o.PoolID == pool {
			return o
		}
	}
	t.Fatalf("pool %d not refreshed", pool)
	return selection.RefreshOutcome{}
}

// A pool ranked by relevance to its query, filled after the hits with its types' best sellers:
// sales move only that tail. A hit's sales change is skipped; a tail member's re-ranks; a SKU
// of the types outside the pool re-runs it only when it outsells the tail's last member; any
// change to a SKU's text re-runs it.
func TestRefreshSkipsSalesThatMoveNoTail(t *testing.T) {
	ctx := context.Background()
	db, svc, _ := typedFixture(t)
	plan := selection.Plan{Version: selection.PlanVersion, Query: "wireless", Limit: 10, Ranking: selection.Ranking{By: selection.SortRelevance},
		Intent: &selection.Intent{Types: []selection.IntentType{{Name: "mouse"}}}}
	p, v, err := svc.CreatePool(ctx, selection.PoolInput{Name: "wireless mice", Plan: plan})
	require.NoError(t, err)
	// Hits: the 7 wireless mice (4, 8, ..., 28); then the tail: 30, 29, 27 by sales.
	require.ElementsMatch(t, []int64{1004, 1008, 1012, 1016, 1020, 1024, 1028}, []int64(v.Ranking[:7]))
	require.Equal(t, selection.IDs{1030, 1029, 1027}, v.Ranking[7:])

	o := refreshAfter(t, db, svc, p.ID, "metrics.update", 1028, "sales_7d", 0)
	require.True(t, o.Skipped, "a hit's sales do not move it: %+v", o)
	o = refreshAfter(t, db, svc, p.ID, "metrics.update", 1001, "sales_7d", 26)
	require.True(t, o.Skipped, "26 sales do not beat the tail's last (27): %+v", o)
	o = refreshAfter(t, db, svc, p.ID, "metrics.update", 1036, "sales_7d", 500)
	require.True(t, o.Skipped, "a mouse pad is not of the types: %+v", o)

	o = refreshAfter(t, db, svc, p.ID, "metrics.update", 1029, "sales_7d", 1)
	require.True(t, o.Changed, "a tail member sold less: %+v", o)
	require.Equal(t, selection.IDs{1030, 1027, 1001}, mustVersion(t, svc, p.ID).Ranking[7:], "1001's 26 ties 1026's: the lower ordinal first")
	o = refreshAfter(t, db, svc, p.ID, "metrics.update", 1002, "sales_7d", 26)
	require.True(t, o.Skipped, "26 ties the tail's last (1001's), and in a tie the lower ordinal comes first: %+v", o)
	r, err := svc.Refresh(ctx, p.ID)
	require.NoError(t, err)
	require.False(t, r.Changed, "a run agrees: %+v", r)
	o = refreshAfter(t, db, svc, p.ID, "metrics.update", 1002, "sales_7d", 100)
	require.True(t, o.Changed, "100 beats the tail's last: %+v", o)
	require.Equal(t, selection.IDs{1002, 1030, 1027}, mustVersion(t, svc, p.ID).Ranking[7:])
	o = refreshAfter(t, db, svc, p.ID, "sku.upsert", 1005, "", nil)
	require.False(t, o.Skipped, "its text may now hold the query's word: %+v", o)

	// Without a tail (the hits fill the pool), sales bring no SKU in.
	plan.Limit = 5
	p2, _, err := svc.CreatePool(ctx, selection.PoolInput{Name: "five wireless mice", Plan: plan})
	require.NoError(t, err)
	o = refreshAfter(t, db, svc, p2.ID, "metrics.update", 1003, "sales_7d", 1000)
	require.True(t, o.Skipped, "%+v", o)
}

// A pinned SKU shows first while it is live and in stock: its other changes (a new title, a
// price) move nothing; selling out does.
func TestRefreshSkipsAPinsOtherChanges(t *testing.T) {
	ctx := context.Background()
	db, _, svc := fixture(t)
	f := filter.Attr("market", "SG")
	p, v, err := svc.CreatePool(ctx, selection.PoolInput{Name: "sg + pin", Plan: selection.Plan{Version: 1, Filter: &f,
		Ranking: selection.Ranking{By: "sales"}, Limit: 3, Pins: selection.IDs{1029}}})
	require.NoError(t, err)
	require.Equal(t, selection.IDs{1029, 1020, 1019}, v.Ranking)
	o := refreshAfter(t, db, svc, p.ID, "sku.upsert", 1029, "title", "mouse 29 (2025 model)")
	require.True(t, o.Skipped, "%+v", o)
	o = refreshAfter(t, db, svc, p.ID, "metrics.update", 1029, "sales_7d", 0)
	require.True(t, o.Skipped, "%+v", o)
	o = refreshAfter(t, db, svc, p.ID, "stock.update", 1029, "stock", 0)
	require.True(t, o.Changed, "sold out: %+v", o)
	require.Equal(t, selection.IDs{1020, 1019, 1018}, mustVersion(t, svc, p.ID).Ranking)
	o = refreshAfter(t, db, svc, p.ID, "stock.update", 1029, "stock", 5)
	require.True(t, o.Changed, "back in stock: %+v", o)
	require.Equal(t, selection.IDs{1029, 1020, 1019}, mustVersion(t, svc, p.ID).Ranking)
}

// A pool of product types ranked by a field reads that field only, and a SKU of the types
// outside it enters only by beating the last member's value.
func TestRefreshSkipsTypesRankedByAField(t *testing.T) {
	ctx := context.Background()
	db, svc, _ := typedFixture(t)
	p, v, err := svc.CreatePool(ctx, selection.PoolInput{Name: "cheapest pads", Plan: selection.Plan{Version: selection.PlanVersion,
		Ranking: selection.Ranking{By: selection.SortPriceAsc}, Limit: 3,
		Intent: &selection.Intent{Types: []selection.IntentType{{Name: "mouse pad"}}}}})
	require.NoError(t, err)
	require.Equal(t, selection.IDs{1031, 1032, 1033}, v.Ranking)
	o := refreshAfter(t, db, svc, p.ID, "metrics.update", 1031, "sales_7d", 0)
	require.True(t, o.Skipped, "ranked by price, sales are not read: %+v", o)
	o = refreshAfter(t, db, svc, p.ID, "price.update", 1036, "price", 9999)
	require.True(t, o.Skipped, "dearer than the last member: %+v", o)
	o = refreshAfter(t, db, svc, p.ID, "sku.upsert", 1037, "", nil)
	require.True(t, o.Skipped, "a new title does not make it cheaper: %+v", o)
	o = refreshAfter(t, db, svc, p.ID, "price.update", 1035, "price", 3150)
	require.True(t, o.Changed, "cheaper than the last member: %+v", o)
	require.Equal(t, selection.IDs{1031, 1035, 1032}, mustVersion(t, svc, p.ID).Ranking)
	o = refreshAfter(t, db, svc, p.ID, "sku.upsert", 1005, "product_type", "mouse pad")
	require.True(t, o.Changed, "a mouse, now typed a mouse pad, at 500: %+v", o)
	require.Equal(t, selection.IDs{1005, 1031, 1035}, mustVersion(t, svc, p.ID).Ranking)
}

// Every skip and every sort without a run is right: after random changes (sales, prices,
// stock, orders, titles, types) to random SKUs and a RefreshAll, each pool's version ranks exactly as
// its plan run now does.
func TestRefreshSkipsOnlyWhatARunWouldKeep(t *testing.T) {
	ctx := context.Background()
	db, svc, lex := typedFixture(t)
	mice := &selection.Intent{Types: []selection.IntentType{{Name: "mouse"}}}
	pads := &selection.Intent{Types: []selection.IntentType{{Name: "mouse pad"}}}
	sg := filter.Attr("market", "SG")
	inStock := filter.Attr("in_stock", "true")
	cheap := filter.AtMost("price", 2000)
	cheapInStock := filter.And(cheap, inStock)
	plans := []selection.Plan{
		{Query: "wireless", Intent: mice, Limit: 10},
		{Query: "wireless", Intent: mice, Limit: 5, Pins: selection.IDs{1033, 1001}},
		{Query: "wireless", Intent: mice, Limit: 12, Filter: &inStock},
		{Intent: pads, Ranking: selection.Ranking{By: selection.SortPriceAsc}, Limit: 4},
		{Intent: mice, Ranking: selection.Ranking{By: selection.SortSales}, Limit: 6, Filter: &sg},
		{Query: "wireless", Intent: &selection.Intent{Types: pads.Types, Widen: true}, Ranking: selection.Ranking{By: selection.SortSales}, Limit: 5},
		{Ranking: selection.Ranking{By: selection.SortSales}, Limit: 5, Filter: &inStock, Pins: selection.IDs{1002}},
		{Query: "wireless", Limit: 6},
		{Query: "pad", Intent: &selection.Intent{Types: pads.Types, Widen: true, Phrases: []string{"wireless mouse"}}, Limit: 14},
		{Intent: mice, Ranking: selection.Ranking{By: selection.SortSales}, Limit: 6, ExcludeTerms: []string{"wireless"}},
		{Ranking: selection.Ranking{By: selection.SortPriceDesc}, Limit: 8, ExcludeTerms: []string{"wireless"}, Filter: &sg},
		{Query: "mouse", Intent: &selection.Intent{Types: pads.Types, Widen: true}, Ranking: selection.Ranking{By: selection.SortRating}, Limit: 9},
		{Query: "wireless mouse", Intent: &selection.Intent{Types: pads.Types, Widen: true}, Limit: 8},
		{Query: "wireless mouse", Intent: &selection.Intent{Types: pads.Types, Widen: true}, Ranking: selection.Ranking{By: selection.SortPriceAsc}, Limit: 6},
		{Query: "wireless", Limit: 6, Filter: &cheap},
		{Intent: mice, Ranking: selection.Ranking{By: selection.SortSales}, Limit: 6, Filter: &cheapInStock},
		{Query: "wireless", Intent: mice, Limit: 12, Filter: &cheap},
		{Ranking: selection.Ranking{By: selection.SortNewest}, Limit: 7, Filter: &cheapInStock},
	}
	for i := range plans {
		plans[i].Version = selection.PlanVersion
		if plans[i].Ranking.By == "" {
			plans[i].Ranking.By = selection.SortRelevance
		}
		_, _, err := svc.CreatePool(ctx, selection.PoolInput{Name: fmt.Sprint("p", i), Plan: plans[i]})
		require.NoError(t, err)
	}
	live, steadyAsked := followStates(t, db, svc)
	rng := rand.New(rand.NewPCG(7, 11))
	skipped, resorted, steady := 0, 0, 0
	for round := range 150 {
		sku := 1001 + rng.Int64N(40)
		var kind, set string
		var val any
		switch rng.IntN(8) {
		case 6, 7: // an order: stock and sales (a SKU sold out is restocked first)
			kind = "order"
			order(t, db, live, sku, rng.Int64N(3), rng.Int64N(60))
		case 0, 1:
			kind, set, val = "metrics.update", "sales_7d", rng.Int64N(60)
		case 2:
			kind, set, val = "price.update", "price", 100+rng.Int64N(4000)
		case 3:
			kind, set, val = "stock.update", "stock", rng.Int64N(3)
		case 4:
			title := fmt.Sprintf("mouse %d", sku-1000)
			if rng.IntN(2) == 0 {
				title = "wireless " + title
			}
			kind, set, val = "sku.upsert", "title", title
			d := lexical.Document{SKUID: sku, Ordinal: mustOrd(t, svc.Executor.Index.(*filter.Index), sku)}
			d.Fields[lexical.FieldTitle] = title
			require.NoError(t, lex.Upsert(d))
		default:
			kind, set, val = "sku.upsert", "product_type", []string{"mouse", "mouse pad"}[rng.IntN(2)]
		}
		if kind != "order" {
			_, err := db.Pool.Exec(ctx, fmt.Sprintf(`UPDATE skus SET %s = $2 WHERE id = $1`, set), sku, val)
			require.NoError(t, err)
			recordEvent(t, db, fmt.Sprint("r", round), kind, sku)
			row, err := catalog.NewStore(db.Pool).Get(ctx, sku)
			require.NoError(t, err)
			live.Upsert([]filter.Row{filter.RowFromSKU(&row)})
		}
		if rng.IntN(3) == 0 {
			continue // the next pass reads two changes or more: a SKU may leave the filter and come back
		}
		forgot := round%10 == 9
		if forgot {
			svc.ForgetOwned() // as after a restart: no version is known to be this process's
		}
		outs, err := svc.RefreshAll(ctx)
		require.NoError(t, err)
		require.Len(t, outs, len(plans))
		for _, o := range outs {
			switch {
			case o.Skipped:
				skipped++
				if strings.Contains(o.Reason, "passed the filter in every state since the version") {
					require.False(t, forgot, "round %d: a version this process did not write or confirm", round)
					steady++
				}
			case o.Trigger == "member changed (sorted again)":
				resorted++
			}
			p, err := svc.Pools.Get(ctx, o.PoolID)
			require.NoError(t, err)
			res, err := svc.Preview(ctx, p.Plan)
			require.NoError(t, err)
			require.Equal(t, []int64(mustVersion(t, svc, o.PoolID).Ranking), ids(res.Items),
				"round %d, %s of %d: pool %q (%s; %s)", round, kind, sku, p.Name, o.Trigger, o.Reason)
			if p.Plan.Query != "" && p.Plan.Intent != nil && p.Plan.Ranking.By == selection.SortRelevance {
				require.Equal(t, zeros(itemScores(res.Items)), zeros(mustVersion(t, svc, o.PoolID).Scores),
					"round %d, %s of %d: pool %q's tail (%s; %s)", round, kind, sku, p.Name, o.Trigger, o.Reason)
			}
		}
	}
	require.Greater(t, skipped, 400, "the check skips most pools: each change touches few")
	require.Greater(t, resorted, 10, "and sorts some again without running their plans")
	require.Greater(t, steadyAsked.Load(), int64(20), "and asks what SKUs held since a version")
	t.Logf("skipped %d (%d with SKUs that passed the filter all along), re-sorted %d", skipped, steady, resorted)
	require.Greater(t, steady, 20, "and skips pools whose admitted SKUs passed the filter all along")
}

// followStates makes svc's filter index follow the changes as the tagger does: one journaled
// write per change, and a position's snapshot maps to the index's generation when it was read,
// so that the refresh can skip SKUs that passed a pool's filter in every state since its
// version. It returns the index (write each change's row to it) and how often the refresh asked
// for past states.
func followStates(t *testing.T, db *testdb.DB, svc *selection.Service) (*filter.Index, *atomic.Int64) {
	t.Helper()
	live := svc.Executor.Index.(*filter.Index)
	live.KeepJournal(time.Hour)
	var gensMu sync.Mutex
	gens := map[string]filter.Generation{}
	svc.Position = func(ctx context.Context) (selection.Position, error) {
		gensMu.Lock()
		defer gensMu.Unlock()
		gen := live.Generation() // what the index reflects: every commit the snapshot shows
		var snap string
		err := db.Pool.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&snap)
		if _, ok := gens[snap]; !ok {
			gens[snap] = gen
		}
		return selection.Position{EventSnapshot: snap}, err
	}
	svc.GenerationAt = func(snap string) (filter.Generation, bool) {
		gensMu.Lock()
		defer gensMu.Unlock()
		g, ok := gens[snap]
		return g, ok
	}
	asked := &atomic.Int64{}
	svc.PastStates = func(g filter.Generation, set *roaring64.Bitmap) (map[int64][]filter.Row, bool) {
		asked.Add(1)
		return live.StatesSince(g, set)
	}
	svc.ReleaseStates = live.ReleaseJournal
	return live, asked
}

// order applies an order of sku as ingest does: its stock and sales set (a stock and a metrics
// event), and its row written to live.
func order(t *testing.T, db *testdb.DB, live *filter.Index, sku, stock, sales int64) {
	t.Helper()
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `UPDATE skus SET stock = $2, sales_7d = $3 WHERE id = $1`, sku, stock, sales)
	require.NoError(t, err)
	at := time.Now().UnixNano()
	recordEvent(t, db, fmt.Sprintf("stock-%d-%d", sku, at), "stock.update", sku)
	recordEvent(t, db, fmt.Sprintf("metrics-%d-%d", sku, at), "metrics.update", sku)
	row, err := catalog.NewStore(db.Pool).Get(ctx, sku)
	require.NoError(t, err)
	live.Upsert([]filter.Row{filter.RowFromSKU(&row)})
}

// wirelessMiceInStock is typedFixture's pool of types with a sales tail whose filter reads
// stock: the wireless mice in stock ranked by relevance, then the best sellers in stock.
func wirelessMiceInStock() selection.Plan {
	inStock := filter.Attr("in_stock", "true")
	return selection.Plan{Version: selection.PlanVersion, Query: "wireless", Limit: 10, Ranking: selection.Ranking{By: selection.SortRelevance},
		Intent: &selection.Intent{Types: []selection.IntentType{{Name: "mouse"}}}, Filter: &inStock}
}

// refreshByPool runs a refresh pass and returns its outcomes by pool.
func refreshByPool(t *testing.T, svc *selection.Service) map[int64]selection.RefreshOutcome {
	t.Helper()
	outs, err := svc.RefreshAll(context.Background())
	require.NoError(t, err)
	by := map[int64]selection.RefreshOutcome{}
	for _, o := range outs {
		by[o.PoolID] = o
	}
	return by
}

// An order (stock down, sales up) of a SKU outside a pool of types with a sales tail, whose
// filter reads stock: when the SKU was in stock in every state since the version, the order can
// bring it in only through the tail, by outselling its last member, as a sales change alone
// would; a SKU the filter newly passes could enter by relevance, and runs the plan.
func TestRefreshSkipsAnOrderOfASKUThatStayedInStock(t *testing.T) {
	ctx := context.Background()
	db, svc, _ := typedFixture(t)
	live, asked := followStates(t, db, svc)
	plan := wirelessMiceInStock()
	p, v, err := svc.CreatePool(ctx, selection.PoolInput{Name: "wireless mice in stock", Plan: plan})
	require.NoError(t, err)
	// Stock is i%3: the hits are the wireless mice in stock (4, 8, 16, 20, 28); the tail the
	// best sellers in stock (sales i): 29, 26, 25, 23, 22.
	require.ElementsMatch(t, []int64{1004, 1008, 1016, 1020, 1028}, []int64(v.Ranking[:5]))
	require.Equal(t, selection.IDs{1029, 1026, 1025, 1023, 1022}, v.Ranking[5:])
	pass := func() selection.RefreshOutcome {
		t.Helper()
		outs, err := svc.RefreshAll(ctx)
		require.NoError(t, err)
		require.Len(t, outs, 1)
		return outs[0]
	}
	// A member's upsert runs the plan, which confirms the version as this process's, at a
	// position with a generation (what the filter index held since is known from there).
	recordEvent(t, db, "touch-1004", "sku.upsert", 1004)
	require.Equal(t, "member changed", pass().Trigger)

	order(t, db, live, 1017, 1, 18) // in stock before and after, 18 sales: not the tail's 22
	o := pass()
	require.True(t, o.Skipped, "%+v", o)
	require.Contains(t, o.Reason, "passed the filter in every state since the version")
	require.Positive(t, asked.Load())

	order(t, db, live, 1014, 1, 50) // in stock all along, and outsells the tail
	o = pass()
	require.True(t, o.Changed, "%+v", o)
	require.Equal(t, selection.IDs{1014, 1029, 1026, 1025, 1023}, mustVersion(t, svc, p.ID).Ranking[5:])

	order(t, db, live, 1015, 5, 16) // out of stock at the version: it may enter by relevance
	o = pass()
	require.False(t, o.Skipped, "%+v", o)
	require.Equal(t, "SKU admitted: the filter passes it now", o.Trigger)

	// An order that took it out of stock and back within a pass is no steady state either.
	order(t, db, live, 1011, 0, 12)
	order(t, db, live, 1011, 4, 13)
	o = pass()
	require.False(t, o.Skipped, "%+v", o)
	res, err := svc.Preview(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, []int64(mustVersion(t, svc, p.ID).Ranking), ids(res.Items))
}

// A whole pass releases the journal's states before the earliest generation its pools'
// versions stand at, so the journal holds about a pass of writes rather than its whole keep,
// and the next pass still skips a steady SKU from there; it drops what the process kept for
// a pool another process deleted.
func TestPassReleasesWhatNoVersionNeeds(t *testing.T) {
	ctx := context.Background()
	db, svc, _ := typedFixture(t)
	live, _ := followStates(t, db, svc)
	plan := wirelessMiceInStock()
	p, _, err := svc.CreatePool(ctx, selection.PoolInput{Name: "wireless mice in stock", Plan: plan})
	require.NoError(t, err)
	gone, _, err := svc.CreatePool(ctx, selection.PoolInput{Name: "deleted elsewhere", Plan: plan})
	require.NoError(t, err)
	pass := func() map[int64]selection.RefreshOutcome { return refreshByPool(t, svc) }
	recordEvent(t, db, "touch-1004", "sku.upsert", 1004)
	pass() // both versions are this process's, at the pass's position
	owned, body := svc.Kept(gone.ID)
	require.True(t, owned && body)

	for round := range 3 {
		before := live.Generation()
		order(t, db, live, 1017, 1, int64(18-round)) // in stock all along, sells less than the tail
		o := pass()[p.ID]
		require.True(t, o.Skipped, "round %d: %+v", round, o)
		require.Contains(t, o.Reason, "passed the filter in every state since the version")
		_, ok := live.StatesSince(before, roaring64.BitmapOf(1017))
		require.False(t, ok, "round %d: the states before the pass are released", round)
		states, ok := live.StatesSince(live.Generation(), roaring64.BitmapOf(1017))
		require.True(t, ok, "round %d", round)
		require.Len(t, states[1017], 1)
	}

	require.NoError(t, selection.NewPoolStore(db.Pool).Delete(ctx, gone.ID))
	owned, body = svc.Kept(gone.ID)
	require.True(t, owned && body, "another process's delete")
	outs := pass()
	require.NotContains(t, outs, gone.ID)
	owned, body = svc.Kept(gone.ID)
	require.False(t, owned || body, "the pass lists every pool: what it does not list is gone")
	owned, body = svc.Kept(p.ID)
	require.True(t, owned && body)
}

// zeros is how many scores end the list at 0.
func zeros(scores []float32) int {
	n := 0
	for n < len(scores) && scores[len(scores)-1-n] == 0 {
		n++
	}
	return n
}

// itemScores is the items' scores, in order.
func itemScores(items []selection.Item) []float32 {
	out := make([]float32, len(items))
	for i, it := range items {
		out[i] = it.Score
	}
	return out
}

// A row stamped at or after a version's text position by the transaction of one of its events
// changed only as its events say (a price event the snapshot shows: no change at all); a row
// changed without an event (a type vote) may hold any change.
func TestChangedSinceRowsExplainedByTheirEvents(t *testing.T) {
	ctx := context.Background()
	db, svc, _ := typedFixture(t)
	var from time.Time
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&from))
	// priceWithEvent writes SKU 1002's price and its event in one transaction, as ingest does.
	priceWithEvent := func(price int, eventID string) {
		t.Helper()
		tx, err := db.Pool.Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, `UPDATE skus SET price = $1, updated_at = now() WHERE id = 1002`, price)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, `INSERT INTO sku_events (event_id, kind, sku_id, payload, source, tier, event_time)
			VALUES ($1, 'price.update', 1002, '{}', 'test', 'realtime', now())`, eventID)
		require.NoError(t, err)
		require.NoError(t, tx.Commit(ctx))
	}
	priceWithEvent(999, "price-1002")
	_, err := db.Pool.Exec(ctx, `UPDATE skus SET product_type = 'mouse pad', updated_at = now() WHERE id = 1003`)
	require.NoError(t, err)
	var snap string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&snap))
	ix := svc.Executor.Index.(*filter.Index)
	priced, voted := uint64(mustOrd(t, ix, 1002)), uint64(mustOrd(t, ix, 1003))

	other, price, err := svc.ChangedSince(ctx, &selection.Version{Position: selection.Position{EventSnapshot: snap, SKUsFrom: from}})
	require.NoError(t, err)
	require.False(t, other.Contains(priced), "its row changed with its price event, which the snapshot shows")
	require.False(t, price.Contains(priced))
	require.True(t, other.Contains(voted), "a row changed without an event")

	// The same price event after the snapshot: a price change, and only that.
	var before string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&before))
	priceWithEvent(998, "price-1002b")
	other, price, err = svc.ChangedSince(ctx, &selection.Version{Position: selection.Position{EventSnapshot: before, SKUsFrom: from}})
	require.NoError(t, err)
	require.False(t, other.Contains(priced))
	require.True(t, price.Contains(priced))
}

// A text change committed before a version's event snapshot but applied after its text
// position (the text index had not read it) counts as a change of any kind, even when a price
// event follows; applied before the text position, the SKU changed its price only.
func TestChangedSinceCountsUnreadText(t *testing.T) {
	ctx := context.Background()
	db, svc, _ := typedFixture(t)
	var from time.Time
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&from))
	_, err := db.Pool.Exec(ctx, `UPDATE skus SET title = 'wireless mouse 1', updated_at = clock_timestamp() WHERE id = 1001`)
	require.NoError(t, err)
	recordEvent(t, db, "text-1", "sku.upsert", 1001)
	var snap string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&snap))
	var later time.Time
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&later))
	recordEvent(t, db, "price-1", "price.update", 1001)
	o := uint64(mustOrd(t, svc.Executor.Index.(*filter.Index), 1001))

	other, price, err := svc.ChangedSince(ctx, &selection.Version{Position: selection.Position{EventSnapshot: snap, SKUsFrom: from}})
	require.NoError(t, err)
	require.True(t, other.Contains(o), "the title change was not read at the version")
	require.False(t, price.Contains(o))

	other, price, err = svc.ChangedSince(ctx, &selection.Version{Position: selection.Position{EventSnapshot: snap, SKUsFrom: later}})
	require.NoError(t, err)
	require.False(t, other.Contains(o), "the title change was read at the version")
	require.True(t, price.Contains(o))
}

// scopeRecorder is a Retriever that records whether its searches ran within a memo.Scope.
type scopeRecorder struct {
	selection.Retriever
	scoped, unscoped atomic.Int64
}

func (r *scopeRecorder) Retrieve(ctx context.Context, text string, candidates *roaring64.Bitmap, k int) (selection.Retrieved, error) {
	if memo.ScopeFrom(ctx) != nil {
		r.scoped.Add(1)
	} else {
		r.unscoped.Add(1)
	}
	return r.Retriever.Retrieve(ctx, text, candidates, k)
}

// A refresh pass's runs search within one scope (memo.Scope: costly searches kept for the
// pass whatever the indexes do meanwhile); a preview does not.
func TestRefreshPassSearchesWithinAScope(t *testing.T) {
	ctx := context.Background()
	db, svc, _ := typedFixture(t)
	rec := &scopeRecorder{Retriever: svc.Executor.Retriever}
	svc.Executor.Retriever = rec
	plan := selection.Plan{Version: selection.PlanVersion, Query: "wireless", Limit: 5, Ranking: selection.Ranking{By: selection.SortRelevance}}
	_, v, err := svc.CreatePool(ctx, selection.PoolInput{Name: "wireless", Plan: plan})
	require.NoError(t, err)
	require.Zero(t, rec.scoped.Load())
	require.Positive(t, rec.unscoped.Load())
	recordEvent(t, db, "touch-member", "sku.upsert", v.Ranking[0])
	outs, err := svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.Len(t, outs, 1)
	require.False(t, outs[0].Skipped, "%+v", outs[0])
	require.Positive(t, rec.scoped.Load(), "the pass's run searched within its scope")
}

// Within a pass's scope, plans with the same filter, exclusions and intent share their
// candidate sets (and orderings): every run gives what it gives alone, whatever ran before it
// in the scope, and the shared sets are not changed by the runs that read them.
func TestRunsInAScopeShareCandidates(t *testing.T) {
	_, svc, _ := typedFixture(t)
	base := selection.Plan{Version: selection.PlanVersion, Query: "wireless", Limit: 10, Ranking: selection.Ranking{By: selection.SortRelevance},
		Intent: &selection.Intent{Types: []selection.IntentType{{Name: "mouse"}}}}
	f := filter.Not(filter.Attr("brand", "nobody"))
	base.Filter = &f
	var plans []selection.Plan
	for _, limit := range []int{10, 5, 25} {
		for _, by := range []string{selection.SortRelevance, selection.SortSales, selection.SortPriceAsc} {
			p := base
			p.Limit, p.Ranking = limit, selection.Ranking{By: by}
			plans = append(plans, p)
		}
	}
	pinned := base
	pinned.Pins = selection.IDs{1036, 1002}
	plans = append(plans, pinned)
	noQuery := base
	noQuery.Query = ""
	plans = append(plans, noQuery)
	items := func(r *selection.Result) []string {
		out := make([]string, len(r.Items))
		for i, it := range r.Items {
			out[i] = fmt.Sprintf("%d %g", it.SKUID, it.Score)
		}
		return out
	}
	alone := make([][]string, len(plans))
	for i, p := range plans {
		r, err := svc.Executor.Run(context.Background(), p)
		require.NoError(t, err)
		alone[i] = items(r)
	}
	pass := memo.WithScope(context.Background(), 64)
	for round := 0; round < 2; round++ {
		for i, p := range plans {
			r, err := svc.Executor.Run(pass, p)
			require.NoError(t, err)
			require.Equal(t, alone[i], items(r), "plan %d (limit %d, by %s), round %d", i, p.Limit, p.Ranking.By, round)
			require.NotZero(t, r.Candidates)
		}
	}
	require.Greater(t, memo.ScopeFrom(pass).Hits(), uint64(len(plans)), "the sets were shared")
}
