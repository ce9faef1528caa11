package icecat_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"selection/internal/icecat"
	"selection/internal/testdb"
)

func TestProductsAndVectors(t *testing.T) {
	ps := icecat.Products(t)
	require.Len(t, ps, icecat.Count)
	seen := map[int64]bool{}
	for _, p := range ps {
		require.False(t, seen[p.ID], "duplicate id %d", p.ID)
		seen[p.ID] = true
	}
	e := icecat.Embedder(t)
	vs := icecat.Vectors(t, e)
	require.Len(t, vs, icecat.Count)
	// The cache holds what the model computes now, for a sample.
	for _, p := range ps[:3] {
		want, err := e.EmbedQuery(context.Background(), icecat.Text(p))
		require.NoError(t, err)
		got := vs[p.ID]
		var dot float64
		for i := range want {
			dot += float64(want[i]) * float64(got[i])
		}
		require.InDelta(t, 1, dot, 1e-4, "product %d", p.ID)
	}
	start := time.Now()
	again := icecat.Vectors(t, e)
	require.Equal(t, len(vs), len(again))
	t.Logf("second call: %s", time.Since(start))
	var n float64
	for _, x := range vs[ps[0].ID] {
		n += float64(x) * float64(x)
	}
	require.InDelta(t, 1, math.Sqrt(n), 1e-3)
}

func TestLoad(t *testing.T) {
	db := testdb.New(t)
	start := time.Now()
	// DropHNSW: the HNSW inserts are most of Load's time; vectorindex's planner test loads
	// with the index.
	c := icecat.LoadWith(t, db.Pool, icecat.LoadOptions{DropHNSW: true})
	t.Logf("load: %s", time.Since(start))
	ctx := context.Background()
	var skus, vecs, queued int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM skus WHERE live),
		(SELECT count(*) FROM sku_vectors), (SELECT count(*) FROM embed_queue)`).Scan(&skus, &vecs, &queued))
	require.Equal(t, icecat.Count, skus)
	require.Equal(t, icecat.Count, vecs)
	require.Zero(t, queued)
	require.Len(t, c.Ordinals, icecat.Count)
	require.Equal(t, "use-lite-0.2.0", c.Model)
	qs := icecat.Queries(t)
	require.Len(t, qs, 96)
}
