package soakbench

import (
	"math"
	"time"
)

// Latencies is a histogram of durations in buckets 1% wide (log-spaced from 10 µs to about
// 200 s): a quantile is read within 1%, and a soak of hours holds the same 14 KiB per route as
// a minute's, where keeping every latency grew the soak's own heap (in the service's process)
// by 8 bytes an answer.
type Latencies struct {
	counts [latBuckets]int64
	n      int64
}

const (
	latMin     = 10 * time.Microsecond
	latGrowth  = 1.01
	latBuckets = 1700 // latMin * 1.01^1700 ≈ 218 s
)

var logGrowth = math.Log(latGrowth)

// Add records one duration (below 10 µs counts as 10 µs, above the last bucket as the last).
func (h *Latencies) Add(d time.Duration) {
	i := 0
	if d > latMin {
		i = min(int(math.Log(float64(d)/float64(latMin))/logGrowth)+1, latBuckets-1)
	}
	h.counts[i]++
	h.n++
}

// Count is how many durations were added.
func (h *Latencies) Count() int64 { return h.n }

// Quantile is the q-quantile (0 ≤ q ≤ 1) as the upper bound of its bucket: at most 1% above
// the true value. 0 when empty.
func (h *Latencies) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(float64(latMin) * math.Pow(latGrowth, float64(i)))
		}
	}
	return time.Duration(float64(latMin) * math.Pow(latGrowth, latBuckets-1))
}
