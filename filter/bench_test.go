package filter

import (
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// benchColumn is a 1M-ordinal price column and a candidate set of the given density.
func benchColumn(b *testing.B, density float64) (*numColumn, *roaring64.Bitmap, int64, int64) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 1))
	const n = 1_000_000
	ords := make([]uint64, n)
	vals := make([]int64, n)
	cand := roaring64.New()
	for i := range ords {
		ords[i] = uint64(i)
		vals[i] = int64(rng.ExpFloat64() * 5000)
		if rng.Float64() < density {
			cand.Add(uint64(i))
		}
	}
	c := &numColumn{bsi: buildBSI(ords, vals)}
	c.accel()
	// the middle half of the prices: about 1,438 to 6,931
	return c, cand, 1438, 6931
}

// BenchmarkRange compares a price BETWEEN over 1M SKUs: the library's CompareValue over
// everything then intersected with the candidates (plain), CompareValue with the candidates
// as its found set, and the bucketed range (rangeWithin).
func BenchmarkRange(b *testing.B) {
	for _, d := range []struct {
		name    string
		density float64
	}{{"cand=all", 1}, {"cand=12%", 0.12}, {"cand=1%", 0.01}} {
		c, cand, lo, hi := benchColumn(b, d.density)
		if d.density == 1 {
			cand = nil
		}
		b.Run(d.name+"/plain", func(b *testing.B) {
			for b.Loop() {
				r := c.bsi.CompareValue(1, roaring64.RANGE, lo, hi, nil)
				if cand != nil {
					r.And(cand)
				}
			}
		})
		b.Run(d.name+"/foundset", func(b *testing.B) {
			for b.Loop() {
				c.bsi.CompareValue(1, roaring64.RANGE, lo, hi, cand)
			}
		})
		b.Run(d.name+"/buckets", func(b *testing.B) {
			for b.Loop() {
				c.rangeWithin(lo, hi, cand)
			}
		})
	}
}
