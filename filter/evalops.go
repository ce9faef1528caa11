package filter

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// evalAttr is a categorical value (or several: their union) or the values of a numeric field.
func (ev *evaluator) evalAttr(e *Expr, within *roaring64.Bitmap) (set, error) {
	ix := ev.ix
	kind, f, err := lookupField(e.Field)
	if err != nil {
		return set{}, err
	}
	if kind == Numeric {
		var out *roaring64.Bitmap
		for i, v := range e.Values {
			if i > 0 {
				if err := ev.term(); err != nil { // each value is a range
					return set{}, err
				}
			}
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return set{}, fmt.Errorf("%s is numeric: %q is not an integer", e.Field, v)
			}
			bm := ix.nums[f].rangeWithin(n, n, within)
			if out == nil {
				out = bm
			} else {
				out.Or(bm)
			}
		}
		if out == nil {
			return nothing(), nil
		}
		return set{bm: out, owned: true}, nil
	}
	c := ix.cats[f]
	u := parts{}
	for _, v := range e.Values {
		if code, ok := c.dict[normValue(v)]; ok {
			u.add(c.bms[code], false)
		}
	}
	bm, owned := u.union()
	if bm == nil {
		return nothing(), nil
	}
	if within != nil {
		if !owned {
			return restrict(bm, within), nil
		}
		bm.And(within)
	}
	return set{bm: bm, owned: owned}, nil
}

// evalAnd intersects the positive parts smallest first and subtracts the negated ones (the
// live SKUs in none of them when every part is negated), and only then evaluates the ranges,
// over the candidates left (a range over few candidates is cheap).
func (ev *evaluator) evalAnd(e *Expr, within *roaring64.Bitmap) (set, error) {
	pos, neg := parts{and: true}, parts{}
	var ranges []*Expr
	for i := range e.Args {
		a := &e.Args[i]
		switch a.Op {
		case OpRange:
			ranges = append(ranges, a)
			continue
		case OpAll:
			if err := ev.term(); err != nil {
				return set{}, err
			}
			continue
		}
		s, err := ev.eval(a, within)
		if err != nil {
			return set{}, err
		}
		if s.neg {
			neg.add(s.bm, s.owned)
			continue
		}
		pos.add(s.bm, s.owned)
		if s.owned && pos.own.IsEmpty() {
			return nothing(), nil // tags are checked up front: the rest can go unevaluated
		}
	}
	acc, owned := pos.intersection()
	if acc == nil {
		if len(ranges) == 0 {
			bm, owned := neg.union()
			if bm == nil {
				return everything(), nil // and() or only alls
			}
			return set{bm: bm, owned: owned, neg: true}, nil
		}
		var err error
		if acc, err = ev.rangeOf(ranges[0], within); err != nil {
			return set{}, err
		}
		owned, ranges = true, ranges[1:]
	}
	if neg.n > 0 && !acc.IsEmpty() {
		if !owned {
			acc, owned = acc.Clone(), true
		}
		neg.subtractFrom(acc)
	}
	for _, r := range ranges {
		if acc.IsEmpty() {
			break
		}
		var err error
		if acc, err = ev.rangeOf(r, acc); err != nil {
			return set{}, err
		}
		owned = true
	}
	return set{bm: acc, owned: owned}, nil
}

