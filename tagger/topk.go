package tagger

import (
	"fmt"
	"math"
	"sort"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// TopK returns up to k ordinals of within (nil: every live SKU) with the highest (desc) or
// lowest values of a numeric field, best first, and their values; ties go by ordinal. It narrows
// a value threshold by bisection with the column's range query (each step a few bitmap
// operations), until the ordinals at or past the threshold are just over k, and reads only
// those values: no sort of the whole candidate set.
func (ix *Index) TopK(field string, k int, within *roaring64.Bitmap, desc bool) ([]int64, []int64, error) {
	kind, col, err := lookupField(field)
	if err != nil {
		return nil, nil, err
	}
	if kind != Numeric {
		return nil, nil, fmt.Errorf("%s is categorical: only numeric fields rank", field)
	}
	if k <= 0 {
		return nil, nil, nil
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if within == nil {
		within = ix.live
	}
	c := ix.nums[col]
	valued := roaring64.And(within, c.bsi.GetExistenceBitmap())
	var picked *roaring64.Bitmap
	if valued.GetCardinality() <= uint64(k) {
		picked = valued
	} else {
		lo := c.bsi.MinMax(0, roaring64.MIN, valued)
		hi := c.bsi.MinMax(0, roaring64.MAX, valued)
		// Invariant: the set past the threshold t holds at least k ordinals at t = lo (desc) or
		// t = hi (asc); bisect towards the tightest such t.
		past := func(t int64) *roaring64.Bitmap {
			if desc {
				return c.rangeWithin(t, math.MaxInt64, valued)
			}
			return c.rangeWithin(math.MinInt64, t, valued)
		}
		best := valued
		for lo < hi {
			mid := lo + (hi-lo)/2
			if desc {
				mid = lo + (hi-lo+1)/2
			}
			set := past(mid)
			n := set.GetCardinality()
			if n >= uint64(k) {
				best = set
				if desc {
					lo = mid
				} else {
					hi = mid
				}
				if n < uint64(2*k) {
					break
				}
			} else if desc {
				hi = mid - 1
			} else {
				lo = mid + 1
			}
		}
		picked = best
	}
	ords := picked.ToArray()
	// Ordinals of within without a value rank last, as 0.
	if len(ords) < k {
		it := roaring64.AndNot(within, valued).Iterator()
		for it.HasNext() && len(ords) < k {
			ords = append(ords, it.Next())
		}
	}
	vals, _ := c.bsi.GetValues(ords)
	idx := make([]int, len(ords))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		va, vb := vals[idx[a]], vals[idx[b]]
		if va != vb {
			return (va > vb) == desc
		}
		return ords[idx[a]] < ords[idx[b]]
	})
	if len(idx) > k {
		idx = idx[:k]
	}
	outO := make([]int64, len(idx))
	outV := make([]int64, len(idx))
	for i, j := range idx {
		outO[i], outV[i] = int64(ords[j]), vals[j]
	}
	return outO, outV, nil
}

// NumericValues returns a numeric field's values for ordinals (0 where a value is missing).
func (ix *Index) NumericValues(field string, ordinals []int64) ([]int64, error) {
	kind, col, err := lookupField(field)
	if err != nil {
		return nil, err
	}
	if kind != Numeric {
		return nil, fmt.Errorf("%s is categorical, not numeric", field)
	}
	ords := make([]uint64, len(ordinals))
	for i, o := range ordinals {
		ords[i] = uint64(o)
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	vals, ok := ix.nums[col].bsi.GetValues(ords)
	out := make([]int64, len(ords))
	for i := range out {
		if ok[i] {
			out[i] = vals[i]
		}
	}
	return out, nil
}
