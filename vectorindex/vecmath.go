package vectorindex

import "math"

// Add adds v to sum element by element and returns sum (a new zero vector of v's length when
// sum is nil): the running total of a centroid.
func Add(sum, v []float32) []float32 {
	if sum == nil {
		sum = make([]float32, len(v))
	}
	for i := range v {
		sum[i] += v[i]
	}
	return sum
}

// Normalize returns a copy of v scaled to unit length, and false (with zeros) for a zero vector.
func Normalize(v []float32) ([]float32, bool) {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	out := make([]float32, len(v))
	if n == 0 {
		return out, false
	}
	inv := float32(1 / math.Sqrt(n))
	for i, x := range v {
		out[i] = x * inv
	}
	return out, true
}
