package soakbench

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The histogram's quantiles are those of the sorted durations within 1% (above, never below),
// over six orders of magnitude, and the ends are clamped.
func TestLatenciesQuantilesWithinOnePercent(t *testing.T) {
	var h Latencies
	require.Zero(t, h.Quantile(0.5))
	rng := rand.New(rand.NewPCG(1, 2))
	var all []time.Duration
	for i := 0; i < 100_000; i++ {
		d := time.Duration(float64(50*time.Microsecond) * float64(int64(1)<<rng.IntN(20)) * (1 + rng.Float64()))
		all = append(all, d)
		h.Add(d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		want := all[max(int(q*float64(len(all)))-1, 0)]
		got := h.Quantile(q)
		require.GreaterOrEqual(t, float64(got), float64(want)*0.999, "q=%v", q)
		require.LessOrEqual(t, float64(got), float64(want)*1.0101, "q=%v", q)
	}
	require.EqualValues(t, len(all), h.Count())
	var ends Latencies
	ends.Add(time.Nanosecond)
	ends.Add(time.Hour)
	require.Equal(t, latMin, ends.Quantile(0))
	require.Greater(t, ends.Quantile(1), 200*time.Second)
}
