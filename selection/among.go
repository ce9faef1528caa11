package selection

import (
	"context"
	"strings"
	"sync"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
)

// amongChanged keeps what a pass's checks ask of the SKUs of one change set: which of them a
// filter passes, are of an intent's types, hold a query as a complete hit or every word of a
// phrase. Each answer is a test of one SKU at a time, so the answer for a subset is the
// subset's share of the answer for every changed SKU; pools share filters, types and queries
// (6,000 pools made from a few dozen briefs hold about 150 distinct ones), so each is
// computed once per change set, by the first pool that asks, instead of once per pool.
//
// The indexes may move on during a pass (a stream's later events); an answer read at any time
// after the pass's position is as good as a read at the pool's own turn: a change after the
// position is the next pass's, whichever state this one read.
type amongChanged struct {
	mu sync.Mutex
	m  map[string]*amongEntry
}

// amongEntry is one key's answer: done closes when set or err is.
type amongEntry struct {
	done chan struct{}
	set  *roaring64.Bitmap
	err  error
}

// among returns the SKUs of set (a subset of cs.all, nil: all of them) that answer key, as
// compute finds them among every changed SKU; a new bitmap the caller may change. A failed
// compute is not kept: a pool waiting on it computes the answer itself under its own context
// (the first asker's may have run out of its budget).
func (cs *changeSet) among(ctx context.Context, key string, set *roaring64.Bitmap, compute func(ctx context.Context, all *roaring64.Bitmap) (*roaring64.Bitmap, error)) (*roaring64.Bitmap, error) {
	if set == nil {
		set = cs.all
	}
	if set.IsEmpty() {
		return roaring64.New(), nil
	}
	m := &cs.memo
	for {
		m.mu.Lock()
		if m.m == nil {
			m.m = map[string]*amongEntry{}
		}
		e, ok := m.m[key]
		if !ok {
			e = &amongEntry{done: make(chan struct{})}
			m.m[key] = e
		}
		m.mu.Unlock()
		if !ok {
			e.set, e.err = compute(ctx, cs.all)
			if e.err != nil {
				m.mu.Lock()
				delete(m.m, key)
				m.mu.Unlock()
			}
			close(e.done)
			if e.err != nil {
				return nil, e.err
			}
			return roaring64.And(e.set, set), nil
		}
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err == nil {
			return roaring64.And(e.set, set), nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
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
