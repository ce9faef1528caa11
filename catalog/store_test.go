package catalog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/internal/testdb"
)

var t0 = time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func full(id int64, sec int, title string, price int64) catalog.Patch {
	return catalog.Patch{
		ID:     id,
		Fields: catalog.FieldMarket | catalog.FieldTitle | catalog.FieldBrand | catalog.FieldDescription | catalog.FieldAttributes | catalog.FieldCurrency | catalog.FieldPrice | catalog.FieldListPrice | catalog.FieldStock,
		Market: "SG", Title: title, Brand: "Logitech", Description: "a " + title,
		Attributes: json.RawMessage(`{"colour":"black"}`),
		Currency:   "SGD", Price: price, ListPrice: price + 1000, Stock: 5,
		ContentAt: at(sec), PriceAt: at(sec), StockAt: at(sec),
	}
}

func TestApplyInsertsWithDenseOrdinals(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	s := catalog.NewStore(db.Pool)

	// Random 64-bit ids, as real catalogues have; ordinals follow arrival order.
	ids := []int64{-8_000_000_000_000_000_123, 42, 9_100_000_000_000_000_001, 7}
	var ps []catalog.Patch
	for i, id := range ids {
		ps = append(ps, full(id, i, fmt.Sprintf("mouse %d", i), 1999))
	}
	res, err := s.Upsert(ctx, ps)
	require.NoError(t, err)
	require.Equal(t, 4, res.Inserted)
	require.ElementsMatch(t, ids, res.TextChanged)

	ords, err := s.Ordinals(ctx, ids)
	require.NoError(t, err)
	for i, id := range ids {
		require.Equal(t, int64(i), ords[id], "ordinal of %d", id)
	}
	got, err := s.GetMany(ctx, []int64{7, 42, 999})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, int64(7), got[0].ID)
	require.Equal(t, "mouse 3", got[0].Title)
	require.Equal(t, int64(1999), got[0].Price)
	require.Equal(t, int64(2999), got[0].ListPrice)
	require.Equal(t, int64(33), got[0].DiscountPercent())
	require.JSONEq(t, `{"colour":"black"}`, string(got[0].Attributes))
	require.Len(t, got[0].ContentHash, 16)

	// Applying the same patches again changes nothing.
	res, err = s.Upsert(ctx, ps)
	require.NoError(t, err)
	require.Equal(t, catalog.ApplyResult{Updated: 4}, res) // equal times re-apply, text unchanged
	var queued int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM embed_queue`).Scan(&queued))
	require.Equal(t, 4, queued)

	// A newcomer after more traffic gets the next ordinal; none is reused.
	_, err = s.Upsert(ctx, []catalog.Patch{full(1000, 10, "keyboard", 5000)})
	require.NoError(t, err)
	ords, err = s.Ordinals(ctx, []int64{1000})
	require.NoError(t, err)
	require.Equal(t, int64(4), ords[1000])
}

func TestOlderEventsNeverOverwriteNewer(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	s := catalog.NewStore(db.Pool)

	_, err := s.Upsert(ctx, []catalog.Patch{full(1, 100, "new title", 500)})
	require.NoError(t, err)

	old := full(1, 50, "old title", 999)
	res, err := s.Upsert(ctx, []catalog.Patch{old})
	require.NoError(t, err)
	require.Equal(t, 1, res.Stale)
	require.Empty(t, res.TextChanged)

	// A newer price alone moves the price, not the content, and queues no embedding.
	_, err = db.Pool.Exec(ctx, `DELETE FROM embed_queue`)
	require.NoError(t, err)
	res, err = s.Upsert(ctx, []catalog.Patch{{ID: 1, Fields: catalog.FieldPrice, Price: 450, PriceAt: at(200)}})
	require.NoError(t, err)
	require.Equal(t, 1, res.Updated)
	require.Empty(t, res.TextChanged)

	// A partial content patch changes just its fields and re-queues the text.
	res, err = s.Upsert(ctx, []catalog.Patch{{ID: 1, Fields: catalog.FieldTitle, Title: "newest title", ContentAt: at(300)}})
	require.NoError(t, err)
	require.Equal(t, []int64{1}, res.TextChanged)

	k, err := s.Get(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, "newest title", k.Title)
	require.Equal(t, "Logitech", k.Brand)
	require.Equal(t, int64(450), k.Price)
	require.Equal(t, int64(1500), k.ListPrice)
	require.Equal(t, "SGD", k.Currency)
	require.True(t, k.ContentAt.Equal(at(300)))
	require.True(t, k.PriceAt.Equal(at(200)))
	var queued int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM embed_queue WHERE sku_id = 1`).Scan(&queued))
	require.Equal(t, 1, queued)
}

func TestDeleteIsATombstone(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	s := catalog.NewStore(db.Pool)

	_, err := s.Upsert(ctx, []catalog.Patch{full(5, 10, "lamp", 100)})
	require.NoError(t, err)
	_, err = s.Delete(ctx, 5, at(20))
	require.NoError(t, err)
	_, err = s.Get(ctx, 5)
	require.ErrorIs(t, err, catalog.ErrNotFound)

	// A late upsert older than the delete stays deleted (its content is recorded under the
	// tombstone, so the outcome does not depend on arrival order).
	_, err = s.Upsert(ctx, []catalog.Patch{full(5, 15, "lamp v2", 90)})
	require.NoError(t, err)
	_, err = s.Get(ctx, 5)
	require.ErrorIs(t, err, catalog.ErrNotFound)
	list, err := s.List(ctx, catalog.ListOptions{First: true, IncludeDeleted: true})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "lamp v2", list[0].Title)
	require.NotNil(t, list[0].DeletedAt)
	require.False(t, list[0].Live)

	// A newer upsert brings it back with the same ordinal.
	res, err := s.Upsert(ctx, []catalog.Patch{full(5, 30, "lamp v3", 80)})
	require.NoError(t, err)
	require.Equal(t, []int64{5}, res.TextChanged)
	k, err := s.Get(ctx, 5)
	require.NoError(t, err)
	require.Equal(t, "lamp v3", k.Title)
	require.Equal(t, list[0].Ordinal, k.Ordinal)

	// Deleting a SKU never seen records a tombstone that a late, older upsert respects.
	_, err = s.Delete(ctx, 6, at(50))
	require.NoError(t, err)
	_, err = s.Upsert(ctx, []catalog.Patch{full(6, 40, "ghost", 1)})
	require.NoError(t, err)
	_, err = s.Get(ctx, 6)
	require.ErrorIs(t, err, catalog.ErrNotFound)
	n, err := s.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
}

