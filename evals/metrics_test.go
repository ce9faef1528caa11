package evals

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// The values below were computed by hand (see the comments) from the standard definitions.
func TestMetricsHandComputed(t *testing.T) {
	ratings := map[int64]int{1: 3, 2: 2, 3: 0, 4: 1}
	ranking := []int64{3, 1, 5, 2} // 5 is unjudged

	// DCG@3 = gain(0)/log2(2) + gain(3)/log2(3) + 0/log2(4) = 7/1.58496 = 4.41651
	// IDCG@3 = 7/1 + 3/log2(3) + 1/log2(4) = 9.39279
	require.InDelta(t, 0.470202, NDCG(ranking, ratings, 3), 1e-6)
	// condensed list [3 1 2]: (7/log2(3) + 3/log2(4)) / 9.39279
	require.InDelta(t, 0.629899, CondensedNDCG(ranking, ratings, 3), 1e-6)
	// relevant (>= 2): {1, 2}; top 3 holds 1
	require.InDelta(t, 0.5, Recall(ranking, ratings, 3), 1e-12)
	require.InDelta(t, 1.0, Recall(ranking, ratings, 4), 1e-12)
	// first relevant at rank 2
	require.InDelta(t, 0.5, ReciprocalRank(ranking, ratings), 1e-12)

	// The ideal ranking scores 1.
	require.InDelta(t, 1.0, NDCG([]int64{1, 2, 4, 3}, ratings, 10), 1e-12)
	// Nothing found.
	require.Equal(t, 0.0, NDCG(nil, ratings, 10))
	require.Equal(t, 0.0, ReciprocalRank([]int64{3, 4}, ratings))
	require.Equal(t, 0.0, Recall(nil, ratings, 50))

	// A query with nothing of positive gain has no nDCG; with nothing rated >= 2, no recall/MRR.
	none := map[int64]int{7: 0, 8: 0}
	require.True(t, math.IsNaN(NDCG([]int64{7}, none, 10)))
	onlyOne := map[int64]int{7: 1}
	require.InDelta(t, 1.0, NDCG([]int64{7}, onlyOne, 10), 1e-12)
	require.True(t, math.IsNaN(Recall([]int64{7}, onlyOne, 50)))
	require.True(t, math.IsNaN(ReciprocalRank([]int64{7}, onlyOne)))
}

func TestGain(t *testing.T) {
	require.Equal(t, []float64{0, 1, 3, 7}, []float64{Gain(0), Gain(1), Gain(2), Gain(3)})
	require.Equal(t, 0.0, Gain(-1))
}

func TestMeanSkipsNaN(t *testing.T) {
	require.InDelta(t, 0.5, mean([]float64{0, math.NaN(), 1}), 1e-12)
	require.True(t, math.IsNaN(mean([]float64{math.NaN()})))
}