// evalOr unites the positive parts; with negated parts A1..An and positive ones B1..Bm it is
// negated: not ((A1 and ... and An) and not (B1 or ... or Bm)). Ranges go last, and when there
// are negated parts they only need evaluating over what is left of A1 and ... and An.
func (ev *evaluator) evalOr(e *Expr, within *roaring64.Bitmap) (set, error) {
	pos, neg := parts{}, parts{and: true}
	var ranges []*Expr
	for i := range e.Args {
		a := &e.Args[i]
		if a.Op == OpRange {
			ranges = append(ranges, a)
			continue
		}
		s, err := ev.eval(a, within)
		if err != nil {
			return set{}, err
		}
		if !s.neg {
			pos.add(s.bm, s.owned)
			continue
		}
		neg.add(s.bm, s.owned)
		if s.owned && neg.own.IsEmpty() {
			return everything(), nil // a part matches every live SKU in the window
		}
	}
	if neg.n == 0 {
		for _, r := range ranges {
			bm, err := ev.rangeOf(r, within)
			if err != nil {
				return set{}, err
			}
			pos.add(bm, true)
		}
		bm, owned := pos.union()
		if bm == nil {
			return nothing(), nil
		}
		return set{bm: bm, owned: owned}, nil
	}
	bm, owned := neg.intersection()
	if (pos.n > 0 || len(ranges) > 0) && !bm.IsEmpty() {
		if !owned {
			bm, owned = bm.Clone(), true
		}
		pos.subtractFrom(bm)
	}
	for _, r := range ranges {
		if bm.IsEmpty() {
			break
		}
		in, err := ev.rangeOf(r, bm)
		if err != nil {
			return set{}, err
		}
		bm.AndNot(in)
	}
	return set{bm: bm, owned: owned, neg: true}, nil
}

func (ev *evaluator) rangeOf(r *Expr, within *roaring64.Bitmap) (*roaring64.Bitmap, error) {
	if err := ev.term(); err != nil {
		return nil, err
	}
	_, f, err := lookupField(r.Field)
	if err != nil {
		return nil, err
	}
	return ev.ix.nums[f].rangeWithin(r.Lo, r.Hi, within), nil
}

// parts gathers the bitmaps an and or an or combines, keeping at most one of the evaluation's
// own at a time: the index's bitmaps (read only) are kept by reference, which costs nothing,
// and the evaluation's own are merged into one as they come.
type parts struct {
	and  bool // the parts are to be intersected (else united)
	own  *roaring64.Bitmap
	refs []*roaring64.Bitmap
	n    int
}

func (p *parts) add(bm *roaring64.Bitmap, owned bool) {
	p.n++
	switch {
	case !owned:
		p.refs = append(p.refs, bm)
	case p.own == nil:
		p.own = bm
	case p.and:
		p.own.And(bm)
	default:
		p.own.Or(bm)
	}
}

// distinct drops repeated references (`not brand = x or not brand = x or ...` combines one
// bitmap once, not once per repetition).
func (p *parts) distinct() []*roaring64.Bitmap {
	if len(p.refs) < 2 {
		return p.refs
	}
	seen := make(map[*roaring64.Bitmap]bool, len(p.refs))
	out := p.refs[:0]
	for _, r := range p.refs {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	p.refs = out
	return out
}

// union returns the union of the parts (nil when there are none) and whether it is owned.
func (p *parts) union() (*roaring64.Bitmap, bool) {
	out, refs := p.own, p.distinct()
	switch {
	case out == nil && len(refs) == 0:
		return nil, false
	case out == nil && len(refs) == 1:
		return refs[0], false
	case out == nil:
		out, refs = roaring64.Or(refs[0], refs[1]), refs[2:]
	}
	for _, r := range refs {
		out.Or(r)
	}
	return out, true
}

// intersection returns the intersection of the parts, the smallest first (nil when there are
// none), and whether it is owned.
func (p *parts) intersection() (*roaring64.Bitmap, bool) {
	out, refs := p.own, p.distinct()
	sort.Slice(refs, func(i, j int) bool { return refs[i].GetCardinality() < refs[j].GetCardinality() })
	switch {
	case out == nil && len(refs) == 0:
		return nil, false
	case out == nil && len(refs) == 1:
		return refs[0], false
	case out == nil && !refs[0].Intersects(refs[1]):
		return roaring64.New(), true // disjoint (two values of a field), found without a copy
	case out == nil:
		out, refs = roaring64.And(refs[0], refs[1]), refs[2:]
	}
	for _, r := range refs {
		if out.IsEmpty() {
			break
		}
		out.And(r)
	}
	return out, true
}

// subtractFrom removes every part from dst.
func (p *parts) subtractFrom(dst *roaring64.Bitmap) {
	if p.own != nil {
		dst.AndNot(p.own)
	}
	for _, r := range p.distinct() {
		if dst.IsEmpty() {
			return
		}
		dst.AndNot(r)
	}
}
