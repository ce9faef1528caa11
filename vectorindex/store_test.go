package vectorindex_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/internal/testdb"
	"selection/vectorindex"
)

var t0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// addSKUs creates SKUs with the given ids and titles and returns their content hashes.
func addSKUs(t *testing.T, db *testdb.DB, titles map[int64]string) map[int64][]byte {
	t.Helper()
	ctx := context.Background()
	var ps []catalog.Patch
	for id, title := range titles {
		ps = append(ps, catalog.Patch{ID: id, Fields: catalog.FieldTitle, Title: title, ContentAt: t0})
	}
	_, err := catalog.NewStore(db.Pool).Upsert(ctx, ps)
	require.NoError(t, err)
	out := map[int64][]byte{}
	rows, err := db.Pool.Query(ctx, `SELECT id, content_hash FROM skus`)
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		var h []byte
		require.NoError(t, rows.Scan(&id, &h))
		out[id] = h
	}
	require.NoError(t, rows.Err())
	return out
}

func unit(dim, hot int) []float32 {
	v := make([]float32, dim)
	v[hot%dim] = 1
	v[(hot+1)%dim] = 0.5
	return v
}

func TestStoreUpsertGetDelete(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	hashes := addSKUs(t, db, map[int64]string{11: "red mouse", 12: "blue keyboard", 13: "green monitor"})
	st := vectorindex.NewStore(db.Pool)

	bad := make([]float32, 512)
	res, err := st.Upsert(ctx, []vectorindex.Vector{
		{SKUID: 11, Model: "m1", ContentHash: hashes[11], Embedding: unit(512, 1)},
		{SKUID: 12, Model: "m1", ContentHash: hashes[12], Embedding: unit(512, 2)},
		{SKUID: 12, Model: "m1", ContentHash: hashes[12], Embedding: unit(512, 3)}, // last one wins
		{SKUID: 13, Model: "m1", Embedding: unit(256, 3)},                          // wrong dimension
		{SKUID: 13, Model: "m1", Embedding: bad},                                   // zero vector
		{SKUID: 99, Model: "m1", Embedding: unit(512, 4)},                          // unknown SKU
	})
	require.NoError(t, err)
	require.Equal(t, 2, res.Written)
	require.Equal(t, 1, res.Unknown)
	require.Len(t, res.Rejected, 2)
	require.Equal(t, int64(13), res.Rejected[0].SKUID)
	require.Contains(t, res.Rejected[0].Reason, "256 dimensions")

	v, err := st.Get(ctx, 12)
	require.NoError(t, err)
	require.Equal(t, unit(512, 3), v.Embedding)
	require.Equal(t, hashes[12], v.ContentHash)
	require.Equal(t, "m1", v.Model)
	var ord int64
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT ordinal FROM skus WHERE id = 12`).Scan(&ord))
	require.Equal(t, ord, v.Ordinal)
	first := v.UpdatedAt

	// Update in place.
	res, err = st.Upsert(ctx, []vectorindex.Vector{{SKUID: 12, Model: "m2", ContentHash: hashes[12], Embedding: unit(512, 7)}})
	require.NoError(t, err)
	require.Equal(t, 1, res.Written)
	v, err = st.Get(ctx, 12)
	require.NoError(t, err)
	require.Equal(t, "m2", v.Model)
	require.True(t, v.UpdatedAt.After(first))

	n, err := st.Count(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(2), n)

	// Inside a caller's transaction.
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		res, err := vectorindex.UpsertTx(ctx, tx, []vectorindex.Vector{{SKUID: 13, Model: "m1", Embedding: unit(512, 9)}})
		require.Equal(t, 1, res.Written)
		return err
	}))

	deleted, err := st.Delete(ctx, []int64{11, 13, 404})
	require.NoError(t, err)
	require.Equal(t, 2, deleted)
	_, err = st.Get(ctx, 11)
	require.ErrorIs(t, err, vectorindex.ErrNotFound)
}

func TestCheckDimension(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	require.NoError(t, vectorindex.CheckDimension(ctx, db.Pool, 512))
	err := vectorindex.CheckDimension(ctx, db.Pool, 768)
	require.ErrorIs(t, err, vectorindex.ErrDimension)
	require.Contains(t, err.Error(), "768-dimensional")
	require.Contains(t, err.Error(), "vector(512)")
	require.Contains(t, err.Error(), "migration")
	require.Contains(t, err.Error(), "SELECTION_MODEL_DIR")
}

func TestUnlivedSKUIsQueued(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	addSKUs(t, db, map[int64]string{21: "kettle"})
	_, err := db.Pool.Exec(ctx, `DELETE FROM embed_queue`)
	require.NoError(t, err)
	// A price change does not queue; a deletion does (migration 00005's trigger).
	cs := catalog.NewStore(db.Pool)
	_, err = cs.Upsert(ctx, []catalog.Patch{{ID: 21, Fields: catalog.FieldPrice | catalog.FieldCurrency, Price: 5, Currency: "USD", PriceAt: t0}})
	require.NoError(t, err)
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM embed_queue`).Scan(&n))
	require.Zero(t, n)
	_, err = cs.Delete(ctx, 21, t0.Add(time.Hour))
	require.NoError(t, err)
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM embed_queue WHERE sku_id = 21`).Scan(&n))
	require.Equal(t, 1, n)
}
