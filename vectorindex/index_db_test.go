package vectorindex_test

import (
	"context"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"selection/catalog"
	"selection/internal/pg"
	"selection/internal/testdb"
	"selection/vectorindex"
)

func TestIndexLoadRefreshPoll(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	hashes := addSKUs(t, db, map[int64]string{101: "a", 102: "b", 103: "c"})
	st := vectorindex.NewStore(db.Pool)
	_, err := st.Upsert(ctx, []vectorindex.Vector{
		{SKUID: 101, Model: "m", ContentHash: hashes[101], Embedding: unit(512, 10)},
		{SKUID: 102, Model: "m", ContentHash: hashes[102], Embedding: unit(512, 20)},
	})
	require.NoError(t, err)
	ords, err := catalog.NewStore(db.Pool).Ordinals(ctx, []int64{101, 102, 103})
	require.NoError(t, err)

	ix, err := vectorindex.NewIndex(db.Pool, vectorindex.IndexConfig{PollInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, ix.Load(ctx))
	require.Equal(t, 2, ix.Len())
	loadedFrom := ix.From() // every vector stamped before it is in the index
	require.False(t, loadedFrom.IsZero())
	hits, err := ix.Search(ctx, unit(512, 20), 1, nil)
	require.NoError(t, err)
	require.Equal(t, []vectorindex.Hit{{Ordinal: ords[102], SKUID: 102, Score: 1}}, roundScores(hits))

	// Refresh picks up a new vector and a deletion.
	_, err = st.Upsert(ctx, []vectorindex.Vector{{SKUID: 103, Model: "m", ContentHash: hashes[103], Embedding: unit(512, 30)}})
	require.NoError(t, err)
	_, err = catalog.NewStore(db.Pool).Delete(ctx, 101, t0.Add(time.Hour))
	require.NoError(t, err)
	applied, removed, err := ix.Refresh(ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, applied, 1)
	require.Equal(t, 1, removed)
	require.True(t, ix.From().After(loadedFrom), "the poll moved From: %v -> %v", loadedFrom, ix.From())
	require.Equal(t, 2, ix.Len())
	_, ok := ix.Vector(ords[101])
	require.False(t, ok)
	hits, err = ix.Search(ctx, unit(512, 30), 1, roaring64.BitmapOf(uint64(ords[103])))
	require.NoError(t, err)
	require.Equal(t, int64(103), hits[0].SKUID)

	// While no vector changes, the tail's From stays at the newest vector's stamp; deletions
	// are read from the last poll's floor instead (skus is stamped all day by the events), and
	// a SKU deleted after it is still removed.
	time.Sleep(pg.Margin + 100*time.Millisecond) // the newest vector's stamp falls behind the floor
	_, _, err = ix.Refresh(ctx)
	require.NoError(t, err)
	vecFrom := ix.From()
	time.Sleep(10 * time.Millisecond)
	_, _, err = ix.Refresh(ctx)
	require.NoError(t, err)
	require.Equal(t, vecFrom, ix.From(), "no vector changed: the vectors' tail holds")
	delFrom := vectorindex.DeletionsFrom(ix)
	require.True(t, delFrom.After(vecFrom), "deletions from %v, vectors from %v", delFrom, vecFrom)
	_, err = catalog.NewStore(db.Pool).Delete(ctx, 103, t0.Add(2*time.Hour))
	require.NoError(t, err)
	_, removed, err = ix.Refresh(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, removed)
	_, ok = ix.Vector(ords[103])
	require.False(t, ok)
	// It moves on with each poll whose floor Postgres can tell (under another session's load it
	// may not, for a poll: then it holds), and never back.
	require.False(t, vectorindex.DeletionsFrom(ix).Before(delFrom))
	require.Equal(t, 1, ix.Len())

	// The poll loop makes a new vector searchable without a call.
	require.NoError(t, ix.Start(ctx))
	require.NoError(t, ix.Start(ctx))
	_, err = st.Upsert(ctx, []vectorindex.Vector{{SKUID: 102, Model: "m", ContentHash: hashes[102], Embedding: unit(512, 40)}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		h, err := ix.Search(ctx, unit(512, 40), 1, nil)
		return err == nil && len(h) == 1 && h[0].SKUID == 102 && h[0].Score > 0.999
	}, 30*time.Second, 10*time.Millisecond)
	require.NoError(t, ix.Stop(ctx))
	require.NoError(t, ix.Stop(ctx))
	st2 := ix.Stats()
	require.Greater(t, st2.Polls, int64(0))
	require.Equal(t, 1, st2.Vectors)

	// A budget too small for the vectors refuses to load.
	small, err := vectorindex.NewIndex(db.Pool, vectorindex.IndexConfig{MaxBytes: 1000})
	require.NoError(t, err)
	require.ErrorIs(t, small.Load(ctx), vectorindex.ErrTooLarge)
	require.False(t, small.Loaded())
}

func roundScores(hits []vectorindex.Hit) []vectorindex.Hit {
	for i := range hits {
		hits[i].Score = float32(int(hits[i].Score*1000+0.5)) / 1000
	}
	return hits
}

// A poll whose query fails (here the table is gone; in the service, a poll cancelled by Stop)
// returns the error; it used to panic in the poll goroutine reading the query's columns.
func TestRefreshQueryFailureIsAnError(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	hashes := addSKUs(t, db, map[int64]string{101: "a"})
	_, err := vectorindex.NewStore(db.Pool).Upsert(ctx, []vectorindex.Vector{{SKUID: 101, Model: "m", ContentHash: hashes[101], Embedding: unit(512, 10)}})
	require.NoError(t, err)
	// One connection, so the second poll runs the statement the first one prepared: pgx (since
	// 5.9) then has no column descriptions for a query that fails before its first row.
	cfg, err := pgxpool.ParseConfig(db.URL())
	require.NoError(t, err)
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	ix, err := vectorindex.NewIndex(pool, vectorindex.IndexConfig{})
	require.NoError(t, err)
	require.NoError(t, ix.Load(ctx))
	_, _, err = ix.Refresh(ctx)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `DROP TABLE sku_vectors CASCADE`)
	require.NoError(t, err)
	_, _, err = ix.Refresh(ctx)
	require.Error(t, err)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err = ix.Refresh(cctx)
	require.Error(t, err)
}

