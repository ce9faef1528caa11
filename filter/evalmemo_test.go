package filter

import (
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"
)

// The kept whole-catalogue answers, brought up to date from the ordinals written since, are
// what a fresh evaluation gives after every kind of write: rows changed, added and deleted, tag
// members added and removed, a tag replaced or dropped, the contents replaced.
func TestEvalMemoAnswersAsAFreshEvaluation(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ix := NewIndex()
	rows := testRows(rng, 3000)
	ix.Upsert(rows)
	info := TagInfo{ID: 1, Name: "gaming"}
	ix.SetTag(info, roaring64.BitmapOf(1, 2, 3, 50, 700), nil)
	exprs := []Expr{
		All(),
		Attr("brand", "logitech"),
		And(Attr("market", "SG"), AtMost("price", 4000)),
		Not(Attr("in_stock", "true")),
		Or(Tag("gaming"), Range("rating", 100, 300)),
		And(Not(Tag("gaming")), Attr("product_type", "type2")),
	}
	fresh := func(e Expr) *roaring64.Bitmap {
		got, err := ix.EvalWithin(e, ix.Live()) // within: no memo
		require.NoError(t, err)
		return got
	}
	check := func(step int) {
		t.Helper()
		for _, e := range exprs {
			got, err := ix.Eval(e)
			if err != nil {
				require.ErrorIs(t, err, ErrUnknownTag, "step %d, %s", step, e)
				continue
			}
			require.True(t, fresh(e).Equals(got), "step %d, %s: %d kept against %d fresh", step, e, got.GetCardinality(), fresh(e).GetCardinality())
			got.Add(1 << 40) // the caller's own: the kept answer does not change
		}
	}
	check(0)
	patched := 0
	for step := 1; step <= 300; step++ {
		switch k := rng.IntN(20); {
		case k < 12: // a few rows change (a stream's batch), some deleted, some new
			batch := testRows(rng, 1+rng.IntN(6))
			for i := range batch {
				batch[i].Ordinal = int64(rng.IntN(3100))
			}
			ix.Upsert(batch)
		case k < 16:
			var add, remove []uint64
			for range 3 {
				add = append(add, uint64(rng.IntN(3000)))
			}
			if ix.HasTag("gaming") {
				if members := ix.tags["gaming"].members.ToArray(); len(members) > 0 {
					remove = append(remove, members[rng.IntN(len(members))])
				}
				require.NoError(t, ix.SetTagBits("gaming", add, remove, nil))
			}
		case k == 16:
			ix.SetTag(info, roaring64.BitmapOf(uint64(rng.IntN(3000)), uint64(rng.IntN(3000))), nil)
		case k == 17:
			ix.DropTag("gaming")
		case k == 18:
			ix.EnsureTag(info)
		default:
			o := NewIndex()
			o.Upsert(testRows(rng, 3000))
			o.SetTag(info, roaring64.BitmapOf(9, 10), nil)
			ix.Replace(o)
		}
		if rng.IntN(3) > 0 {
			before := ix.memo.entries[exprs[2].String()]
			check(step)
			if after := ix.memo.entries[exprs[2].String()]; before != nil && after != before && before.version >= ix.touched.floor {
				patched++
			}
		}
	}
	require.Greater(t, patched, 50, "most answers were brought up to date, not evaluated afresh")

	// A write touching more than an eighth of the SKUs: evaluated afresh, the same answer.
	big := testRows(rng, 1000)
	ix.Upsert(big)
	check(-1)
}

// The memo keeps at most evalKept answers, the least recently used going first.
func TestEvalMemoIsBounded(t *testing.T) {
	ix := NewIndex()
	ix.Upsert(testRows(rand.New(rand.NewPCG(1, 2)), 500))
	for i := range evalKept + 40 {
		_, err := ix.Eval(AtMost("price", int64(i)))
		require.NoError(t, err)
		if i%10 == 0 {
			_, err := ix.Eval(AtMost("price", 0)) // used again and again: kept
			require.NoError(t, err)
		}
	}
	require.Len(t, ix.memo.entries, evalKept)
	require.Contains(t, ix.memo.entries, AtMost("price", 0).String())
	require.NotContains(t, ix.memo.entries, AtMost("price", 1).String())
}

// The log of touched ordinals holds what the kept answers need: with none kept it stays under
// touchedTrimFrom; an answer kept at an older version keeps the writes since it; once more
// writes followed it than it could be brought up to date from, it is dropped, with them.
func TestTouchLogHoldsWhatKeptAnswersNeed(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ix := NewIndex()
	ix.Upsert(testRows(rng, 3000))
	write := func() {
		batch := testRows(rng, 2)
		for i := range batch {
			batch[i].Ordinal = int64(rng.IntN(3000))
		}
		ix.Upsert(batch)
	}
	same := func(e Expr) {
		t.Helper()
		got, err := ix.Eval(e)
		require.NoError(t, err)
		want, err := ix.EvalWithin(e, ix.Live())
		require.NoError(t, err)
		require.True(t, want.Equals(got), "%s", e)
	}
	for range 10000 {
		write()
	}
	require.Less(t, len(ix.touched.ords), touchedTrimFrom, "no answer kept: nothing needed")

	hot, old := AtMost("price", 4000), Attr("brand", "logitech")
	same(old) // kept now, not asked again for a while
	v0 := ix.version
	for i := range 3000 { // 6,000 touches: the log doubles past touchedTrimFrom once
		write()
		if i%50 == 0 {
			same(hot)
		}
	}
	require.Contains(t, ix.memo.entries, old.String())
	touched, ok := ix.touched.since(v0)
	require.True(t, ok, "the old answer's writes are kept")
	require.Positive(t, touched.GetCardinality())
	require.Greater(t, len(ix.touched.ords), touchedTrimFrom)

	for i := range 30000 {
		write()
		if i%50 == 0 {
			same(hot)
		}
	}
	require.NotContains(t, ix.memo.entries, old.String(), "more writes since it than it could be patched from")
	require.Contains(t, ix.memo.entries, hot.String())
	require.Less(t, len(ix.touched.ords), 2*touchedTrimFrom, "only the hot answer's writes")
	require.Greater(t, ix.touched.floor, v0)
	same(old)
	same(hot)
}
