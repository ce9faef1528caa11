package selection_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/filter"
	"selection/internal/testdb"
	"selection/selection"
)

// fixture: 40 SKUs in two markets and two brands, prices 100..4000, sales = id.
func fixture(t *testing.T) (*testdb.DB, *filter.Index, *selection.Service) {
	t.Helper()
	ctx := context.Background()
	db := testdb.New(t)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var ps []catalog.Patch
	for i := int64(1); i <= 40; i++ {
		brand, market := "Logitech", "SG"
		if i%2 == 0 {
			brand = "Razer"
		}
		if i > 20 {
			market = "MY"
		}
		ps = append(ps, catalog.Patch{ID: 1000 + i, Fields: catalog.FieldMarket | catalog.FieldTitle | catalog.FieldBrand |
			catalog.FieldCurrency | catalog.FieldPrice | catalog.FieldListPrice | catalog.FieldStock | catalog.FieldMetrics,
			Market: market, Title: fmt.Sprintf("mouse %d", i), Brand: brand, Currency: "USD", Price: i * 100, ListPrice: i * 120,
			Stock: i % 3, Metrics: catalog.Metrics{Sales7d: i, Rating: float32(i%5) + 0.5},
			ContentAt: at, PriceAt: at, StockAt: at, MetricsAt: at})
	}
	_, err := catalog.NewStore(db.Pool).Upsert(ctx, ps)
	require.NoError(t, err)
	ix := rebuild(t, db)
	svc := &selection.Service{Executor: &selection.Executor{Index: ix}, Pools: selection.NewPoolStore(db.Pool), DB: db.Pool,
		Vocabulary: func() selection.Vocabulary {
			return selection.StaticVocabulary{BrandList: []string{"Logitech", "Razer"}}
		}}
	return db, ix, svc
}

func rebuild(t testing.TB, db *testdb.DB) *filter.Index {
	list, err := catalog.NewStore(db.Pool).List(context.Background(), catalog.ListOptions{First: true, Limit: 1 << 20, IncludeDeleted: true})
	require.NoError(t, err)
	ix := filter.NewIndex()
	rows := make([]filter.Row, len(list))
	for i := range list {
		rows[i] = filter.RowFromSKU(&list[i])
	}
	ix.Upsert(rows)
	return ix
}

func ids(items []selection.Item) []int64 {
	out := make([]int64, len(items))
	for i, it := range items {
		out[i] = it.SKUID
	}
	return out
}

func TestScenarioToRankedItems(t *testing.T) {
	ctx := context.Background()
	_, _, svc := fixture(t)
	pr, err := svc.PlanScenario(ctx, "top 5 best sellers by Razer under $30 in stock in Singapore", "")
	require.NoError(t, err)
	require.Equal(t, selection.SortSales, pr.Plan.Ranking.By)
	require.Equal(t, 5, pr.Plan.Limit)
	res, err := svc.Preview(ctx, pr.Plan)
	require.NoError(t, err)
	// Razer = even ids; SG = 1..20; price <= 3000 (SGD 30 -> USD 22.22: ids <= 22); stock = i%3 > 0.
	want := []int64{1020, 1016, 1014, 1010, 1008}
	require.Equal(t, want, ids(res.Items), "%+v", res)
	require.Equal(t, uint64(7), res.Candidates) // 2,4,8,10,14,16,20
	require.Contains(t, pr.Notes[0], "converted from SGD to USD")
}

// "newest" ranks by release date (not by arrival): SKUs that arrived later but were released
// earlier come after, and unknown dates come last.
func TestNewestRanksByReleaseDate(t *testing.T) {
	ctx := context.Background()
	db, _, svc := fixture(t)
	at := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	released := map[int64]string{1001: "2024-05-01", 1003: "2019-03-01", 1005: "2025-01-15", 1007: "2024-05-02", 1039: "2020-01-01"}
	var ps []catalog.Patch
	for id, d := range released {
		r, err := time.Parse(time.DateOnly, d)
		require.NoError(t, err)
		ps = append(ps, catalog.Patch{ID: id, Fields: catalog.FieldReleasedAt, ReleasedAt: &r, ContentAt: at})
	}
	_, err := catalog.NewStore(db.Pool).Upsert(ctx, ps)
	require.NoError(t, err)
	svc.Executor.Index = rebuild(t, db)

	pr, err := svc.PlanScenario(ctx, "newest Logitech", "")
	require.NoError(t, err)
	require.Equal(t, selection.SortNewest, pr.Plan.Ranking.By)
	pr.Plan.Limit = 6
	res, err := svc.Preview(ctx, pr.Plan)
	require.NoError(t, err)
	require.Equal(t, []int64{1005, 1007, 1001, 1039, 1003}, ids(res.Items)[:5], "%+v", res.Items)
	require.Contains(t, res.Items[0].Why, "20103") // 2025-01-15 is day 20,103

}

