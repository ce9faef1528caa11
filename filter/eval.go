package filter

import (
	"context"
	"fmt"
	"strings"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// Eval evaluates e over the live SKUs and returns the matching ordinals as a bitmap of the
// caller's own. An unknown tag or field is an error. It is EvalContext without a deadline.
func (ix *Index) Eval(e Expr) (*roaring64.Bitmap, error) {
	return ix.EvalContext(context.Background(), e)
}

// EvalContext is Eval that gives up, with ctx's error, once ctx is done: evaluation looks at
// ctx before it starts and every checkEvery terms.
func (ix *Index) EvalContext(ctx context.Context, e Expr) (*roaring64.Bitmap, error) {
	return ix.evalWithin(ctx, e, nil)
}

// EvalWithin evaluates e over the ordinals of within only (the result is within's subset).
func (ix *Index) EvalWithin(e Expr, within *roaring64.Bitmap) (*roaring64.Bitmap, error) {
	return ix.evalWithin(context.Background(), e, within)
}

// EvalWithinContext is EvalWithin that stops with ctx's error when ctx is done.
func (ix *Index) EvalWithinContext(ctx context.Context, e Expr, within *roaring64.Bitmap) (*roaring64.Bitmap, error) {
	return ix.evalWithin(ctx, e, within)
}

func (ix *Index) evalWithin(ctx context.Context, e Expr, within *roaring64.Bitmap) (*roaring64.Bitmap, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	ev, err := ix.evaluator(ctx, &e)
	if err != nil {
		return nil, err
	}
	if within == nil {
		return ix.memoEval(ev, &e)
	}
	s, err := ev.eval(&e, within)
	if err != nil {
		return nil, err
	}
	return ev.materialize(s, within), nil
}

// Count returns how many live SKUs match e.
func (ix *Index) Count(e Expr) (uint64, error) {
	if err := e.Validate(); err != nil {
		return 0, err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	ev, err := ix.evaluator(context.Background(), &e)
	if err != nil {
		return 0, err
	}
	s, err := ev.eval(&e, nil)
	if err != nil {
		return 0, err
	}
	if s.neg {
		return ix.live.GetCardinality() - ix.live.AndCardinality(s.bm), nil
	}
	return s.bm.GetCardinality(), nil
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
	ev, err := ix.evaluator(context.Background(), &e)
	if err != nil {
		return nil, err
	}
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
		s, err := ev.eval(&e, win)
		if err != nil {
			return nil, err
		}
		out = append(out, ix.skuIDs(ev.materialize(s, win), n-len(out))...)
		start = stop
		width *= 2
	}
	return out, nil
}

// checkEvery is how many terms evaluation goes between looks at its context. The dearest term
// (a range over 1M SKUs) costs about a millisecond, most cost microseconds, so a cancelled or
// timed-out request stops within milliseconds.
const checkEvery = 8

// evaluator is one evaluation of an expression under the index's read lock.
type evaluator struct {
	ix    *Index
	ctx   context.Context
	terms int
}

// evaluator checks ctx and the tags e names (so an unknown tag is an error however the
// evaluation short-cuts) and returns an evaluator. The caller holds the read lock.
func (ix *Index) evaluator(ctx context.Context, e *Expr) (*evaluator, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("filter evaluation: %w", err)
	}
	if err := ix.checkTags(e); err != nil {
		return nil, err
	}
	return &evaluator{ix: ix, ctx: ctx}, nil
}

// TypeTagPrefix starts the name of a product-type tag: "type/notebook case" holds the SKUs
// whose product_type is "notebook case". Type tags are not stored: they are the field's values,
// kept fresh by the tagger as it types new and changed SKUs.
const TypeTagPrefix = "type/"

// TypeOfTag returns the product type a type tag names.
func TypeOfTag(name string) (string, bool) {
	if len(name) > len(TypeTagPrefix) && strings.EqualFold(name[:len(TypeTagPrefix)], TypeTagPrefix) {
		return strings.TrimSpace(name[len(TypeTagPrefix):]), true
	}
	return "", false
}

