package lexical

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"
)

// The memo answers exactly what a search would: for fewer hits than it kept, for the same
// candidates only (not another set of the same size), not after the index changed, and its
// answers are the caller's to modify.
func TestSearchMemoAnswersAsASearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	words := []string{"laser", "printer", "toner", "black", "colour", "wireless", "mouse", "office", "cartridge", "paper"}
	const n = 30_000
	ix := newIndex(t, randomDocs(rng, words, n, 3, 5, true)...)
	ctx := context.Background()
	fresh := func(q string, k int, cand *roaring64.Bitmap) Result {
		ix.memoOff = true
		defer func() { ix.memoOff = false }()
		r, err := ix.Search(ctx, q, k, cand)
		require.NoError(t, err)
		return r
	}
	market := roaring64.New()
	for o := range uint64(n) {
		if rng.IntN(5) < 2 {
			market.Add(o)
		}
	}
	other := market.Clone() // the same size, one member swapped
	first, _ := other.Select(0)
	other.Remove(first)
	for o := range uint64(n) {
		if !other.Contains(o) && o != first {
			other.Add(o)
			break
		}
	}
	require.Equal(t, market.GetCardinality(), other.GetCardinality())

	check := func(q string, k int, cand *roaring64.Bitmap) {
		t.Helper()
		got, err := ix.Search(ctx, q, k, cand)
		require.NoError(t, err)
		require.Equal(t, fresh(q, k, cand), got, "%q k=%d", q, k)
		if len(got.Hits) > 0 {
			got.Hits[0].Score = -1 // the caller's copy
		}
	}
	for _, q := range []string{"laser printer", "toner cartridge black", "printer laser"} {
		for _, cand := range []*roaring64.Bitmap{nil, market, other} {
			for _, k := range []int{1000, 10, 1000, 50, 3000, 20, 5000} {
				check(q, k, cand)
			}
		}
	}
	require.Greater(t, ix.memo.Hits(), uint64(20), "the memo answered the repeats")

	// What changes nothing keeps it (a follower's empty poll); a change: the memo answers
	// nothing from before it.
	require.NoError(t, ix.Upsert())
	require.Zero(t, ix.Delete(n+7))
	hits := ix.memo.Hits()
	check("laser printer", 1000, market)
	require.Equal(t, hits+1, ix.memo.Hits())
	hits++
	require.NoError(t, ix.Upsert(mkdoc(n+1, n, "laser printer laser printer laser printer", "", "laser printer")))
	market.Add(n)
	got, err := ix.Search(ctx, "laser printer", 10, market)
	require.NoError(t, err)
	require.Equal(t, int64(n+1), got.Hits[0].SKUID)
	require.Equal(t, hits, ix.memo.Hits())
	check("laser printer", 5, market)
	require.Equal(t, hits+1, ix.memo.Hits())
	ix.Delete(n + 1)
	check("laser printer", 5, market)
	require.Equal(t, hits+1, ix.memo.Hits())

	// Bounded: more sets than it keeps evict the least recently used.
	for i := range memoEntries + 10 {
		set := roaring64.New()
		set.AddRange(uint64(i), uint64(n))
		check("laser printer", 10, set)
	}
	require.Equal(t, memoEntries, ix.memo.Len())
}

// HoldingAll answers from the whole index's kept answer exactly what walking the postings within
// the set gives, and nothing from before a change.
func TestHoldingAllKeptAnswersAsAWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	words := []string{"laser", "printer", "toner", "black", "colour", "wireless"}
	const n = 20_000
	ix := newIndex(t, randomDocs(rng, words, n, 2, 4, false)...)
	walk := func(q string, within *roaring64.Bitmap) *roaring64.Bitmap {
		ix.memoOff = true
		defer func() { ix.memoOff = false }()
		return ix.HoldingAll(q, within)
	}
	sets := []*roaring64.Bitmap{nil, roaring64.New(), roaring64.New()}
	for o := range uint64(n) {
		if rng.IntN(3) == 0 {
			sets[1].Add(o)
		}
		if rng.IntN(50) == 0 {
			sets[2].Add(o)
		}
	}
	for range 2 {
		for _, q := range []string{"laser printer", "printer laser", "black toner colour", "wireless"} {
			for _, within := range sets {
				want := walk(q, within)
				require.False(t, want.IsEmpty())
				got := ix.HoldingAll(q, within)
				require.True(t, want.Equals(got), "%q", q)
				got.Add(n + 5) // the caller's own bitmap
			}
		}
	}
	hits := ix.holding.Hits()
	require.Greater(t, hits, uint64(10), "kept answers were used")

	require.NoError(t, ix.Upsert(mkdoc(n+1, n, "laser printer", "", "")))
	got := ix.HoldingAll("laser printer", nil)
	require.True(t, got.Contains(n))
	require.True(t, walk("laser printer", nil).Equals(got))
	require.Equal(t, hits, ix.holding.Hits(), "nothing from before the change")
}

// randomDocs is n documents (SKU i+1 at ordinal i) titled with least+rng.IntN(more) words drawn
// from words, with a one-word description when desc.
func randomDocs(rng *rand.Rand, words []string, n, least, more int, desc bool) []Document {
	docs := make([]Document, n)
	for i := range docs {
		title := ""
		for range least + rng.IntN(more) {
			title += words[rng.IntN(len(words))] + " "
		}
		d := ""
		if desc {
			d = words[rng.IntN(len(words))]
		}
		docs[i] = mkdoc(int64(i+1), int64(i), title, "", d)
	}
	return docs
}
