package selection_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/filter"
	"selection/internal/testdb"
	"selection/selection"
)

// BenchmarkRefreshAll: 180 pools over 18,000 SKUs (6 markets x 30 brands, one pool per pair),
// each pass after 500 metrics events on random SKUs. The baseline re-runs every pool's plan
// (Service.Refresh); the incremental pass (RefreshAll) re-runs only pools a changed SKU can
// touch (the events touch the 30 pools of one market). Both leave the same rankings; the ratio
// of their ns/op is the saving. The quiet case is a pass with nothing changed since the last.
//
//	go test ./selection -run '^$' -bench RefreshAll -benchtime 10x
func BenchmarkRefreshAll(b *testing.B) {
	ctx := context.Background()
	db := testdb.New(b)
	const skus, markets, brands = 18000, 6, 30
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var ps []catalog.Patch
	for i := int64(0); i < skus; i++ {
		ps = append(ps, catalog.Patch{ID: 1 + i, Fields: catalog.FieldMarket | catalog.FieldTitle | catalog.FieldBrand |
			catalog.FieldCurrency | catalog.FieldPrice | catalog.FieldStock | catalog.FieldMetrics,
			Market: catalog.Markets[i%markets], Title: fmt.Sprintf("item %d", i), Brand: fmt.Sprintf("B%d", (i/markets)%brands),
			Currency: "USD", Price: 100 + i%5000, Stock: 1 + i%7, Metrics: catalog.Metrics{Sales7d: i % 997},
			ContentAt: at, PriceAt: at, StockAt: at, MetricsAt: at})
	}
	store := catalog.NewStore(db.Pool)
	_, err := store.Upsert(ctx, ps)
	require.NoError(b, err)
	ix := rebuild(b, db)
	svc := &selection.Service{Executor: &selection.Executor{Index: ix}, Pools: selection.NewPoolStore(db.Pool), DB: db.Pool}
	var ids []int64
	for m := range markets {
		for br := range brands {
			f := filter.And(filter.Attr("market", catalog.Markets[m]), filter.Attr("brand", fmt.Sprintf("B%d", br)))
			p, _, err := svc.CreatePool(ctx, selection.PoolInput{Name: fmt.Sprintf("%s B%d", catalog.Markets[m], br),
				Plan: selection.Plan{Version: 1, Filter: &f, Ranking: selection.Ranking{By: "sales"}, Limit: 20}})
			require.NoError(b, err)
			ids = append(ids, p.ID)
		}
	}
	seq := 0
	events := func() {
		// 500 events on SKUs of the first market, spread over its brands.
		batch := make([]catalog.Patch, 0, 500)
		for range 500 {
			seq++
			id := int64(1 + (seq*markets*7)%skus)
			id -= (id - 1) % markets // the first market
			batch = append(batch, catalog.Patch{ID: id, Fields: catalog.FieldMetrics,
				Metrics: catalog.Metrics{Sales7d: int64(seq % 1500)}, MetricsAt: at.Add(time.Duration(seq) * time.Second)})
			payload, _ := json.Marshal(map[string]int{"sales_7d": seq % 1500})
			_, err := db.Pool.Exec(ctx, `INSERT INTO sku_events (event_id, kind, sku_id, payload, source, tier, event_time)
				VALUES ($1, 'metrics.update', $2, $3, 'bench', 'realtime', $4)`, fmt.Sprintf("b-%d", seq), id, payload, at)
			require.NoError(b, err)
		}
		_, err := store.Upsert(ctx, batch)
		require.NoError(b, err)
	}
	b.Run("baseline-refresh-every-pool", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			events()
			svc.Executor.Index = rebuild(b, db)
			b.StartTimer()
			for _, id := range ids {
				_, err := svc.Refresh(ctx, id)
				require.NoError(b, err)
			}
		}
	})
	b.Run("incremental-RefreshAll", func(b *testing.B) {
		reran := 0
		for b.Loop() {
			b.StopTimer()
			events()
			svc.Executor.Index = rebuild(b, db)
			b.StartTimer()
			outs, err := svc.RefreshAll(ctx)
			require.NoError(b, err)
			require.Len(b, outs, len(ids))
			for _, o := range outs {
				if !o.Skipped {
					reran++
				}
			}
		}
		b.ReportMetric(float64(reran)/float64(b.N), "pools-rerun/op")
	})
	b.Run("incremental-RefreshAll-quiet", func(b *testing.B) {
		// Nothing changed since the last pass: every pool is skipped.
		_, err := svc.RefreshAll(ctx)
		require.NoError(b, err)
		for b.Loop() {
			outs, err := svc.RefreshAll(ctx)
			require.NoError(b, err)
			require.Len(b, outs, len(ids))
			require.True(b, outs[0].Skipped)
		}
	})
}