// Load partitions the vectors into lists from ListsFrom of them, and the polls keep the lists
// with the vectors: a new vector is found on the lists path, a deleted one no longer.
func TestIndexLoadBuildsLists(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	hashes := addSKUs(t, db, map[int64]string{101: "a", 102: "b", 103: "c"})
	st := vectorindex.NewStore(db.Pool)
	_, err := st.Upsert(ctx, []vectorindex.Vector{
		{SKUID: 101, Model: "m", ContentHash: hashes[101], Embedding: unit(512, 10)},
		{SKUID: 102, Model: "m", ContentHash: hashes[102], Embedding: unit(512, 20)},
	})
	require.NoError(t, err)

	few, err := vectorindex.NewIndex(db.Pool, vectorindex.IndexConfig{ListsFrom: 3})
	require.NoError(t, err)
	require.NoError(t, few.Load(ctx))
	require.False(t, few.HasLists(), "2 vectors, lists from 3")

	ix, err := vectorindex.NewIndex(db.Pool, vectorindex.IndexConfig{ListsFrom: 2})
	require.NoError(t, err)
	require.NoError(t, ix.Load(ctx))
	require.True(t, ix.HasLists())
	hits, _, err := ix.SearchPath(ctx, unit(512, 20), 1, nil, vectorindex.PathLists)
	require.NoError(t, err)
	require.Equal(t, int64(102), hits[0].SKUID)

	_, err = st.Upsert(ctx, []vectorindex.Vector{{SKUID: 103, Model: "m", ContentHash: hashes[103], Embedding: unit(512, 30)}})
	require.NoError(t, err)
	_, err = catalog.NewStore(db.Pool).Delete(ctx, 101, t0.Add(time.Hour))
	require.NoError(t, err)
	_, _, err = ix.Refresh(ctx)
	require.NoError(t, err)
	hits, _, err = ix.SearchPath(ctx, unit(512, 30), 1, nil, vectorindex.PathLists)
	require.NoError(t, err)
	require.Equal(t, int64(103), hits[0].SKUID)
	hits, _, err = ix.SearchPath(ctx, unit(512, 10), 3, nil, vectorindex.PathLists)
	require.NoError(t, err)
	require.Len(t, hits, 2)
	for _, h := range hits {
		require.NotEqual(t, int64(101), h.SKUID, "a deleted SKU on the lists path")
	}
}
