package scenariobench

import (
	"math"
	"slices"
	"time"
)

// Percentile is the nearest-rank p-th percentile (0 < p <= 100) of ds: the smallest value with
// at least p% of the values at or below it. It does not modify ds; zero when ds is empty.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// Millis is d in milliseconds.
func Millis(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// RecallAt is recall@k of got against exact: the share of exact's first k hits found among
// got's first k, where a hit scoring at least the k-th exact score (within 1e-5, float32 dot
// products summed in another order) counts as found, so ties at the cut do not count as
// misses. 1 when exact is empty.
func RecallAt(k int, exact, got []float32) float64 {
	exact, got = exact[:min(k, len(exact))], got[:min(k, len(got))]
	if len(exact) == 0 {
		return 1
	}
	kth := exact[len(exact)-1]
	n := 0
	for _, s := range got {
		if s >= kth-1e-5 {
			n++
		}
	}
	return float64(min(n, len(exact))) / float64(len(exact))
}
