package poolbench

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"selection/vectorindex"
)

// voteSearch times and checks the path the index chooses for a vote (the lists path once the
// index has lists) against the quantised scan, both against exact scoring.
func TestVoteSearchReportsBothPaths(t *testing.T) {
	ctx := context.Background()
	const n, dim = 6000, 64
	ix, err := vectorindex.NewIndex(nil, vectorindex.IndexConfig{Dim: dim, QuantizedMin: 1000, Candidates: 500,
		Rerank: 200, ListsFrom: 1000, ListProbe: 600, ListRerank: 100})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	centres := make([][]float32, 50)
	for i := range centres {
		centres[i] = make([]float32, dim)
		for j := range centres[i] {
			centres[i][j] = float32(rng.NormFloat64())
		}
	}
	for o := 0; o < n; o++ {
		c := centres[rng.IntN(len(centres))]
		v := make([]float32, dim)
		for j := range v {
			v[j] = c[j] + 0.3*float32(rng.NormFloat64())
		}
		require.NoError(t, ix.Put(int64(o), int64(o)+10, v))
	}
	ix.Recenter()
	require.NoError(t, ix.BuildLists(ctx))
	var out bytes.Buffer
	r, err := voteSearch(ctx, ix, 3, &out)
	require.NoError(t, err)
	require.Equal(t, vectorindex.PathLists, r.Path)
	require.Equal(t, 200, r.Queries)
	require.Greater(t, r.Recall, 0.9)
	require.Greater(t, r.ScanRecall, 0.9)
	require.Positive(t, r.P50)
	require.GreaterOrEqual(t, r.P99, r.P50)
	require.Contains(t, out.String(), "propagated vote's neighbour search (11 nearest of 6000 live SKUs")
	t.Log(out.String())
}
