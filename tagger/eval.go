package tagger

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// Eval evaluates e over the live SKUs and returns the matching ordinals as a bitmap of the
// caller's own. An unknown tag or field is an error.
func (ix *Index) Eval(e Expr) (*roaring64.Bitmap, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	bm, owned, err := ix.eval(&e, nil)
	if err != nil {
		return nil, err
	}
	if !owned {
		bm = bm.Clone()
	}
	return bm, nil
}

// Count returns how many live SKUs match e.
func (ix *Index) Count(e Expr) (uint64, error) {
	if err := e.Validate(); err != nil {
		return 0, err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	bm, _, err := ix.eval(&e, nil)
	if err != nil {
		return 0, err
	}
	return bm.GetCardinality(), nil
}

// firstWindow is the first slice of ordinals First evaluates: one roaring container.
const firstWindow = 1 << 16

// First returns the SKU ids of the first n matches of e in ordinal (arrival) order. It
// evaluates e over growing windows of ordinals and stops as soon as it has n, so a broad
// filter costs about as much as its first container.
func (ix *Index) First(e Expr, n int) ([]int64, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make([]int64, 0, n)
	if n <= 0 {
		return out, nil
	}
	end := uint64(len(ix.ids))
	width := uint64(firstWindow)
	for start := uint64(0); start < end && len(out) < n; {
		stop := start + width
		if stop > end {
			stop = end
		}
		win := roaring64.New()
		win.AddRange(start, stop)
		bm, _, err := ix.eval(&e, win)
		if err != nil {
			return nil, err
		}
		out = append(out, ix.skuIDs(bm, n-len(out))...)
		start = stop
		width *= 2
	}
	return out, nil
}

// eval returns e's ordinals, intersected with within when within is not nil. owned says
// whether the bitmap is a fresh one the caller may change; otherwise it belongs to the index.
func (ix *Index) eval(e *Expr, within *roaring64.Bitmap) (*roaring64.Bitmap, bool, error) {
	switch e.Op {
	case OpAll:
		return ix.restrict(ix.live, within)
	case OpTag:
		t, ok := ix.tags[strings.ToLower(e.Name)]
		if !ok {
			return nil, false, fmt.Errorf("%w %q", ErrUnknownTag, e.Name)
		}
		return ix.restrict(t.members, within)
	case OpAttr:
		kind, f, err := lookupField(e.Field)
		if err != nil {
			return nil, false, err
		}
		if kind == Numeric {
			var parts []*roaring64.Bitmap
			for _, v := range e.Values {
				n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err != nil {
					return nil, false, fmt.Errorf("%s is numeric: %q is not an integer", e.Field, v)
				}
				parts = append(parts, ix.nums[f].rangeWithin(n, n, within))
			}
			return roaring64.FastOr(parts...), true, nil
		}
		c := ix.cats[f]
		var parts []*roaring64.Bitmap
		for _, v := range e.Values {
			if code, ok := c.dict[normValue(v)]; ok {
				parts = append(parts, c.bms[code])
			}
		}
		switch len(parts) {
		case 0:
			return roaring64.New(), true, nil
		case 1:
			return ix.restrict(parts[0], within)
		}
		bm := roaring64.FastOr(parts...)
		if within != nil {
			bm.And(within)
		}
		return bm, true, nil
	case OpRange:
		_, f, err := lookupField(e.Field)
		if err != nil {
			return nil, false, err
		}
		return ix.nums[f].rangeWithin(e.Lo, e.Hi, within), true, nil
	case OpNot:
		inner, _, err := ix.eval(&e.Args[0], within)
		if err != nil {
			return nil, false, err
		}
		bm := ix.live.Clone()
		if within != nil {
			bm.And(within)
		}
		bm.AndNot(inner)
		return bm, true, nil
	case OpOr:
		if len(e.Args) == 0 {
			return roaring64.New(), true, nil
		}
		parts := make([]*roaring64.Bitmap, 0, len(e.Args))
		for i := range e.Args {
			bm, _, err := ix.eval(&e.Args[i], within)
			if err != nil {
				return nil, false, err
			}
			parts = append(parts, bm)
		}
		if len(parts) == 1 {
			return parts[0], false, nil
		}
		return roaring64.FastOr(parts...), true, nil
	case OpAnd:
		return ix.evalAnd(e, within)
	}
	return nil, false, fmt.Errorf("unknown operator %q", e.Op)
}

func (ix *Index) restrict(bm, within *roaring64.Bitmap) (*roaring64.Bitmap, bool, error) {
	if within == nil {
		return bm, false, nil
	}
	return roaring64.And(bm, within), true, nil
}

// evalAnd intersects the bitmap terms smallest first, subtracts the negated terms, and only
// then evaluates the ranges, over the candidates left (a range over few candidates is cheap).
func (ix *Index) evalAnd(e *Expr, within *roaring64.Bitmap) (*roaring64.Bitmap, bool, error) {
	var pos, neg []*roaring64.Bitmap
	var ranges []*Expr
	for i := range e.Args {
		a := &e.Args[i]
		switch a.Op {
		case OpRange:
			ranges = append(ranges, a)
			continue
		case OpAll:
			continue
		case OpNot:
			bm, _, err := ix.eval(&a.Args[0], within)
			if err != nil {
				return nil, false, err
			}
			neg = append(neg, bm)
			continue
		}
		bm, _, err := ix.eval(a, within)
		if err != nil {
			return nil, false, err
		}
		pos = append(pos, bm)
	}
	var acc *roaring64.Bitmap
	switch len(pos) {
	case 0:
		acc = ix.live.Clone()
		if within != nil {
			acc.And(within)
		}
	case 1:
		acc = pos[0].Clone()
	default:
		sort.Slice(pos, func(i, j int) bool { return pos[i].GetCardinality() < pos[j].GetCardinality() })
		acc = roaring64.And(pos[0], pos[1])
		for _, bm := range pos[2:] {
			if acc.IsEmpty() {
				break
			}
			acc.And(bm)
		}
	}
	for _, bm := range neg {
		if acc.IsEmpty() {
			break
		}
		acc.AndNot(bm)
	}
	for _, r := range ranges {
		if acc.IsEmpty() {
			break
		}
		_, f, err := lookupField(r.Field)
		if err != nil {
			return nil, false, err
		}
		acc = ix.nums[f].rangeWithin(r.Lo, r.Hi, acc)
	}
	return acc, true, nil
}
