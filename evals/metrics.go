package evals

import (
	"math"
	"sort"
)

// Gain is the graded gain of a rating: 2^rating - 1 (0, 1, 3, 7); unjudged products gain 0.
func Gain(rating int) float64 {
	if rating <= 0 {
		return 0
	}
	return math.Exp2(float64(rating)) - 1
}

// dcg sums gain / log2(rank + 1) over ranks 1..k.
func dcg(gains []float64, k int) float64 {
	s := 0.0
	for i, g := range gains {
		if i >= k {
			break
		}
		s += g / math.Log2(float64(i)+2)
	}
	return s
}

// idcg is the DCG@k of the judged ratings in their best order.
func idcg(ratings map[int64]int, k int) float64 {
	g := make([]float64, 0, len(ratings))
	for _, r := range ratings {
		g = append(g, Gain(r))
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(g)))
	return dcg(g, k)
}

// NDCG is nDCG@k of a ranking (SKU ids, best first) against the judged ratings of its query:
// gain 2^rating - 1, discount log2(rank + 1), unjudged products gain 0, normalised by the DCG
// of the judged products in their ideal order. It is NaN when no judged product has a positive
// gain (the query is not answerable).
func NDCG(ranking []int64, ratings map[int64]int, k int) float64 {
	ideal := idcg(ratings, k)
	if ideal == 0 {
		return math.NaN()
	}
	g := make([]float64, 0, k)
	for i, id := range ranking {
		if i >= k {
			break
		}
		g = append(g, Gain(ratings[id]))
	}
	return dcg(g, k) / ideal
}

// CondensedNDCG is NDCG@k after removing unjudged products from the ranking (Sakai's condensed
// list): it measures the order of what was judged, ignoring what nobody looked at. The gap
// between it and NDCG shows how much of a method's score is lost to unjudged results.
func CondensedNDCG(ranking []int64, ratings map[int64]int, k int) float64 {
	judged := make([]int64, 0, k)
	for _, id := range ranking {
		if _, ok := ratings[id]; ok {
			judged = append(judged, id)
			if len(judged) == k {
				break
			}
		}
	}
	return NDCG(judged, ratings, k)
}

// Recall is the share of the relevant products (rated RelevantRating or more) found in the
// first k of the ranking; NaN when the query has no relevant product.
func Recall(ranking []int64, ratings map[int64]int, k int) float64 {
	total := 0
	for _, r := range ratings {
		if r >= RelevantRating {
			total++
		}
	}
	if total == 0 {
		return math.NaN()
	}
	found := 0
	for i, id := range ranking {
		if i >= k {
			break
		}
		if ratings[id] >= RelevantRating {
			found++
		}
	}
	return float64(found) / float64(total)
}

// ReciprocalRank is 1/rank of the first relevant product (rated RelevantRating or more), 0 if
// none is ranked; NaN when the query has no relevant product.
func ReciprocalRank(ranking []int64, ratings map[int64]int) float64 {
	any := false
	for _, r := range ratings {
		if r >= RelevantRating {
			any = true
			break
		}
	}
	if !any {
		return math.NaN()
	}
	for i, id := range ranking {
		if ratings[id] >= RelevantRating {
			return 1 / float64(i+1)
		}
	}
	return 0
}

// mean averages the values that are not NaN; NaN when there are none.
func mean(xs []float64) float64 {
	s, n := 0.0, 0
	for _, x := range xs {
		if !math.IsNaN(x) {
			s += x
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}
