package tagger

import (
	"math"

	"selection/vectorindex"
)

// dot is the inner product: the cosine similarity of L2-normalised vectors.
func dot(a, b []float32) float64 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return float64(s)
}

// normalize returns v scaled to unit length (zeros for a zero vector).
func normalize(v []float32) []float32 {
	out, _ := vectorindex.Normalize(v)
	return out
}

// bestSim is the highest cosine similarity of v to the prototypes (all L2-normalised) and
// which prototype it was.
func bestSim(v []float32, protos [][]float32) (float64, int) { return bestBy(v, protos, dot) }

// bestBy is bestSim with the product prod.
func bestBy(v []float32, protos [][]float32, prod func(a, b []float32) float64) (float64, int) {
	best, at := math.Inf(-1), -1
	for i, p := range protos {
		if len(p) != len(v) {
			continue
		}
		if s := prod(v, p); s > best {
			best, at = s, i
		}
	}
	return best, at
}

// nearest is the index of the centroid most similar to v (-1 when none has its dimension).
func nearest(v []float32, cents [][]float32) int {
	_, at := bestSim(v, cents)
	return at
}
