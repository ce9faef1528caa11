package vectorindex_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"selection/internal/icecat"
	"selection/internal/testdb"
	"selection/vectorindex"
)

// recall is the share of the exact top-k found, counting as found any hit that scores at least
// the k-th exact score (ties with the k-th are interchangeable: duplicate texts embed alike).
func recall(exact, got []vectorindex.Hit) float64 {
	if len(exact) == 0 {
		if len(got) == 0 {
			return 1
		}
		return 0
	}
	kth := exact[len(exact)-1].Score
	n := 0
	for _, h := range got {
		if h.Score >= kth-1e-4 {
			n++
		}
	}
	return float64(min(n, len(exact))) / float64(len(exact))
}

// randomFilter holds each ordinal of ords with probability sel (seeded).
func randomFilter(ords map[int64]int64, sel float64, seed uint64) *roaring64.Bitmap {
	if sel >= 1 {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	bm := roaring64.New()
	for _, o := range ords {
		if rng.Float64() < sel {
			bm.Add(uint64(o))
		}
	}
	return bm
}

// TestPlannerRecallIcecat checks filtered recall@10 against exact search on the Icecat
// embeddings (19,406 products, the 96 public judgment queries) at filter selectivities 0.1% to
// 100%, for the path the planner chooses with the in-memory index loaded and without it
// (pgvector), and reports the HNSW path and the quantised path on their own.
var efSearch = 0

func TestPlannerRecallIcecat(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the Icecat catalogue with pgvector's HNSW index (about 30 s)")
	}
	ctx := context.Background()
	db := testdb.New(t)
	cat := icecat.Load(t, db.Pool)
	e := icecat.Embedder(t)
	var queries [][]float32
	for _, q := range icecat.Queries(t) {
		v, err := e.EmbedQuery(ctx, q)
		require.NoError(t, err)
		queries = append(queries, v)
	}

	ix, err := vectorindex.NewIndex(db.Pool, vectorindex.IndexConfig{})
	require.NoError(t, err)
	require.NoError(t, ix.Load(ctx))
	require.Equal(t, icecat.Count, ix.Len())
	mem, err := vectorindex.NewPlanner(db.Pool, ix, vectorindex.PlannerConfig{})
	require.NoError(t, err)
	pgOnly, err := vectorindex.NewPlanner(db.Pool, nil, vectorindex.PlannerConfig{EfSearch: efSearch})
	require.NoError(t, err)

	const k = 10
	var report strings.Builder
	fmt.Fprintf(&report, "\n%-6s %7s | %-14s %7s | %-14s %7s | %7s %7s\n", "sel", "cands", "memory path", "recall", "pg path", "recall", "hnsw", "binary")
	for i, sel := range []float64{0.001, 0.01, 0.1, 0.5, 1} {
		filter := randomFilter(cat.Ordinals, sel, uint64(i))
		var rMem, rPG, rHNSW, rBin float64
		var memPath, pgPath vectorindex.Path
		n := icecat.Count
		if filter != nil {
			n = int(filter.GetCardinality())
		}
		for _, q := range queries {
			exact, _, err := ix.SearchPath(ctx, q, k, filter, vectorindex.PathExact)
			require.NoError(t, err)

			res, err := mem.Search(ctx, q, k, filter)
			require.NoError(t, err)
			memPath = res.Path
			rMem += recall(exact, res.Hits)

			res, err = pgOnly.Search(ctx, q, k, filter)
			require.NoError(t, err)
			pgPath = res.Path
			rPG += recall(exact, res.Hits)
			for _, h := range res.Hits {
				require.True(t, filter == nil || filter.Contains(uint64(h.Ordinal)), "hit outside the filter")
			}

			res, err = pgOnly.SearchPath(ctx, q, k, filter, vectorindex.PathHNSW)
			require.NoError(t, err)
			rHNSW += recall(exact, res.Hits)

			bin, _, err := ix.SearchPath(ctx, q, k, filter, vectorindex.PathBinary)
			require.NoError(t, err)
			rBin += recall(exact, bin)
		}
		nq := float64(len(queries))
		rMem, rPG, rHNSW, rBin = rMem/nq, rPG/nq, rHNSW/nq, rBin/nq
		fmt.Fprintf(&report, "%-6.3f %7d | %-14s %7.4f | %-14s %7.4f | %7.4f %7.4f\n", sel, n, memPath, rMem, pgPath, rPG, rHNSW, rBin)
		t.Logf("selectivity %v: memory %s %.4f, pgvector %s %.4f, HNSW %.4f, quantised %.4f", sel, memPath, rMem, pgPath, rPG, rHNSW, rBin)
		assert.GreaterOrEqual(t, rMem, 0.99, "selectivity %v: chosen in-memory path %s", sel, memPath)
		assert.GreaterOrEqual(t, rPG, 0.99, "selectivity %v: chosen pgvector path %s", sel, pgPath)
		assert.GreaterOrEqual(t, rBin, 0.99, "selectivity %v: quantised path", sel)
	}
	t.Log(report.String())
}
