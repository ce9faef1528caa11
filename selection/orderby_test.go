package selection

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"

	"selection/filter"
	"selection/internal/memo"
)

// Within a pass's scope, the pools that order one set by one field share one ordering: every
// k reads what filter.Index.TopK gives, a k beyond the ordering kept replaces it, and restOf
// (the best sellers less the hits) is the best sellers of the set without them.
func TestOrderBySharesAnOrderingInAScope(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	ix := filter.NewIndex()
	var rows []filter.Row
	for o := int64(0); o < 6000; o++ {
		r := filter.Row{Ordinal: o, ID: 1_000_000 + o, Live: true}
		r.Num[filter.NumSales7d] = int64(rng.IntN(40)) // many ties
		r.Num[filter.NumPrice] = int64(rng.IntN(100_000))
		rows = append(rows, r)
	}
	ix.Upsert(rows)
	e := &Executor{Index: ix}
	sets := []*roaring64.Bitmap{roaring64.New(), roaring64.New()}
	for o := uint64(0); o < 6000; o++ {
		sets[o%3/2].Add(o) // two thirds and a third
	}
	ctx := memo.WithScope(context.Background(), 16)
	scope := memo.ScopeFrom(ctx)
	for _, k := range []int{1, 50, 1999, 2000, 2001, 3500, 10, 5000} {
		for _, set := range sets {
			for _, field := range []string{"sales_7d", "price"} {
				for _, desc := range []bool{true, false} {
					wantO, wantV, err := ix.TopK(field, k, set, desc)
					require.NoError(t, err)
					gotO, gotV, err := e.orderBy(ctx, field, desc, k, set.Clone())
					require.NoError(t, err)
					require.Equal(t, wantO, gotO, "%s desc=%v k=%d", field, desc, k)
					require.Equal(t, wantV, gotV)
				}
			}
		}
	}
	require.Equal(t, 8, scope.Len(), "one ordering per set, field and direction")
	require.Positive(t, scope.Hits())

	// restOf skips the hits in the shared ordering as a fresh ordering without them would.
	hits := []Item{}
	for _, o := range rng.Perm(6000)[:700] {
		if sets[0].Contains(uint64(o)) {
			hits = append(hits, Item{Ordinal: int64(o)})
		}
	}
	rest := sets[0].Clone()
	for _, h := range hits {
		rest.Remove(uint64(h.Ordinal))
	}
	for _, n := range []int{1, 300, 2500} {
		want, _, err := ix.TopK("sales_7d", n, rest, true)
		require.NoError(t, err)
		got, err := e.restOf(ctx, sets[0], hits, n)
		require.NoError(t, err)
		require.Len(t, got, len(want))
		for i := range want {
			require.Equal(t, want[i], got[i].Ordinal, "n=%d at %d", n, i)
			require.Zero(t, got[i].Score)
		}
	}
}