func TestPinsExclusionsAndBlend(t *testing.T) {
	ctx := context.Background()
	_, _, svc := fixture(t)
	plan := selection.Plan{Version: 1, Ranking: selection.Ranking{By: selection.SortPriceAsc}, Limit: 4,
		Pins: selection.IDs{1040, 999999}, Exclusions: selection.IDs{1001}}
	res, err := svc.Preview(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, []int64{1040, 1002, 1003, 1004}, ids(res.Items))
	require.True(t, res.Items[0].Pinned)
	require.Len(t, res.Warnings, 1) // the unknown pin

	_, err = svc.Preview(ctx, selection.Plan{Version: 1, Ranking: selection.Ranking{By: "blend"}, Limit: 3})
	require.ErrorIs(t, err, selection.ErrInvalid)
	f := filter.Attr("brand", "nosuchbrand")
	res, err = svc.Preview(ctx, selection.Plan{Version: 1, Filter: &f, Ranking: selection.Ranking{By: "sales"}, Limit: 3})
	require.NoError(t, err)
	require.Empty(t, res.Items)
	bad := filter.Tag("nosuchtag")
	_, err = svc.Preview(ctx, selection.Plan{Version: 1, Filter: &bad, Ranking: selection.Ranking{By: "sales"}, Limit: 3})
	require.ErrorIs(t, err, selection.ErrInvalid)
}

func TestPoolVersionsDiffAndIncrementalRefresh(t *testing.T) {
	ctx := context.Background()
	db, _, svc := fixture(t)
	f := filter.Attr("market", "SG")
	p, v1, err := svc.CreatePool(ctx, selection.PoolInput{Name: "sg best sellers",
		Plan: selection.Plan{Version: 1, Filter: &f, Ranking: selection.Ranking{By: "sales"}, Limit: 3}})
	require.NoError(t, err)
	require.Equal(t, 1, v1.Version)
	require.Equal(t, selection.IDs{1020, 1019, 1018}, v1.Ranking)

	// Nothing changed: skipped without running.
	outs, err := svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.Len(t, outs, 1)
	require.True(t, outs[0].Skipped)

	// A change to a MY SKU (not a member, not admitted by the filter): skipped.
	record := func(id int64, sales int64, sec int) {
		at := time.Date(2026, 11, 2, 0, 0, sec, 0, time.UTC)
		patch := catalog.Patch{ID: id, Fields: catalog.FieldMetrics, Metrics: catalog.Metrics{Sales7d: sales}, MetricsAt: at}
		_, err := catalog.NewStore(db.Pool).Upsert(ctx, []catalog.Patch{patch})
		require.NoError(t, err)
		payload, _ := json.Marshal(map[string]int64{"sales_7d": sales})
		_, err = db.Pool.Exec(ctx, `INSERT INTO sku_events (event_id, kind, sku_id, payload, source, tier, event_time)
			VALUES ($1, 'metrics.update', $2, $3, 'test', 'realtime', $4)`, fmt.Sprintf("e-%d-%d", id, sec), id, payload, at)
		require.NoError(t, err)
	}
	record(1030, 500, 1)
	svc.Executor.Index = rebuild(t, db)
	outs, err = svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.True(t, outs[0].Skipped, "%+v", outs[0])

	// An SG SKU becomes the best seller: a new version, and the diff says what moved.
	record(1005, 1000, 2)
	ix := rebuild(t, db)
	svc.Executor.Index = ix
	outs, err = svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.True(t, outs[0].Changed)
	require.Equal(t, 2, outs[0].Version)
	d := outs[0].Diff
	require.Equal(t, []selection.Moved{{SKUID: 1005, ToRank: 1}}, d.Added)
	require.Equal(t, []selection.Moved{{SKUID: 1018, FromRank: 3, Reason: "still qualifies; better-ranked SKUs filled the pool"}}, d.Removed)
	require.Len(t, d.Moved, 2)

	vs, err := svc.Pools.Versions(ctx, p.ID)
	require.NoError(t, err)
	require.Len(t, vs, 2)
	a, err := svc.Pools.GetVersion(ctx, p.ID, 1)
	require.NoError(t, err)
	b, err := svc.Pools.GetVersion(ctx, p.ID, 0)
	require.NoError(t, err)
	require.Equal(t, 2, b.Version)
	stored := selection.DiffVersions(a, b) // the same, without the refresh's reasons
	d.Removed[0].Reason = ""
	require.Equal(t, *d, stored)
	require.True(t, b.Members.Contains(uint64(mustOrd(t, ix, 1005))))

	_, err = svc.Pools.GetVersion(ctx, p.ID, 9)
	require.ErrorIs(t, err, selection.ErrNotFound)
	_, err = svc.Refresh(ctx, 424242)
	require.ErrorIs(t, err, selection.ErrNotFound)
}