func TestManyPatchesForOneSKUInOneBatch(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	s := catalog.NewStore(db.Pool)

	_, err := s.Upsert(ctx, []catalog.Patch{full(9, 100, "base", 1000)})
	require.NoError(t, err)
	ps := []catalog.Patch{
		{ID: 9, Fields: catalog.FieldTitle, Title: "t1", ContentAt: at(150)},
		{ID: 9, Fields: catalog.FieldBrand, Brand: "Razer", ContentAt: at(50)}, // stale: older than stored
		{ID: 9, Fields: catalog.FieldPrice, Price: 800, PriceAt: at(120)},
		{ID: 9, Fields: catalog.FieldPrice, Price: 700, PriceAt: at(110)}, // older than the previous
		{ID: 9, Fields: catalog.FieldDescription, Description: "d2", ContentAt: at(160)},
		{ID: 9, Fields: catalog.FieldStock, Stock: 3, StockAt: at(130)},
	}
	_, err = s.Upsert(ctx, ps)
	require.NoError(t, err)
	k, err := s.Get(ctx, 9)
	require.NoError(t, err)
	require.Equal(t, "t1", k.Title)
	require.Equal(t, "Logitech", k.Brand)
	require.Equal(t, "d2", k.Description)
	require.Equal(t, int64(800), k.Price)
	require.Equal(t, int64(3), k.Stock)
}

// Full-group patches with distinct event times converge to the same state whatever the order
// and batching they arrive in: the state of the newest event per group.
func TestApplyOrderDoesNotMatter(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	var ps []catalog.Patch
	for i := 0; i < 600; i++ {
		id := int64(rng.IntN(40) + 1)
		sec := i + 1
		switch rng.IntN(4) {
		case 0:
			ps = append(ps, full(id, sec, fmt.Sprintf("title %d", i), int64(rng.IntN(10000))))
		case 1:
			ps = append(ps, catalog.Patch{ID: id, Fields: catalog.FieldPrice | catalog.FieldListPrice | catalog.FieldCurrency, Currency: "SGD", Price: int64(rng.IntN(9000)), ListPrice: 9000, PriceAt: at(sec)})
		case 2:
			ps = append(ps, catalog.Patch{ID: id, Fields: catalog.FieldStock, Stock: int64(rng.IntN(50)), StockAt: at(sec)})
		default:
			d := at(sec)
			ps = append(ps, catalog.Patch{ID: id, DeleteAt: &d})
		}
	}
	state := func(db *testdb.DB) []catalog.SKU {
		list, err := catalog.NewStore(db.Pool).List(ctx, catalog.ListOptions{First: true, IncludeDeleted: true, Limit: 1000})
		require.NoError(t, err)
		for i := range list {
			list[i].Ordinal, list[i].CreatedAt, list[i].UpdatedAt = 0, time.Time{}, time.Time{}
		}
		return list
	}

	inOrder := testdb.New(t)
	for _, p := range ps {
		_, err := catalog.NewStore(inOrder.Pool).Upsert(ctx, []catalog.Patch{p})
		require.NoError(t, err)
	}
	want := state(inOrder)

	for trial := 0; trial < 3; trial++ {
		shuffled := append([]catalog.Patch(nil), ps...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		db := testdb.New(t)
		for len(shuffled) > 0 {
			n := min(len(shuffled), 1+rng.IntN(120))
			_, err := catalog.NewStore(db.Pool).Upsert(ctx, shuffled[:n])
			require.NoError(t, err)
			shuffled = shuffled[n:]
		}
		require.Equal(t, want, state(db), "trial %d", trial)
	}
}

func TestPatchValidation(t *testing.T) {
	cases := []struct {
		name string
		p    catalog.Patch
		want string
	}{
		{"no id", catalog.Patch{Fields: catalog.FieldTitle, ContentAt: at(1)}, "sku id is 0"},
		{"nothing", catalog.Patch{ID: 1}, "changes nothing"},
		{"market", catalog.Patch{ID: 1, Fields: catalog.FieldMarket, Market: "US", ContentAt: at(1)}, "unknown market"},
		{"no time", catalog.Patch{ID: 1, Fields: catalog.FieldTitle}, "without an event time"},
		{"negative price", catalog.Patch{ID: 1, Fields: catalog.FieldPrice, Price: -1, PriceAt: at(1)}, "negative price"},
		{"currency", catalog.Patch{ID: 1, Fields: catalog.FieldCurrency, Currency: "dollars", PriceAt: at(1)}, "ISO 4217"},
		{"attributes", catalog.Patch{ID: 1, Fields: catalog.FieldAttributes, Attributes: json.RawMessage(`[1]`), ContentAt: at(1)}, "JSON object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.ErrorContains(t, c.p.Validate(), c.want)
		})
	}
	ok := full(1, 1, "x", 1)
	require.NoError(t, ok.Validate())
}
