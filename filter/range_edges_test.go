package filter

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"
)

func TestRangeEdgesAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, distinct := range []int64{3, 21, 500, 1 << 30} {
		var ords []uint64
		var vals []int64
		for o := uint64(0); o < 60000; o += uint64(1 + rng.IntN(2)) {
			v := rng.Int64N(distinct)
			if rng.IntN(3) == 0 {
				v = 0
			}
			ords, vals = append(ords, o), append(vals, v)
		}
		c := &numColumn{bsi: buildBSI(ords, vals)}
		a := c.accel()
		found := roaring64.New()
		for _, o := range ords {
			if rng.IntN(2) == 0 {
				found.Add(o)
			}
		}
		cands := []int64{math.MinInt64, math.MaxInt64, -1, 0, 1, distinct - 1, distinct}
		cands = append(cands, a.bounds...)
		for _, b := range a.bounds {
			cands = append(cands, b-1, b+1)
		}
		for _, lo := range cands {
			for _, hi := range cands {
				for _, f := range []*roaring64.Bitmap{nil, found} {
					want := []uint64{}
					if lo <= hi {
						for i, o := range ords {
							if vals[i] >= lo && vals[i] <= hi && (f == nil || f.Contains(o)) {
								want = append(want, o)
							}
						}
					}
					got := arr(c.rangeWithin(lo, hi, f))
					require.True(t, slices.Equal(want, got), "distinct %d [%d, %d] found %v: %d vs %d", distinct, lo, hi, f != nil, len(want), len(got))
				}
			}
		}
	}
}
