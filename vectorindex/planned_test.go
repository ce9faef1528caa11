package vectorindex_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/internal/icecat"
	"selection/internal/testdb"
	"selection/vectorindex"
)

// Finding 3 (issue 13): without the in-memory index, the planner is search's and the tagger's
// vector side: Vector reads the ordinal's row of sku_vectors, normalised as the index holds it,
// and Search takes the planner's pgvector path.
func TestFinding3PlannedVectorsWithoutTheIndex(t *testing.T) {
	ctx := context.Background()
	db := testdb.New(t)
	cat := icecat.LoadWith(t, db.Pool, icecat.LoadOptions{DropHNSW: true})
	ix, err := vectorindex.NewIndex(db.Pool, vectorindex.IndexConfig{})
	require.NoError(t, err)
	require.NoError(t, ix.Load(ctx))
	p, err := vectorindex.NewPlanner(db.Pool, nil, vectorindex.PlannerConfig{})
	require.NoError(t, err)
	pv := p.Vectors()
	n := 0
	for _, o := range cat.Ordinals {
		if n == 50 {
			break
		}
		n++
		want, ok := ix.Vector(o)
		require.True(t, ok)
		got, ok := pv.Vector(o)
		require.True(t, ok, "ordinal %d", o)
		require.InDeltaSlice(t, want, got, 1e-6)
	}
	_, ok := pv.Vector(1 << 40)
	require.False(t, ok, "no such ordinal")

	var q []float32
	for _, o := range cat.Ordinals {
		q, _ = ix.Vector(o)
		break
	}
	hits, err := pv.Search(ctx, q, 10, nil)
	require.NoError(t, err)
	exact, err := ix.Search(ctx, q, 10, nil)
	require.NoError(t, err)
	require.InDelta(t, 1.0, recall(exact, hits), 1e-9)

	// With the index loaded, both read it.
	withIndex, err := vectorindex.NewPlanner(db.Pool, ix, vectorindex.PlannerConfig{})
	require.NoError(t, err)
	for _, o := range cat.Ordinals {
		want, _ := ix.Vector(o)
		got, ok := withIndex.Vectors().Vector(o)
		require.True(t, ok)
		require.Equal(t, want, got)
		break
	}
}