func (ix *Index) checkTags(e *Expr) error {
	if e.Op == OpTag {
		if ty, ok := TypeOfTag(e.Name); ok {
			if _, known := ix.cats[CatProductType].dict[normValue(ty)]; !known {
				return fmt.Errorf("%w %q (no SKU has the product type %q)", ErrUnknownTag, e.Name, ty)
			}
		} else if _, ok := ix.tags[strings.ToLower(e.Name)]; !ok {
			return fmt.Errorf("%w %q", ErrUnknownTag, e.Name)
		}
	}
	for i := range e.Args {
		if err := ix.checkTags(&e.Args[i]); err != nil {
			return err
		}
	}
	return nil
}

// term counts one term evaluated and, every checkEvery terms, looks at the context.
func (ev *evaluator) term() error {
	ev.terms++
	if ev.terms%checkEvery == 0 {
		if err := ev.ctx.Err(); err != nil {
			return fmt.Errorf("filter evaluation stopped after %d terms: %w", ev.terms, err)
		}
	}
	return nil
}

// set is what evaluating an expression over a window of ordinals gives: the ordinals of bm,
// or, when neg, the live ordinals of the window that are not in bm. bm is always a subset of
// the window's live ordinals (every bitmap of the index holds live SKUs only), so `not` flips
// neg and copies nothing, `and` subtracts negated parts from the others (or unites them when
// all are negated), `or` intersects them, and the live universe is copied at most once, at the
// end (materialize).
type set struct {
	bm    *roaring64.Bitmap
	owned bool // bm is the evaluation's own; otherwise the index's, read only
	neg   bool
}

func everything() set { return set{bm: roaring64.New(), owned: true, neg: true} }
func nothing() set    { return set{bm: roaring64.New(), owned: true} }

// materialize returns s's ordinals as a bitmap of the caller's own.
func (ev *evaluator) materialize(s set, within *roaring64.Bitmap) *roaring64.Bitmap {
	switch {
	case s.neg && within == nil:
		return roaring64.AndNot(ev.ix.live, s.bm)
	case s.neg:
		out := roaring64.And(within, ev.ix.live)
		out.AndNot(s.bm)
		return out
	case !s.owned:
		return s.bm.Clone()
	}
	return s.bm
}

// eval returns e's set within the window (nil: every ordinal).
func (ev *evaluator) eval(e *Expr, within *roaring64.Bitmap) (set, error) {
	if err := ev.term(); err != nil {
		return set{}, err
	}
	ix := ev.ix
	switch e.Op {
	case OpAll:
		return everything(), nil
	case OpTag:
		if ty, ok := TypeOfTag(e.Name); ok {
			return ev.evalAttr(&Expr{Op: OpAttr, Field: "product_type", Values: []string{ty}}, within)
		}
		t, ok := ix.tags[strings.ToLower(e.Name)]
		if !ok {
			return set{}, fmt.Errorf("%w %q", ErrUnknownTag, e.Name)
		}
		return restrict(t.members, within), nil
	case OpAttr:
		return ev.evalAttr(e, within)
	case OpRange:
		_, f, err := lookupField(e.Field)
		if err != nil {
			return set{}, err
		}
		return set{bm: ix.nums[f].rangeWithin(e.Lo, e.Hi, within), owned: true}, nil
	case OpNot:
		s, err := ev.eval(&e.Args[0], within)
		s.neg = !s.neg
		return s, err
	case OpOr:
		return ev.evalOr(e, within)
	case OpAnd:
		return ev.evalAnd(e, within)
	}
	return set{}, fmt.Errorf("unknown operator %q", e.Op)
}

func restrict(bm, within *roaring64.Bitmap) set {
	if within == nil {
		return set{bm: bm}
	}
	return set{bm: roaring64.And(bm, within), owned: true}
}
