package selection_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/filter"
	"selection/internal/testdb"
	"selection/selection"
)

// setStock changes SKUs' stock with one event each and rebuilds the engine's index.
func setStock(t *testing.T, db *testdb.DB, svc *selection.Service, stock int64, at time.Time, ids ...int64) {
	t.Helper()
	ctx := context.Background()
	for _, id := range ids {
		_, err := catalog.NewStore(db.Pool).Upsert(ctx, []catalog.Patch{{ID: id, Fields: catalog.FieldStock, Stock: stock, StockAt: at}})
		require.NoError(t, err)
		_, err = db.Pool.Exec(ctx, `INSERT INTO sku_events (event_id, kind, sku_id, payload, source, tier, event_time)
			VALUES ($1, 'stock.update', $2, '{}', 'test', 'realtime', $3)`, fmt.Sprintf("stock-%d-%d", id, at.Unix()), id, at)
		require.NoError(t, err)
	}
	svc.Executor.Index = rebuild(t, db)
}

// The safety net: a refresh that drops too much of the pool, or takes it below its floor, is
// held as a pending version; REST readers keep the published one until a planner accepts or
// rejects it; a plan edit publishes at once.
func TestGuardHoldsARefreshForReview(t *testing.T) {
	ctx := context.Background()
	db, _, svc := fixture(t)
	inStock := filter.And(filter.Attr("market", "SG"), filter.Range("stock", 1, math.MaxInt64))
	// SG SKUs in stock (id%3 != 0), best sellers first: 1020, 1019, 1017, 1016, 1014, 1013, ...
	plan := selection.Plan{Version: 1, Filter: &inStock, Ranking: selection.Ranking{By: selection.SortSales}, Limit: 10,
		Guard: &selection.Guard{MinSize: 6, MaxDropPct: 30}}
	p, v1, err := svc.CreatePool(ctx, selection.PoolInput{Name: "guarded", Plan: plan})
	require.NoError(t, err)
	require.Len(t, v1.Ranking, 10)
	_, err = svc.Pools.Pending(ctx, p.ID)
	require.ErrorIs(t, err, selection.ErrNoPending)

	// Two of ten leave (20%): published as usual.
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	setStock(t, db, svc, 0, day, 1020, 1019)
	outs, err := svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.True(t, outs[0].Changed, "%+v", outs[0])
	require.Equal(t, 2, mustVersion(t, svc, p.ID).Version)

	// Four more leave (40%): held. The published version stands.
	setStock(t, db, svc, 0, day.Add(time.Hour), 1017, 1016, 1014, 1013)
	outs, err = svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.True(t, outs[0].Held, "%+v", outs[0])
	require.False(t, outs[0].Changed)
	require.Contains(t, outs[0].Reason, "4 of its 10 SKUs (40%) would leave, more than its largest drop of 30%")
	published := mustVersion(t, svc, p.ID)
	require.Equal(t, 2, published.Version)
	pend, err := svc.Pools.Pending(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, 2, pend.BasedOn)
	require.NotContains(t, pend.Version.Ranking, int64(1017))
	// The next pass has nothing new to look at: the held refresh is not recomputed.
	outs, err = svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.True(t, outs[0].Skipped, "%+v", outs[0])

	// Accepted: it becomes version 3, and the pending one is gone.
	o, err := svc.AcceptPending(ctx, p.ID, selection.Actor{Name: "ann"})
	require.NoError(t, err)
	require.Equal(t, 3, o.Version)
	require.Len(t, o.Diff.Removed, 4)
	require.Equal(t, pend.Version.Ranking, mustVersion(t, svc, p.ID).Ranking)
	_, err = svc.Pools.Pending(ctx, p.ID)
	require.ErrorIs(t, err, selection.ErrNoPending)
	_, err = svc.AcceptPending(ctx, p.ID, selection.Actor{Name: "ann"})
	require.ErrorIs(t, err, selection.ErrNoPending)

	// Below the floor of 6 (the SG SKUs in stock run out): held, then rejected.
	setStock(t, db, svc, 0, day.Add(2*time.Hour), 1011, 1010, 1008, 1007, 1005)
	outs, err = svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.True(t, outs[0].Held, "%+v", outs[0])
	require.Contains(t, outs[0].Reason, "below its floor of 6")
	require.NoError(t, svc.Pools.Reject(ctx, p.ID, selection.Actor{Name: "ann"}))
	require.ErrorIs(t, svc.Pools.Reject(ctx, p.ID, selection.Actor{Name: "ann"}), selection.ErrNoPending)
	require.Equal(t, 3, mustVersion(t, svc, p.ID).Version)

	// Held again by the next change; a plan edit makes it stale and publishes at once.
	setStock(t, db, svc, 0, day.Add(3*time.Hour), 1004)
	outs, err = svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.True(t, outs[0].Held, "%+v", outs[0])
	cur, err := svc.Pools.Get(ctx, p.ID)
	require.NoError(t, err)
	edited := cur.Plan
	edited.Limit = 8
	_, err = svc.Pools.Update(ctx, p.ID, selection.PoolInput{Name: cur.Name, Plan: edited}, selection.Edit{Any: true})
	require.NoError(t, err)
	_, err = svc.Pools.Pending(ctx, p.ID)
	require.ErrorIs(t, err, selection.ErrNoPending)
	o, err = svc.Refresh(ctx, p.ID)
	require.NoError(t, err)
	require.True(t, o.Changed)
	require.False(t, o.Held)
	require.Equal(t, 4, o.Version)

	// A version published meanwhile (by another writer) supersedes the held one.
	setStock(t, db, svc, 0, day.Add(4*time.Hour), 1002, 1001)
	o, err = svc.Refresh(ctx, p.ID)
	require.NoError(t, err)
	require.True(t, o.Held, "%+v", o)
	v := mustVersion(t, svc, p.ID)
	v.Version = 0
	require.NoError(t, svc.Pools.AddVersion(ctx, v))
	_, err = svc.AcceptPending(ctx, p.ID, selection.Actor{Name: "ann"})
	require.ErrorIs(t, err, selection.ErrNoPending)

	bad := plan
	bad.Guard = &selection.Guard{MinSize: 11}
	require.ErrorIs(t, bad.Validate(), selection.ErrInvalid)
	bad.Guard = &selection.Guard{MaxDropPct: 101}
	require.ErrorIs(t, bad.Validate(), selection.ErrInvalid)
}

