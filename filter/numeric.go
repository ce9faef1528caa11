package filter

import (
	"bytes"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// numBuckets is how many value buckets a numeric column's range accelerator uses. The
// accelerator keeps, beside the BSI, the dense value of every ordinal and range-encoded
// bitmaps P_j = {ordinals whose value < bound_j} at the column's quantiles. A range [lo, hi]
// is then P_jh AND NOT P_jl+1 (two bitmap operations over the buckets wholly inside) plus the
// candidates of the two edge buckets checked against their dense values, instead of the BSI's
// walk over every bit plane (two operations per plane). 32 buckets keep the edges at ~1/16 of
// the candidates for ~4 MB per column at 1M SKUs (the dense values take 8 MB more); see
// BenchmarkRange for the measured comparison with the library's CompareValue.
const numBuckets = 32

// iterateBelow: candidate sets smaller than this are checked value by value, which beats the
// fixed cost of the bitmap operations (BenchmarkRange, cand=1%).
const iterateBelow = 16384

// numColumn is one numeric field: a BSI (the persisted, exact column) and, once a range query
// needs it, its range accelerator.
type numColumn struct {
	bsi     *roaring64.BSI
	acc     atomic.Pointer[rangeAcc]
	buildMu sync.Mutex
}

// rangeAcc is a column's range accelerator.
type rangeAcc struct {
	vals   []int64 // by ordinal
	bounds []int64 // bounds[0] = MinInt64; bucket j holds [bounds[j], bounds[j+1])
	prefix []*roaring64.Bitmap
	// prefix[j] = ordinals with value < bounds[j], for j = 1..len(bounds)-1 (prefix[0] unused)
}

func newNumColumn() *numColumn {
	return &numColumn{bsi: roaring64.NewDefaultBSI()}
}

// bucket returns the bucket holding v.
func (a *rangeAcc) bucket(v int64) int {
	return sort.Search(len(a.bounds), func(i int) bool { return a.bounds[i] > v }) - 1
}

func (c *numColumn) set(o uint64, v int64) {
	old, ok := c.bsi.GetValue(o)
	if ok && old == v {
		return
	}
	c.bsi.SetValue(o, v)
	if a := c.acc.Load(); a != nil {
		a.move(o, old, ok, v, true)
	}
}

func (c *numColumn) clear(o uint64) {
	old, ok := c.bsi.GetValue(o)
	if !ok {
		return
	}
	c.bsi.ClearValues(roaring64.BitmapOf(o))
	if a := c.acc.Load(); a != nil {
		a.move(o, old, true, 0, false)
	}
}

// move updates the accelerator for ordinal o going from old (when hadOld) to v (when hasNew).
func (a *rangeAcc) move(o uint64, old int64, hadOld bool, v int64, hasNew bool) {
	if int(o) >= len(a.vals) {
		a.vals = growTo(a.vals, int64(o)+1)
	}
	for j := 1; j < len(a.bounds); j++ {
		wasBelow := hadOld && old < a.bounds[j]
		isBelow := hasNew && v < a.bounds[j]
		switch {
		case wasBelow && !isBelow:
			a.prefix[j].Remove(o)
		case isBelow && !wasBelow:
			a.prefix[j].Add(o)
		}
	}
	a.vals[o] = v
}

// accel returns the column's accelerator, building it on first use. Callers hold the index's
// read lock (so no writer runs); buildMu keeps two readers from building it twice.
func (c *numColumn) accel() *rangeAcc {
	if a := c.acc.Load(); a != nil {
		return a
	}
	c.buildMu.Lock()
	defer c.buildMu.Unlock()
	if a := c.acc.Load(); a != nil {
		return a
	}
	ords, vals := bsiValues(c.bsi)
	a := newRangeAcc(ords, vals)
	c.acc.Store(a)
	return a
}

// bsiValues reads every value of a BSI, plane by plane into a dense array (the library's
// GetValues goes through a map of positions, ~10x slower at 1M values).
func bsiValues(b *roaring64.BSI) ([]uint64, []int64) {
	e := b.GetExistenceBitmap()
	if e.IsEmpty() {
		return nil, nil
	}
	ords := e.ToArray()
	maxOrd := ords[len(ords)-1]
	raw := make([]uint64, maxOrd+1)
	// The planes are private to the BSI; its WriteTo form is the existence bitmap then every
	// plane, sign plane included (MarshalBinary leaves the sign plane out).
	var ser bytes.Buffer
	if _, err := b.WriteTo(&ser); err != nil {
		return nil, nil
	}
	r := bytes.NewReader(ser.Bytes())
	var skip roaring64.Bitmap
	if _, err := skip.ReadFrom(r); err != nil {
		return nil, nil
	}
	sign := b.BitCount()
	buf := make([]uint64, 1024)
	for p := 0; p <= sign; p++ {
		var bm roaring64.Bitmap
		if _, err := bm.ReadFrom(r); err != nil {
			break
		}
		it := bm.ManyIterator()
		for {
			n := it.NextMany(buf)
			if n == 0 {
				break
			}
			for _, o := range buf[:n] {
				if o <= maxOrd {
					raw[o] |= 1 << uint(p)
				}
			}
		}
	}
	vals := make([]int64, len(ords))
	width := uint(sign + 1)
	for i, o := range ords {
		r := raw[o]
		if width < 64 && r&(1<<uint(sign)) != 0 {
			r |= ^uint64(0) << width
		}
		vals[i] = int64(r)
	}
	return ords, vals
}

// newRangeAcc builds an accelerator from ascending ordinals and their values.
func newRangeAcc(ords []uint64, vals []int64) *rangeAcc {
	sample := vals
	if len(vals) > 8192 {
		sample = make([]int64, 0, 8192+1)
		step := len(vals) / 8192
		for i := 0; i < len(vals); i += step {
			sample = append(sample, vals[i])
		}
	}
	a := &rangeAcc{bounds: quantileBounds(sample)}
	n := int64(0)
	if len(ords) > 0 {
		n = int64(ords[len(ords)-1]) + 1
	}
	a.vals = make([]int64, n)
	lists := make([][]uint64, len(a.bounds))
	for i, o := range ords {
		a.vals[o] = vals[i]
		j := a.bucket(vals[i])
		lists[j] = append(lists[j], o)
	}
	a.prefix = make([]*roaring64.Bitmap, len(a.bounds))
	acc := roaring64.New()
	for j := 1; j < len(a.bounds); j++ {
		acc.Or(bitmapOfSorted(lists[j-1]))
		a.prefix[j] = acc.Clone()
		a.prefix[j].RunOptimize()
	}
	return a
}

// Prepare builds the range accelerators of the given numeric fields now (all when none are
// given) rather than on their first range query.
func (ix *Index) Prepare(fields ...string) error {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if len(fields) == 0 {
		fields = numNames[:]
	}
	for _, f := range fields {
		kind, i, err := lookupField(f)
		if err != nil {
			return err
		}
		if kind != Numeric {
			return fmt.Errorf("%s is not numeric", f)
		}
		ix.nums[i].accel()
	}
	return nil
}

// quantileBounds picks bucket bounds at the quantiles of values (a sample is enough), distinct
// and ascending, starting at MinInt64.
func quantileBounds(sample []int64) []int64 {
	s := slices.Clone(sample)
	slices.Sort(s)
	bounds := []int64{math.MinInt64}
	for i := 1; i < numBuckets && len(s) > 0; i++ {
		v := s[i*len(s)/numBuckets]
		if v > bounds[len(bounds)-1] {
			bounds = append(bounds, v)
		}
	}
	return bounds
}

func bitmapOfSorted(l []uint64) *roaring64.Bitmap {
	bm := roaring64.New()
	bm.AddMany(l)
	bm.RunOptimize()
	return bm
}

// buildBSI makes a BSI from ascending ordinals and their values, plane by plane (much faster
// than SetValue per ordinal, which goes through math/big). Values are stored in two's
// complement with the library's auto-sized layout: planes 0..n-1 then the sign plane.
func buildBSI(ords []uint64, vals []int64) *roaring64.BSI {
	width := 1
	for _, v := range vals {
		m := v
		if m < 0 {
			m = -m // |MinInt64| overflows to itself; BitLen 64 below is right
		}
		if w := 64 - bits.LeadingZeros64(uint64(m)); w > width {
			width = w
		}
	}
	nplanes := width + 1 // including the sign plane
	if nplanes > 64 {
		nplanes = 64
	}
	lists := make([][]uint64, nplanes)
	for i, o := range ords {
		v := vals[i]
		for p := 0; p < nplanes; p++ {
			if (v>>uint(p))&1 != 0 {
				lists[p] = append(lists[p], o)
			}
		}
	}
	bms := make([]roaring64.Bitmap, nplanes+1)
	e := bitmapOfSorted(ords)
	bms[0] = *e
	for p := 0; p < nplanes; p++ {
		bm := bitmapOfSorted(lists[p])
		bms[p+1] = *bm
	}
	b := roaring64.NewDefaultBSI()
	b.FromBitmaps(bms)
	return b
}

// rangeWithin returns the ordinals of found (nil: every ordinal with a value) whose value is in
// [lo, hi]. The result is new.
func (c *numColumn) rangeWithin(lo, hi int64, found *roaring64.Bitmap) *roaring64.Bitmap {
	if lo > hi || (found != nil && found.IsEmpty()) {
		return roaring64.New()
	}
	exists := c.bsi.GetExistenceBitmap()
	if found != nil && found.GetCardinality() < iterateBelow {
		a := c.accel()
		cand := roaring64.And(found, exists)
		return a.check(cand, lo, hi)
	}
	a := c.accel()
	jl, jh := a.bucket(lo), a.bucket(hi)
	// below(j) = ordinals with value < bounds[j] (exists past the last bucket).
	below := func(j int) *roaring64.Bitmap {
		if j >= len(a.bounds) {
			return exists
		}
		return a.prefix[j]
	}
	// An edge bucket whose values all lie in [lo, hi] needs no value check.
	lowIn := lo <= a.bounds[jl]
	highIn := (jh+1 == len(a.bounds) && hi == math.MaxInt64) || (jh+1 < len(a.bounds) && hi >= a.bounds[jh+1]-1)
	s, e := jl+1, jh-1 // buckets wholly inside
	if lowIn {
		s = jl
	}
	if highIn {
		e = jh
	}
	// members of buckets s..e, within found
	span := func(s, e int) *roaring64.Bitmap {
		var out *roaring64.Bitmap
		if found != nil {
			out = roaring64.And(found, below(e+1))
		} else {
			out = below(e + 1).Clone()
		}
		if s >= 1 {
			out.AndNot(a.prefix[s])
		}
		return out
	}
	var out *roaring64.Bitmap
	if s <= e {
		out = span(s, e)
	} else {
		out = roaring64.New()
	}
	if !lowIn {
		out.Or(a.check(span(jl, jl), lo, hi))
	}
	if !highIn && (jh != jl || lowIn) {
		out.Or(a.check(span(jh, jh), lo, hi))
	}
	return out
}

// check keeps the ordinals of cand whose dense value is in [lo, hi].
func (a *rangeAcc) check(cand *roaring64.Bitmap, lo, hi int64) *roaring64.Bitmap {
	keep := make([]uint64, 0, cand.GetCardinality())
	buf := make([]uint64, 512)
	it := cand.ManyIterator()
	vals := a.vals
	for {
		n := it.NextMany(buf)
		if n == 0 {
			break
		}
		for _, o := range buf[:n] {
			if o < uint64(len(vals)) {
				if v := vals[o]; v >= lo && v <= hi {
					keep = append(keep, o)
				}
			}
		}
	}
	return bitmapOfSorted(keep)
}

// rangeBSI is the library's comparison alone (the baseline rangeWithin is measured against).
func (c *numColumn) rangeBSI(lo, hi int64, found *roaring64.Bitmap) *roaring64.Bitmap {
	if lo > hi {
		return roaring64.New()
	}
	lo, hi = c.clamp(lo, hi)
	if lo > hi {
		return roaring64.New()
	}
	return c.bsi.CompareValue(1, roaring64.RANGE, lo, hi, found)
}

// clamp narrows open bounds to values the BSI can represent.
func (c *numColumn) clamp(lo, hi int64) (int64, int64) {
	n := c.bsi.BitCount() // value bits, below the sign plane
	if n >= 63 {
		return lo, hi
	}
	maxV := int64(1)<<uint(n) - 1
	minV := -(int64(1) << uint(n))
	if lo < minV {
		lo = minV
	}
	if hi > maxV {
		hi = maxV
	}
	return lo, hi
}

// PlainRange is the library's BSI comparison alone (CompareValue over the whole column), the
// baseline the range accelerator is measured against by `selection bench tags`.
func (ix *Index) PlainRange(field string, lo, hi int64) *roaring64.Bitmap {
	kind, f, err := lookupField(field)
	if err != nil || kind != Numeric {
		return roaring64.New()
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.nums[f].rangeBSI(lo, hi, nil)
}
