package selection

import (
	"context"
	"strings"
	"sync"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// shared gives the concurrent askers of one key one computation: the first computes, under
// its own context, and the others with that key wait for it (and only they). A failed
// computation is not kept: an asker that waited on one computes the answer itself when retry
// says the failure may be the first asker's own (its budget ran out) and its own context is
// alive. A pass shares its change reads by position (Service.changesAt) and, within a change
// set, the answers of its checks by key (changeSet.among).
type shared[V any] struct {
	mu    sync.Mutex
	calls map[string]*sharedCall[V]
}

// sharedCall is one key's computation: done closes when val or err is set.
type sharedCall[V any] struct {
	done chan struct{}
	val  V
	err  error
}

func (s *shared[V]) do(ctx context.Context, key string, compute func() (V, error), retry func(error) bool) (V, error) {
	var zero V
	for {
		s.mu.Lock()
		if s.calls == nil {
			s.calls = map[string]*sharedCall[V]{}
		}
		c, ok := s.calls[key]
		if !ok {
			c = &sharedCall[V]{done: make(chan struct{})}
			s.calls[key] = c
		}
		s.mu.Unlock()
		if !ok {
			c.val, c.err = compute()
			if c.err != nil {
				s.mu.Lock()
				delete(s.calls, key)
				s.mu.Unlock()
			}
			close(c.done)
			return c.val, c.err
		}
		select {
		case <-c.done:
		case <-ctx.Done():
			return zero, ctx.Err()
		}
		if c.err == nil {
			return c.val, nil
		}
		if err := ctx.Err(); err != nil {
			return zero, err
		}
		if !retry(c.err) {
			return zero, c.err
		}
	}
}

// among returns the SKUs of set (a subset of cs.all, nil: all of them) that answer key, as
// compute finds them among every changed SKU; a new bitmap the caller may change.
//
// What a pass's checks ask of the SKUs of one change set (which of them a filter passes, are
// of an intent's types, hold a query as a complete hit or every word of a phrase) is a test of
// one SKU at a time, so the answer for a subset is the subset's share of the answer for every
// changed SKU; pools share filters, types and queries (6,000 pools made from a few dozen briefs
// hold about 150 distinct ones), so each is computed once per change set, by the first pool
// that asks, instead of once per pool. A failed computation (the first asker's budget ran out)
// is computed again by a pool that waited on it.
//
// The indexes may move on during a pass (a stream's later events); an answer read at any time
// after the pass's position is as good as a read at the pool's own turn: a change after the
// position is the next pass's, whichever state this one read.
func (cs *changeSet) among(ctx context.Context, key string, set *roaring64.Bitmap, compute func(ctx context.Context, all *roaring64.Bitmap) (*roaring64.Bitmap, error)) (*roaring64.Bitmap, error) {
	if set == nil {
		set = cs.all
	}
	if set.IsEmpty() {
		return roaring64.New(), nil
	}
	all, err := cs.memo.do(ctx, key, func() (*roaring64.Bitmap, error) { return compute(ctx, cs.all) },
		func(error) bool { return true })
	if err != nil {
		return nil, err
	}
	return roaring64.And(all, set), nil
}

// passingAmong is the changed SKUs of set (nil: all) the plan's filter passes now: every live
// one without a filter.
func (cs *changeSet) passingAmong(ctx context.Context, s *Service, plan Plan, set *roaring64.Bitmap) (*roaring64.Bitmap, error) {
	key := "passing\x00"
	if plan.Filter != nil {
		key += plan.Filter.String()
	}
	return cs.among(ctx, key, set, func(ctx context.Context, all *roaring64.Bitmap) (*roaring64.Bitmap, error) {
		return s.passingAmong(ctx, plan, all)
	})
}

// typesAmong is the changed SKUs of set of the intent's types (Executor.typesWithin).
func (cs *changeSet) typesAmong(ctx context.Context, e *Executor, it *Intent, set *roaring64.Bitmap) (*roaring64.Bitmap, error) {
	var key strings.Builder
	key.WriteString("types")
	for _, t := range it.Types {
		key.WriteString("\x00" + t.Name + "\x01" + strings.Join(t.Mentions, "\x01"))
	}
	return cs.among(ctx, key.String(), set, func(ctx context.Context, all *roaring64.Bitmap) (*roaring64.Bitmap, error) {
		return e.typesWithin(ctx, it, all, &Result{})
	})
}

// completeAmong is the changed SKUs of set that are complete hits of query (CoverRetriever).
func (cs *changeSet) completeAmong(ctx context.Context, cr CoverRetriever, query string, set *roaring64.Bitmap) (*roaring64.Bitmap, error) {
	return cs.among(ctx, "complete\x00"+query, set, func(_ context.Context, all *roaring64.Bitmap) (*roaring64.Bitmap, error) {
		return cr.CompleteAmong(query, all), nil
	})
}

// holdingAllAmong is the changed SKUs of set whose text holds every word of phrase
// (Service.holdingAllAmong).
func (cs *changeSet) holdingAllAmong(ctx context.Context, s *Service, phrase string, set *roaring64.Bitmap) (*roaring64.Bitmap, error) {
	return cs.among(ctx, "holding\x00"+phrase, set, func(_ context.Context, all *roaring64.Bitmap) (*roaring64.Bitmap, error) {
		return s.holdingAllAmong(phrase, all), nil
	})
}