// A pool is saved with its first version in one transaction: a refresher running alongside
// never finds a pool without a version (CI once crashed on the nil diff such a refresh produced,
// and the refresher's version 1 pushed the creator's to 2). A pool that has no version (written
// by Pools.Create alone) refreshes to version 1 with a diff from the empty version 0.
func TestRefreshAlongsideCreate(t *testing.T) {
	ctx := context.Background()
	_, _, svc := fixture(t)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			outs, err := svc.RefreshAll(ctx)
			if err != nil {
				done <- err
				return
			}
			for _, o := range outs {
				if o.Changed && o.Diff == nil {
					done <- fmt.Errorf("pool %d: changed without a diff", o.PoolID)
					return
				}
			}
		}
	}()
	for i := range 20 {
		p, v, err := svc.CreatePool(ctx, selection.PoolInput{Name: fmt.Sprintf("pool %d", i),
			Plan: selection.Plan{Version: 1, Ranking: selection.Ranking{By: "sales"}, Limit: 3 + i}})
		require.NoError(t, err)
		require.Equal(t, 1, v.Version)
		require.Equal(t, 1, p.CurrentVersion)
		require.Equal(t, p.ID, v.PoolID)
		got, err := svc.Pools.GetVersion(ctx, p.ID, 1)
		require.NoError(t, err)
		require.Equal(t, v.Ranking, got.Ranking)
	}
	close(stop)
	require.NoError(t, <-done)

	bare, err := svc.Pools.Create(ctx, selection.PoolInput{Name: "bare",
		Plan: selection.Plan{Version: 1, Ranking: selection.Ranking{By: "sales"}, Limit: 2}})
	require.NoError(t, err)
	require.Equal(t, 0, bare.CurrentVersion)
	o, err := svc.Refresh(ctx, bare.ID)
	require.NoError(t, err)
	require.True(t, o.Changed)
	require.Equal(t, 1, o.Version)
	require.NotNil(t, o.Diff)
	require.Equal(t, 0, o.Diff.From)
	require.Equal(t, []selection.Moved{{SKUID: 1040, ToRank: 1}, {SKUID: 1039, ToRank: 2}}, o.Diff.Added)
}

// A version records where the indexes stood when it was ranked, and an incremental refresh
// looks for changes after that, not after the newest event in the table: an index a poll
// behind, a transaction that took a lower seq and commits later, and a vector the vector
// followers had not read yet are all seen. A refresh that finds the ranking unchanged confirms
// the version at the new position, so the same changes do not re-run it on every tick.
func TestRefreshSeesWhatTheIndexHadNotApplied(t *testing.T) {
	ctx := context.Background()
	db, _, svc := fixture(t)
	snapshot := func() string {
		var snap string
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&snap))
		return snap
	}
	event := func(q interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	}, id, sales int64, sec int) {
		at := time.Date(2026, 11, 3, 0, 0, sec, 0, time.UTC)
		_, err := q.Exec(ctx, `UPDATE skus SET sales_7d = $2, metrics_at = $3, updated_at = now() WHERE id = $1`, id, sales, at)
		require.NoError(t, err)
		payload, _ := json.Marshal(map[string]int64{"sales_7d": sales})
		_, err = q.Exec(ctx, `INSERT INTO sku_events (event_id, kind, sku_id, payload, source, tier, event_time)
			VALUES ($1, 'metrics.update', $2, $3, 'test', 'realtime', $4)`, fmt.Sprintf("lag-%d-%d", id, sec), id, payload, at)
		require.NoError(t, err)
	}
	f := filter.Attr("market", "SG")
	plan := selection.Plan{Version: 1, Filter: &f, Ranking: selection.Ranking{By: "sales"}, Limit: 3}

	// The index stands at p0; SKU 1005's new sales are committed but not applied yet.
	p0 := selection.Position{EventSnapshot: snapshot()}
	event(db.Pool, 1005, 1000, 1)
	svc.Position = func(context.Context) (selection.Position, error) { return p0, nil }
	p, v1, err := svc.CreatePool(ctx, selection.PoolInput{Name: "sg best sellers", Plan: plan})
	require.NoError(t, err)
	require.Equal(t, selection.IDs{1020, 1019, 1018}, v1.Ranking, "ranked by the index as it stood")

	// The index catches up: the refresh must not skip SKU 1005.
	svc.Executor.Index = rebuild(t, db)
	svc.Position = nil
	outs, err := svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.Len(t, outs, 1)
	require.True(t, outs[0].Changed, "%+v", outs[0])
	require.Equal(t, []selection.Moved{{SKUID: 1005, ToRank: 1}}, outs[0].Diff.Added)

	// A transaction takes a seq, a later one commits first, a version is written; then the first
	// commits. Its event is still after the version's position.
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	event(tx, 1007, 2000, 2)
	event(db.Pool, 1009, 1500, 3)
	svc.Executor.Index = rebuild(t, db)
	outs, err = svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.True(t, outs[0].Changed, "%+v", outs[0])
	require.Equal(t, selection.IDs{1009, 1005, 1020}, mustVersion(t, svc, p.ID).Ranking)
	require.NoError(t, tx.Commit(ctx))
	svc.Executor.Index = rebuild(t, db)
	outs, err = svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.True(t, outs[0].Changed, "%+v", outs[0])
	require.Equal(t, selection.IDs{1007, 1009, 1005}, mustVersion(t, svc, p.ID).Ranking)

	// A vector written after the version's VectorsFrom (the vector followers had not read it)
	// re-runs the plan; the ranking holds, so the version is confirmed and the next tick skips.
	cur := mustVersion(t, svc, p.ID)
	svc.Position = func(context.Context) (selection.Position, error) {
		return selection.Position{EventSnapshot: snapshot(), VectorsFrom: time.Now().Add(-time.Hour)}, nil
	}
	o, err := svc.Refresh(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, "ranking unchanged", o.Reason)
	require.Equal(t, cur.Version, o.Version)
	_, err = db.Pool.Exec(ctx, `INSERT INTO sku_vectors (sku_id, model, content_hash, embedding, ordinal)
		SELECT id, 'test', '\x00', array_fill(0.1::real, ARRAY[512])::vector, ordinal FROM skus WHERE id = 1003`)
	require.NoError(t, err)
	cur = mustVersion(t, svc, p.ID)
	require.False(t, cur.Position.VectorsFrom.IsZero())
	outs, err = svc.RefreshAll(ctx)
	require.NoError(t, err)
	// Seen (one changed SKU), and judged: a new vector cannot lift SKU 1003 into a pool ranked
	// by sales without a query, whose last member sells more.
	require.True(t, outs[0].Skipped, "%+v", outs[0])
	require.Contains(t, outs[0].Reason, "1 changed SKUs", "SKU 1003's vector is new to the version")
	svc.Position = func(context.Context) (selection.Position, error) {
		return selection.Position{EventSnapshot: snapshot(), VectorsFrom: time.Now().Add(time.Minute)}, nil
	}
	_, err = svc.Refresh(ctx, p.ID)
	require.NoError(t, err)
	outs, err = svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.True(t, outs[0].Skipped, "confirmed past the vector: %+v", outs[0])
	require.Equal(t, "no SKU changed", outs[0].Reason)
}

