package lexical_test

import (
	"context"

	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"selection/catalog"
	"selection/internal/testdb"
	"selection/lexical"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"))
}

func patch(id int64, title, brand string, at time.Time) catalog.Patch {
	return catalog.Patch{ID: id, Fields: catalog.FieldTitle | catalog.FieldBrand, Title: title, Brand: brand, ContentAt: at}
}

func TestFollowerKeepsIndexFresh(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	store := catalog.NewStore(db.Pool)
	t0 := time.Now().Add(-time.Hour)
	_, err := store.Upsert(ctx, []catalog.Patch{
		patch(11, "Logitech gaming mouse", "Logitech", t0),
		patch(12, "Dell laptop bag", "Dell", t0),
		patch(13, "HDMI cable 2m", "StarTech", t0),
	})
	require.NoError(t, err)

	ix, err := lexical.New(lexical.Config{})
	require.NoError(t, err)
	f, err := lexical.NewFollower(lexical.NewStore(db.Pool), ix, lexical.FollowerConfig{Interval: time.Hour})
	require.NoError(t, err)
	require.NoError(t, f.Start(ctx))
	require.NoError(t, f.Start(ctx), "Start is idempotent")
	defer func() { require.NoError(t, f.Stop(ctx)); require.NoError(t, f.Stop(ctx)) }()
	require.Equal(t, 3, ix.Len())

	search := func(q string) []int64 {
		r, err := ix.Search(ctx, q, 10, nil)
		require.NoError(t, err)
		var out []int64
		for _, h := range r.Hits {
			out = append(out, h.SKUID)
		}
		return out
	}
	require.Equal(t, []int64{11}, search("mouse"))

	// A text change, a new SKU, a price-only change and a deletion.
	t1 := t0.Add(time.Minute)
	_, err = store.Upsert(ctx, []catalog.Patch{
		patch(11, "Logitech wireless keyboard", "Logitech", t1),
		patch(14, "Razer gaming mouse", "Razer", t1),
		{ID: 13, Fields: catalog.FieldPrice | catalog.FieldCurrency, Price: 999, Currency: "USD", PriceAt: t1},
	})
	require.NoError(t, err)
	_, err = store.Delete(ctx, 12, t1)
	require.NoError(t, err)

	from := f.From() // every skus row stamped before it is in the index
	require.False(t, from.IsZero())
	n, err := f.Poll(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, n, "11 re-indexed, 14 added, 12 removed; 13's price change skipped")
	require.True(t, f.From().After(from), "the poll moved From: %v -> %v", from, f.From())
	require.Equal(t, []int64{14}, search("mouse"))
	require.Equal(t, []int64{11}, search("keyboard"))
	require.Empty(t, search("bag"))
	require.Equal(t, 3, ix.Len())

	// Nothing changed: a poll re-indexes nothing, and once no transaction that began before
	// the last change is open (other tests' sessions share the server: an index build there
	// can take 20 s), it reads no row again.
	n, err = f.Poll(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Eventually(t, func() bool {
		before := f.Stats().Scanned
		n, err := f.Poll(ctx)
		require.NoError(t, err)
		require.Zero(t, n)
		return f.Stats().Scanned == before
	}, 90*time.Second, 50*time.Millisecond, "a quiet table is polled without reading rows")
}
