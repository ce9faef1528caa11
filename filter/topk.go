package filter

import (
	"fmt"

	"sort"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// TopK returns up to k ordinals of within (nil: every live SKU) with the highest (desc) or
// lowest values of a numeric field, best first, and their values; ties go by ordinal, the lower
// first, except for released, where the later arrival (higher ordinal) is the newer. When more
// than k candidates have a value it makes one pass over their values keeping the best k in a
// heap: no sort of the whole candidate set.
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
	laterFirst := col == NumReleased
	var ords []uint64
	var vals []int64
	if valued.GetCardinality() <= uint64(k) {
		// All of them: their values from the dense array (the BSI's GetValues goes through a
		// map of positions; a pool's members re-sorted are up to thousands).
		ords = valued.ToArray()
		dense := c.accel().vals
		vals = make([]int64, len(ords))
		for i, o := range ords {
			vals[i] = dense[o]
		}
	} else {
		ords, vals = bestOf(valued, c.accel().vals, k, desc, laterFirst)
	}
	// Ordinals of within without a value rank last, as 0.
	if len(ords) < k {
		var it roaring64.IntIterable64 = roaring64.AndNot(within, valued).Iterator()
		if laterFirst {
			it = roaring64.AndNot(within, valued).ReverseIterator()
		}
		for it.HasNext() && len(ords) < k {
			ords = append(ords, it.Next())
			vals = append(vals, 0)
		}
	}
	outO, outV := rankOrdinals(ords, vals, k, desc, laterFirst)
	return outO, outV, nil
}

// bestOf makes one pass over the dense values (by ordinal) of the ordinals of valued, keeping
// the best k in a heap whose root is the worst kept, and returns them unordered.
func bestOf(valued *roaring64.Bitmap, dense []int64, k int, desc, laterFirst bool) ([]uint64, []int64) {
	h := topHeap{desc: desc, laterFirst: laterFirst}
	h.o = make([]uint64, 0, k)
	h.v = make([]int64, 0, k)
	buf := make([]uint64, 1024)
	it := valued.ManyIterator()
	for {
		n := it.NextMany(buf)
		if n == 0 {
			break
		}
		for _, o := range buf[:n] {
			v := dense[o]
			if len(h.o) < k {
				h.push(o, v)
			} else if h.better(v, o, h.v[0], h.o[0]) {
				h.o[0], h.v[0] = o, v
				h.down(0)
			}
		}
	}
	return h.o, h.v
}

// rankOrdinals sorts ords (with their vals) best first, ties by ordinal (the later first when
// laterFirst), and returns the first k.
func rankOrdinals(ords []uint64, vals []int64, k int, desc, laterFirst bool) ([]int64, []int64) {
	idx := make([]int, len(ords))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		va, vb := vals[idx[a]], vals[idx[b]]
		if va != vb {
			return (va > vb) == desc
		}
		return (ords[idx[a]] < ords[idx[b]]) != laterFirst
	})
	if len(idx) > k {
		idx = idx[:k]
	}
	outO := make([]int64, len(idx))
	outV := make([]int64, len(idx))
	for i, j := range idx {
		outO[i], outV[i] = int64(ords[j]), vals[j]
	}
	return outO, outV
}

// NumericValues returns a numeric field's values for ordinals (0 where a value is missing).
func (ix *Index) NumericValues(field string, ordinals []int64) ([]int64, error) {
	col, err := numericField(field)
	if err != nil {
		return nil, err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	// The dense values hold the BSI's, 0 where it has none (and past the last ordinal).
	dense := ix.nums[col].accel().vals
	out := make([]int64, len(ordinals))
	for i, o := range ordinals {
		if o >= 0 && o < int64(len(dense)) {
			out[i] = dense[o]
		}
	}
	return out, nil
}

// NumericSum is the sum of a numeric field's values at the ordinals, each as often as it is
// named (those without a value count 0): a version's stamp of 24 h sales over its thousands of
// SKUs. It reads the field's dense values (the range accelerator's, kept as values change), a
// load per ordinal: the BSI's sum (an AND-count per bit plane, each on a goroutine of its own)
// took about 0.2 ms for a few thousand SKUs, most of a written version's own CPU time.
func (ix *Index) NumericSum(field string, ordinals []int64) (int64, error) {
	col, err := numericField(field)
	if err != nil {
		return 0, err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	dense := ix.nums[col].accel().vals
	var sum int64
	for _, o := range ordinals {
		if o >= 0 && o < int64(len(dense)) {
			sum += dense[o]
		}
	}
	return sum, nil
}

// numericField is a numeric field's column (an error for an unknown or categorical one).
func numericField(field string) (int, error) {
	kind, col, err := lookupField(field)
	if err != nil {
		return 0, err
	}
	if kind != Numeric {
		return 0, fmt.Errorf("%s is categorical, not numeric", field)
	}
	return col, nil
}

// topHeap keeps the best k (value, ordinal) pairs; its root is the worst kept.
type topHeap struct {
	o          []uint64
	v          []int64
	desc       bool
	laterFirst bool // ties: the higher ordinal first
}

// better: higher (desc) or lower value first, then the lower ordinal (laterFirst: the higher).
func (h *topHeap) better(va int64, oa uint64, vb int64, ob uint64) bool {
	if va != vb {
		return (va > vb) == h.desc
	}
	return (oa < ob) != h.laterFirst
}

func (h *topHeap) push(o uint64, v int64) {
	h.o, h.v = append(h.o, o), append(h.v, v)
	i := len(h.o) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.better(h.v[p], h.o[p], h.v[i], h.o[i]) {
			break
		}
		h.o[p], h.o[i], h.v[p], h.v[i] = h.o[i], h.o[p], h.v[i], h.v[p]
		i = p
	}
}

func (h *topHeap) down(i int) {
	n := len(h.o)
	for {
		w := i
		l, r := 2*i+1, 2*i+2
		if l < n && h.better(h.v[w], h.o[w], h.v[l], h.o[l]) {
			w = l
		}
		if r < n && h.better(h.v[w], h.o[w], h.v[r], h.o[r]) {
			w = r
		}
		if w == i {
			return
		}
		h.o[w], h.o[i], h.v[w], h.v[i] = h.o[i], h.o[w], h.v[i], h.v[w]
		i = w
	}
}