// A refresh's diff says why each removed SKU left: deleted, a filter clause that no longer
// holds, or better-ranked SKUs that filled the pool.
func TestRefreshDiffSaysWhyMembersLeft(t *testing.T) {
	ctx := context.Background()
	db, _, svc := fixture(t)
	f := filter.And(filter.Attr("market", "SG"), filter.Range("stock", 1, math.MaxInt64))
	p, v1, err := svc.CreatePool(ctx, selection.PoolInput{Name: "why", Plan: selection.Plan{Version: 1, Filter: &f,
		Ranking: selection.Ranking{By: selection.SortSales}, Limit: 5}})
	require.NoError(t, err)
	require.Equal(t, selection.IDs{1020, 1019, 1017, 1016, 1014}, v1.Ranking)
	at := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	setStock(t, db, svc, 0, at, 1020)
	_, err = catalog.NewStore(db.Pool).Delete(ctx, 1019, at)
	require.NoError(t, err)
	var ps []catalog.Patch
	for i, id := range []int64{1002, 1005, 1007} {
		ps = append(ps, catalog.Patch{ID: id, Fields: catalog.FieldMetrics, Metrics: catalog.Metrics{Sales7d: int64(999 - i)}, MetricsAt: at})
	}
	_, err = catalog.NewStore(db.Pool).Upsert(ctx, ps)
	require.NoError(t, err)
	svc.Executor.Index = rebuild(t, db)

	o, err := svc.Refresh(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, selection.IDs{1002, 1005, 1007, 1017, 1016}, mustVersion(t, svc, p.ID).Ranking)
	why := map[int64]string{}
	for _, m := range o.Diff.Removed {
		why[m.SKUID] = m.Reason
	}
	require.Equal(t, map[int64]string{1020: "no longer passes the filter: stock >= 1", 1019: "deleted",
		1014: "still qualifies; better-ranked SKUs filled the pool"}, why)
}