// A pinned SKU bypasses the filter: when it comes back to life it is neither a member nor
// admitted, and the refresh must still re-run the plan.
func TestRefreshSeesARevivedPin(t *testing.T) {
	ctx := context.Background()
	db, _, svc := fixture(t)
	store := catalog.NewStore(db.Pool)
	_, err := store.Delete(ctx, 1029, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	svc.Executor.Index = rebuild(t, db)
	f := filter.Attr("market", "SG")
	p, v1, err := svc.CreatePool(ctx, selection.PoolInput{Name: "sg + pin", Plan: selection.Plan{Version: 1, Filter: &f,
		Ranking: selection.Ranking{By: "sales"}, Limit: 3, Pins: selection.IDs{1029}}})
	require.NoError(t, err)
	require.Equal(t, selection.IDs{1020, 1019, 1018}, v1.Ranking, "a deleted pin is left out")

	// Revived (newer content) with an event: the pin is back on top.
	at := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	_, err = store.Upsert(ctx, []catalog.Patch{{ID: 1029, Fields: catalog.FieldTitle, Title: "mouse 29 (back)", ContentAt: at}})
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `INSERT INTO sku_events (event_id, kind, sku_id, payload, source, tier, event_time)
		VALUES ('revive-1029', 'sku.upsert', 1029, '{}', 'test', 'realtime', $1)`, at)
	require.NoError(t, err)
	svc.Executor.Index = rebuild(t, db)
	outs, err := svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.True(t, outs[0].Changed, "%+v", outs[0])
	require.Equal(t, selection.IDs{1029, 1020, 1019}, mustVersion(t, svc, p.ID).Ranking)
}

// Two refreshes of one pool at once (the refresher and a manual one, or two replicas) add one
// version between them, not two copies of it.
func TestConcurrentRefreshesAddOneVersion(t *testing.T) {
	ctx := context.Background()
	db, _, svc := fixture(t)
	f := filter.Attr("market", "SG")
	p, _, err := svc.CreatePool(ctx, selection.PoolInput{Name: "sg", Plan: selection.Plan{Version: 1, Filter: &f,
		Ranking: selection.Ranking{By: "sales"}, Limit: 3}})
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `UPDATE skus SET sales_7d = 5000, updated_at = now() WHERE id = 1001`)
	require.NoError(t, err)
	svc.Executor.Index = rebuild(t, db)
	outs := make(chan selection.RefreshOutcome, 4)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			o, err := svc.Refresh(ctx, p.ID)
			outs <- o
			errs <- err
		}()
	}
	changed := 0
	for range 4 {
		require.NoError(t, <-errs)
		if (<-outs).Changed {
			changed++
		}
	}
	require.Equal(t, 1, changed)
	vs, err := svc.Pools.Versions(ctx, p.ID)
	require.NoError(t, err)
	require.Len(t, vs, 2)
}

func mustVersion(t *testing.T, svc *selection.Service, id int64) *selection.Version {
	t.Helper()
	v, err := svc.Pools.GetVersion(context.Background(), id, 0)
	require.NoError(t, err)
	return v
}

func mustOrd(t *testing.T, ix *filter.Index, id int64) int64 {
	o, ok := ix.Ordinal(id)
	require.True(t, ok)
	return o
}

