package tagger

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"selection/catalog"
	"selection/filter"
	"selection/internal/testdb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"))
}

var t0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// applyWithEvent commits patches and one sku_events row per patch in one transaction, as the
// ingest path does.
func applyWithEvent(t *testing.T, db *testdb.DB, patches []catalog.Patch) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		for _, p := range patches {
			if _, err := tx.Exec(ctx, `INSERT INTO sku_events (event_id, kind, sku_id, payload, source, tier, event_time)
				VALUES ($1, 'sku.upsert', $2, '{}', 'test', 'realtime', now())`,
				fmt.Sprintf("ev-%d-%d", p.ID, time.Now().UnixNano()), p.ID); err != nil {
				return err
			}
		}
		_, err := catalog.Apply(ctx, tx, patches)
		return err
	})
	require.NoError(t, err)
}

func skuPatch(id int64, brand string, price int64, at time.Time) catalog.Patch {
	return catalog.Patch{ID: id, Fields: catalog.FieldTitle | catalog.FieldBrand | catalog.FieldMarket | catalog.FieldPrice | catalog.FieldCurrency | catalog.FieldStock,
		Title: fmt.Sprintf("sku %d", id), Brand: brand, Market: "SG", Currency: "SGD", Price: price, Stock: 3,
		ContentAt: at, PriceAt: at, StockAt: at}
}

// A committed price change shows in Eval within a poll or two (bounded at 5 s), rule tags follow,
// and a restart from the saved snapshot sees the same index as a build from skus.
func TestTaggerFreshnessAndSnapshot(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	var patches []catalog.Patch
	for i := int64(1); i <= 500; i++ {
		brand := []string{"Logitech", "Razer", "HP"}[i%3]
		patches = append(patches, skuPatch(i*7919, brand, 1000+i*10, t0))
	}
	applyWithEvent(t, db, patches)

	tg, err := New(db.Pool, nil, nil, Config{PollInterval: 50 * time.Millisecond, SaveInterval: -1})
	require.NoError(t, err)
	how, err := tg.Load(ctx)
	require.NoError(t, err)
	require.Equal(t, "skus", how)
	require.EqualValues(t, 500, tg.Index().LiveCount())

	rule, err := filter.ParseExpr("brand = Logitech and price < 3000")
	require.NoError(t, err)
	_, err = tg.Define(ctx, TagDef{Name: "cheap-logitech", Kind: KindRule, Definition: Definition{Rule: &rule}})
	require.NoError(t, err)
	n, err := tg.Index().Count(filter.Tag("cheap-logitech"))
	require.NoError(t, err)
	want, err := tg.Index().Count(rule)
	require.NoError(t, err)
	require.Equal(t, want, n)
	require.NotZero(t, n)

	require.NoError(t, tg.Start(ctx))
	defer func() { require.NoError(t, tg.Stop(ctx)) }()

	// SKU 3*7919 is a Logitech at 1030; make it cost 999999 and a new Logitech SKU at 10.
	target := int64(3 * 7919)
	p := skuPatch(target, "Logitech", 999_999, t0.Add(time.Hour))
	applyWithEvent(t, db, []catalog.Patch{p, skuPatch(42, "logitech", 10, t0)})
	start := time.Now()
	expensive := filter.And(filter.Attr("brand", "logitech"), filter.AtLeast("price", 999_999))
	for {
		bm, err := tg.Index().Eval(expensive)
		require.NoError(t, err)
		if bm.GetCardinality() == 1 {
			ids := tg.Index().SKUIDs(bm, 0)
			require.Equal(t, []int64{target}, ids)
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("price change not visible after %v", time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("change visible after %v", time.Since(start))
	// the rule tag followed: the target left, the new SKU joined
	require.Eventually(t, func() bool {
		ex, err := tg.Explain(ctx, "cheap-logitech", 42)
		return err == nil && ex.Member
	}, 30*time.Second, 10*time.Millisecond)
	ex, err := tg.Explain(ctx, "cheap-logitech", target)
	require.NoError(t, err)
	require.False(t, ex.Member)
	require.Len(t, ex.Predicates, 2)
	require.Equal(t, "price <= 2999", ex.Predicates[1].Predicate)
	require.Equal(t, "999999", ex.Predicates[1].Value)
	require.False(t, ex.Predicates[1].Holds)
	require.True(t, ex.Predicates[0].Holds)

	// a delete leaves every bitmap
	del := t0.Add(2 * time.Hour)
	applyWithEvent(t, db, []catalog.Patch{{ID: 42, DeleteAt: &del}})
	require.Eventually(t, func() bool {
		n, _ := tg.Index().Count(filter.Attr("brand", "logitech"))
		return n == 166
	}, 30*time.Second, 10*time.Millisecond)

	// Save, then load in a second tagger: same answers as a build from skus.
	require.NoError(t, tg.Stop(ctx))
	_, err = tg.Poll(ctx)
	require.NoError(t, err)
	_, err = tg.Save(ctx)
	require.NoError(t, err)
	tg2, err := New(db.Pool, nil, nil, Config{SaveInterval: -1})
	require.NoError(t, err)
	how, err = tg2.Load(ctx)
	require.NoError(t, err)
	require.Equal(t, "snapshot", how)
	built, _, err := tg.Store().BuildFromSKUs(ctx)
	require.NoError(t, err)
	for _, e := range []filter.Expr{filter.All(), filter.Attr("brand", "razer"), expensive, filter.Range("price", 1500, 4000), filter.Tag("cheap-logitech")} {
		a, err := tg2.Index().Eval(e)
		require.NoError(t, err)
		if e.Op == filter.OpTag {
			b, err := tg.Index().Eval(e)
			require.NoError(t, err)
			require.True(t, a.Equals(b), e.String())
			continue
		}
		b, err := built.Eval(e)
		require.NoError(t, err)
		require.True(t, a.Equals(b), e.String())
	}
}