// ReferringTo finds the pools whose filter names a tag, at any depth and in any case.
func TestPoolsReferringToTag(t *testing.T) {
	ctx := context.Background()
	db, _, svc := fixture(t)
	_, err := db.Pool.Exec(ctx, `INSERT INTO tags (name, kind, definition) VALUES ('refurbished', 'rule', '{}'), ('Gaming', 'rule', '{}')`)
	require.NoError(t, err)
	mk := func(name string, f filter.Expr) int64 {
		p, err := svc.Pools.Create(ctx, selection.PoolInput{Name: name,
			Plan: selection.Plan{Version: 1, Filter: &f, Ranking: selection.Ranking{By: "sales"}, Limit: 3}})
		require.NoError(t, err)
		return p.ID
	}
	a := mk("gaming deals", filter.And(filter.Attr("market", "SG"), filter.Not(filter.Or(filter.Tag("Refurbished"), filter.Tag("gaming")))))
	mk("plain", filter.Attr("market", "MY"))
	b := mk("refurb only", filter.Tag("refurbished"))
	_, err = svc.Pools.Create(ctx, selection.PoolInput{Name: "no filter", Plan: selection.Plan{Version: 1, Ranking: selection.Ranking{By: "sales"}, Limit: 3}})
	require.NoError(t, err)

	got, err := svc.Pools.ReferringTo(ctx, nil, "refurbished")
	require.NoError(t, err)
	require.Equal(t, []string{fmt.Sprintf(`pool "gaming deals" (id %d)`, a), fmt.Sprintf(`pool "refurb only" (id %d)`, b)}, got)
	got, err = svc.Pools.ReferringTo(ctx, nil, "clearance")
	require.NoError(t, err)
	require.Empty(t, got)

	// A pool may only name tags that exist (and they stay locked until it is written, so a
	// tag delete cannot slip in between).
	f := filter.Tag("clearance")
	_, err = svc.Pools.Create(ctx, selection.PoolInput{Name: "clearance", Plan: selection.Plan{Version: 1, Filter: &f,
		Ranking: selection.Ranking{By: "sales"}, Limit: 3}})
	require.ErrorIs(t, err, selection.ErrInvalid)
	require.ErrorContains(t, err, `tag "clearance", which does not exist`)
	_, err = svc.Pools.Update(ctx, b, selection.PoolInput{Name: "refurb only", Plan: selection.Plan{Version: 1, Filter: &f,
		Ranking: selection.Ranking{By: "sales"}, Limit: 3}}, selection.Edit{Any: true})
	require.ErrorIs(t, err, selection.ErrInvalid)
}

// A plan's intent keeps the pool to its product types: every SKU of them that passes the
// filter (not a handful), ranked as asked; the result says how many matched and why it stops;
// a type the catalogue does not hold is reported.
func TestIntentRestrictsAndExplainsThePool(t *testing.T) {
	ctx := context.Background()
	db, _, svc := fixture(t)
	var ps []catalog.Patch
	for i := int64(1); i <= 40; i++ {
		pt := "mouse"
		if i > 30 {
			pt = "mouse pad"
		}
		ps = append(ps, catalog.Patch{ID: 1000 + i, Fields: catalog.FieldProductType, ProductType: pt,
			ContentAt: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)})
	}
	_, err := catalog.NewStore(db.Pool).Upsert(ctx, ps)
	require.NoError(t, err)
	svc.Executor.Index = rebuild(t, db)

	plan := selection.Plan{Version: selection.PlanVersion, Ranking: selection.Ranking{By: selection.SortSales}, Limit: 100,
		Intent: &selection.Intent{Types: []selection.IntentType{{Name: "mouse pad"}}}}
	res, err := svc.Preview(ctx, plan)
	require.NoError(t, err)
	require.Equal(t, []int64{1040, 1039, 1038, 1037, 1036, 1035, 1034, 1033, 1032, 1031}, ids(res.Items))
	require.EqualValues(t, 40, res.Candidates)
	require.EqualValues(t, 10, res.Matched)
	require.Equal(t, "all 10 SKUs pass the filter and are of the types mouse pad", res.Stop)

	plan.Limit = 4
	res, err = svc.Preview(ctx, plan)
	require.NoError(t, err)
	require.Len(t, res.Items, 4)
	require.Contains(t, res.Stop, "the pool's limit: 4 of the 10")

	f := filter.Attr("market", "SG")
	plan.Filter, plan.Limit = &f, 100
	plan.Intent.Types = append(plan.Intent.Types, selection.IntentType{Name: "trackball"})
	res, err = svc.Preview(ctx, plan)
	require.NoError(t, err)
	require.Empty(t, res.Items) // mouse pads are 31..40, all in MY
	require.Equal(t, "no SKU passes the filter and is of the types mouse pad, trackball", res.Stop)
	require.Contains(t, res.Warnings, `no SKU of the catalogue has the product type "trackball"`)

	plan.Intent.Types = make([]selection.IntentType, selection.MaxIntentTypes+1)
	for i := range plan.Intent.Types {
		plan.Intent.Types[i].Name = fmt.Sprint("t", i)
	}
	_, err = svc.Preview(ctx, plan)
	require.ErrorIs(t, err, selection.ErrInvalid)
}

// A pool says how fresh it is: when a refresh last wrote or confirmed its version, and how many
// catalogue events came after what the version reflects; a pass that finds nothing touching
// the pool moves both on (a change elsewhere: at once; nothing at all: once its check is a
// minute old, without a write per pass).
func TestPoolFreshness(t *testing.T) {
	ctx := context.Background()
	db, _, svc := fixture(t)
	p, _, err := svc.CreatePool(ctx, selection.PoolInput{Name: "fresh",
		Plan: selection.Plan{Version: 1, Filter: ptrExpr(filter.Attr("brand", "razer")), Ranking: selection.Ranking{By: "sales"}, Limit: 3}})
	require.NoError(t, err)
	got, err := svc.Pools.Get(ctx, p.ID)
	require.NoError(t, err)
	require.NotNil(t, got.RefreshedAt)
	require.Zero(t, got.EventsBehind)
	first := *got.RefreshedAt

	// Events about a SKU the pool does not hold or admit: the pool falls behind, until a pass.
	for i := range 3 {
		recordEvent(t, db, fmt.Sprintf("fresh-%d", i), "sku.upsert", 1001)
	}
	got, err = svc.Pools.Get(ctx, p.ID)
	require.NoError(t, err)
	require.EqualValues(t, 3, got.EventsBehind)
	outs, err := svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.Len(t, outs, 1)
	require.True(t, outs[0].Skipped, outs[0].Reason)
	require.Positive(t, outs[0].Lag)
	got, err = svc.Pools.Get(ctx, p.ID)
	require.NoError(t, err)
	require.Zero(t, got.EventsBehind)
	require.True(t, got.RefreshedAt.After(first))

	// Nothing changed: no write within the minute, then one.
	second := *got.RefreshedAt
	_, err = svc.RefreshAll(ctx)
	require.NoError(t, err)
	got, err = svc.Pools.Get(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, second, *got.RefreshedAt)
	_, err = db.Pool.Exec(ctx, `UPDATE pool_versions SET checked_at = checked_at - interval '2 minutes' WHERE pool_id = $1`, p.ID)
	require.NoError(t, err)
	_, err = svc.RefreshAll(ctx)
	require.NoError(t, err)
	got, err = svc.Pools.Get(ctx, p.ID)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), *got.RefreshedAt, time.Minute)

	// Checked longer ago than events are kept: ranked again, not checked against the changes.
	svc.EventsKeptFor = time.Hour
	_, err = db.Pool.Exec(ctx, `UPDATE pool_versions SET checked_at = checked_at - interval '2 hours' WHERE pool_id = $1`, p.ID)
	require.NoError(t, err)
	outs, err = svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.Len(t, outs, 1)
	require.False(t, outs[0].Skipped)
	require.Equal(t, "ranking unchanged", outs[0].Reason)
	got, err = svc.Pools.Get(ctx, p.ID)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), *got.RefreshedAt, time.Minute)
}

func ptrExpr(e filter.Expr) *filter.Expr { return &e }

// RefreshAll refreshes its pages of pools on several workers with the outcomes in pool order,
// the same as one worker gives; a pool that overruns its budget fails alone (the pass goes on
// and the next one tries it again), and the outcomes hold no run results.
func TestRefreshAllWorkersAndBudget(t *testing.T) {
	ctx := context.Background()
	db, _, svc := fixture(t)
	defer selection.SetRefreshPage(5)() // 12 pools: three pages in the pipeline
	for i := range 12 {
		_, err := svc.Pools.Create(ctx, selection.PoolInput{Name: fmt.Sprintf("w%d", i),
			Plan: selection.Plan{Version: 1, Ranking: selection.Ranking{By: "sales"}, Limit: 2 + i}})
		require.NoError(t, err)
	}
	svc.PoolBudget = time.Nanosecond
	outs, err := svc.RefreshAll(ctx)
	require.NoError(t, err, "pools over budget fail alone")
	require.Empty(t, outs)

	svc.PoolBudget, svc.RefreshWorkers = 0, 4
	outs, err = svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.Len(t, outs, 12)
	written := map[int64]*selection.Version{}
	for i, o := range outs {
		require.True(t, o.Changed)
		require.Nil(t, o.Result)
		if i > 0 {
			require.Less(t, o.PoolID, outs[i-1].PoolID, "pool order: newest first, as listed")
		}
		p, err := svc.Pools.Get(ctx, o.PoolID)
		require.NoError(t, err)
		v, err := svc.Pools.GetVersion(ctx, o.PoolID, 0)
		require.NoError(t, err)
		require.Len(t, v.Ranking, p.Plan.Limit)
		// Every version the pass wrote holds at the pass's position (read before any run),
		// though each write moved the database's snapshot: the next pass reads the changes
		// since it once.
		if i > 0 {
			require.Equal(t, written[outs[0].PoolID].Position.EventSnapshot, v.Position.EventSnapshot)
		}
		written[o.PoolID] = v
	}
	// The pass's versions commit lazily, each in its own transaction only: no connection the
	// pool hands out keeps synchronous_commit off.
	conns := db.Pool.AcquireAllIdle(ctx)
	require.NotEmpty(t, conns)
	var settings []string
	for _, c := range conns {
		var sc string
		err := c.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&sc)
		c.Release()
		require.NoError(t, err)
		settings = append(settings, sc)
	}
	for _, sc := range settings {
		require.Equal(t, "on", sc)
	}
	svc.RefreshWorkers = 1
	again, err := svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.Len(t, again, 12)
	for _, o := range again {
		require.False(t, o.Changed, "nothing changed since")
	}

	// Runs that find the ranking unchanged (here every pool: checked too long ago) confirm
	// their versions with their page, at the pass's position.
	svc.EventsKeptFor = time.Nanosecond
	defer func() { svc.EventsKeptFor = 0 }()
	runs, err := svc.RefreshAll(ctx)
	require.NoError(t, err)
	require.Len(t, runs, 12)
	var at string
	for _, o := range runs {
		require.Equal(t, "checked too long ago", o.Trigger)
		require.False(t, o.Changed)
		require.False(t, o.Skipped)
		require.Equal(t, "ranking unchanged", o.Reason)
		v, err := svc.Pools.GetVersion(ctx, o.PoolID, 0)
		require.NoError(t, err)
		require.Equal(t, written[o.PoolID].Version, v.Version)
		require.True(t, v.CheckedAt.After(written[o.PoolID].CheckedAt), "confirmed")
		require.NotEqual(t, written[o.PoolID].Position.EventSnapshot, v.Position.EventSnapshot, "at the later pass's position")
		if at == "" {
			at = v.Position.EventSnapshot
		}
		require.Equal(t, at, v.Position.EventSnapshot)
	}
}

// A pool waiting on a pass's change read that failed because its reader's budget ended reads
// the changes itself, its own budget left, rather than failing with the reader.
func TestChangeReadOutlivesItsReadersBudget(t *testing.T) {
	ctx := context.Background()
	_, _, svc := fixture(t)
	_, v, err := svc.CreatePool(ctx, selection.PoolInput{Name: "w",
		Plan: selection.Plan{Version: 1, Ranking: selection.Ranking{By: "sales"}, Limit: 3}})
	require.NoError(t, err)
	changed, err := svc.WaitOnFailedRead(ctx, v)
	require.NoError(t, err)
	require.True(t, changed.IsEmpty())
}

// A pass confirms a page's versions after its runs: a newer version this process wrote
// meanwhile (a manual refresh) keeps its record.
func TestOwnRecordKeepsTheNewerVersion(t *testing.T) {
	svc := &selection.Service{GenerationAt: func(string) (filter.Generation, bool) { return filter.Generation{}, true }}
	pos := selection.Position{EventSnapshot: "10:10:"}
	require.Equal(t, 3, svc.Own(7, 3, pos))
	require.Equal(t, 4, svc.Own(7, 4, pos))
	require.Equal(t, 4, svc.Own(7, 3, pos), "the older version's late confirm")
	require.Equal(t, 5, svc.Own(7, 5, pos))
	require.Equal(t, 0, svc.Own(8, 1, selection.Position{}), "no snapshot: no record")
}

// A change to a SKU that is not a member re-runs a pool only when it can bring the SKU in: a
// metrics change matters to a pool ranked by sales, not to one ranked by price; a price change
// the other way round; any other change (an upsert) to both.
func TestRefreshSkipsChangesThatCannotBringASKUIn(t *testing.T) {
	ctx := context.Background()
	db, _, svc := fixture(t)
	razer := ptrExpr(filter.Attr("brand", "razer"))
	bySales, _, err := svc.CreatePool(ctx, selection.PoolInput{Name: "sales",
		Plan: selection.Plan{Version: 1, Filter: razer, Ranking: selection.Ranking{By: "sales"}, Limit: 3}})
	require.NoError(t, err)
	byPrice, _, err := svc.CreatePool(ctx, selection.PoolInput{Name: "price",
		Plan: selection.Plan{Version: 1, Filter: razer, Ranking: selection.Ranking{By: "price_asc"}, Limit: 3}})
	require.NoError(t, err)
	// SKU 1020 is a Razer in neither pool: 36, 38, 40 sell more, 2, 4, 6 cost less.
	for _, pool := range []int64{bySales.ID, byPrice.ID} {
		v, err := svc.Pools.GetVersion(ctx, pool, 0)
		require.NoError(t, err)
		require.NotContains(t, []int64(v.Ranking), int64(1020))
	}
	n := 0
	event := func(kind string) map[int64]selection.RefreshOutcome {
		t.Helper()
		n++
		recordEvent(t, db, fmt.Sprintf("k%d", n), kind, 1020)
		return refreshByPool(t, svc)
	}
	outs := event("metrics.update")
	require.True(t, outs[bySales.ID].Skipped, "its 20 sales do not beat the last member's 36: %s", outs[bySales.ID].Reason)
	require.True(t, outs[byPrice.ID].Skipped, outs[byPrice.ID].Reason)
	// Now it sells 1,000: it can enter the pool ranked by sales, not the one ranked by price.
	_, err = db.Pool.Exec(ctx, `UPDATE skus SET sales_7d = 1000 WHERE id = 1020`)
	require.NoError(t, err)
	svc.Executor.Index = rebuild(t, db)
	outs = event("metrics.update")
	require.True(t, outs[bySales.ID].Changed, "sales ranking reads metrics: %+v", outs[bySales.ID])
	require.True(t, outs[byPrice.ID].Skipped, outs[byPrice.ID].Reason)
	// Then it costs 1 cent: it can enter the pool ranked by price, not (again) the other.
	_, err = db.Pool.Exec(ctx, `UPDATE skus SET price = 1 WHERE id = 1020`)
	require.NoError(t, err)
	svc.Executor.Index = rebuild(t, db)
	outs = event("price.update")
	require.True(t, outs[bySales.ID].Skipped, outs[bySales.ID].Reason)
	require.True(t, outs[byPrice.ID].Changed, "price ranking reads prices: %+v", outs[byPrice.ID])
	outs = event("sku.upsert")
	require.False(t, outs[bySales.ID].Skipped)
	require.False(t, outs[byPrice.ID].Skipped)
}

// A member's change to a field only the filter reads matters when the member stops passing it:
// a restock of an in-stock best seller leaves its pool alone, its selling out re-runs it.
func TestRefreshSkipsAMemberThatStillPasses(t *testing.T) {
	ctx := context.Background()
	db, _, svc := fixture(t)
	p, v, err := svc.CreatePool(ctx, selection.PoolInput{Name: "in stock",
		Plan: selection.Plan{Version: 1, Filter: ptrExpr(filter.Attr("in_stock", "true")), Ranking: selection.Ranking{By: "sales"}, Limit: 3}})
	require.NoError(t, err)
	require.Equal(t, selection.IDs{1040, 1038, 1037}, v.Ranking)
	stock := func(n int64) selection.RefreshOutcome {
		t.Helper()
		_, err := db.Pool.Exec(ctx, `UPDATE skus SET stock = $1 WHERE id = 1040`, n)
		require.NoError(t, err)
		recordEvent(t, db, fmt.Sprintf("s%d", n), "stock.update", 1040)
		svc.Executor.Index = rebuild(t, db)
		outs, err := svc.RefreshAll(ctx)
		require.NoError(t, err)
		require.Len(t, outs, 1)
		return outs[0]
	}
	o := stock(9)
	require.True(t, o.Skipped, "restocked, still in stock: %+v", o)
	o = stock(0)
	require.True(t, o.Changed, "sold out: %+v", o)
	require.Equal(t, selection.IDs{1038, 1037, 1035}, mustVersion(t, svc, p.ID).Ranking)
}

// recordEvent records an accepted event of a kind about a SKU (the row is changed, if at all,
// by the caller): what the refresher reads changes from.
func recordEvent(t *testing.T, db *testdb.DB, id, kind string, sku int64) {
	t.Helper()
	_, err := db.Pool.Exec(context.Background(), `INSERT INTO sku_events (event_id, kind, sku_id, payload, source, tier, event_time)
		VALUES ($1, $2, $3, '{}', 'test', 'realtime', now())`, id, kind, sku)
	require.NoError(t, err)
}

// A pass compares each pool's plan with its current version's by the text both were read from
// (plansMatch): a pool whose plan nobody edited is skipped, whether its version was read from
// Postgres or kept from the pass that wrote it, and an edit, even one that only reorders the
// plan's text or changes a single number, is seen.
func TestRefreshAllSeesAnEditedPlan(t *testing.T) {
	ctx := context.Background()
	_, _, svc := fixture(t)
	plan := selection.Plan{Version: 1, Filter: ptrExpr(filter.Attr("brand", "razer")), Ranking: selection.Ranking{By: "sales"}, Limit: 3}
	p, _, err := svc.CreatePool(ctx, selection.PoolInput{Name: "razer", Plan: plan})
	require.NoError(t, err)
	for pass := range 2 { // the version as read, then as kept
		o := refreshByPool(t, svc)[p.ID]
		require.True(t, o.Skipped, "pass %d: %+v", pass, o)
	}
	plan.Limit = 2
	_, err = svc.Pools.Update(ctx, p.ID, selection.PoolInput{Name: "razer", Plan: plan}, selection.Edit{Any: true})
	require.NoError(t, err)
	o := refreshByPool(t, svc)[p.ID]
	require.Equal(t, "plan edited", o.Trigger)
	require.True(t, o.Changed)
	v, err := svc.Pools.GetVersion(ctx, p.ID, 0)
	require.NoError(t, err)
	require.Len(t, v.Ranking, 2)
	require.True(t, refreshByPool(t, svc)[p.ID].Skipped, "the written version's plan is the pool's")
	// The listing takes the kept version's plan for a pool whose stored plan is its text, and
	// decodes an edited one.
	listed := func() selection.Plan {
		t.Helper()
		pools, err := svc.Pools.List(ctx, 0, 10)
		require.NoError(t, err)
		require.Len(t, pools, 1)
		return pools[0].Plan
	}
	require.Equal(t, 2, listed().Limit)
	plan.Limit = 1
	_, err = svc.Pools.Update(ctx, p.ID, selection.PoolInput{Name: "razer", Plan: plan}, selection.Edit{Any: true})
	require.NoError(t, err)
	require.Equal(t, 1, listed().Limit)
}

func TestPlansMatch(t *testing.T) {
	a := selection.Plan{Version: 1, Ranking: selection.Ranking{By: "sales"}, Limit: 3}
	b := a
	b.Limit = 4
	require.True(t, selection.PlansMatch(a, []byte(`{"x":1}`), a, []byte(`{"x":1}`)))
	require.True(t, selection.PlansMatch(a, []byte(`{"limit":3}`), a, []byte(`{"limit": 3}`)), "other texts of one plan")
	require.True(t, selection.PlansMatch(a, nil, a, []byte(`{}`)), "a text unknown")
	require.False(t, selection.PlansMatch(a, []byte(`{"limit":3}`), b, []byte(`{"limit":4}`)))
	require.False(t, selection.PlansMatch(a, nil, b, nil))
}
