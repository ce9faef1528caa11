package lexical

import (
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"selection/internal/memo"
)

// The index keeps the results of recent costly searches for its current contents
// (internal/memo). A refresh pass runs thousands of pools' plans over a few hundred (query,
// candidate set) pairs: pools made from one brief differ in size, ranking and pins, not in
// what they search, and the first stage asks every one of them for the same depth. A result
// for k hits answers any search for at most k (the top k is a prefix of the top K: the order
// is total, by score then ordinal), and so does one that found fewer than it asked for.
//
// A result holds for the contents it was computed on: every Upsert or Delete that changes
// something moves the index's generation on, and the memo answers nothing from before it.

// memoEntries bounds the memo (each entry holds its candidate set and up to k hits: about
// 150 KB for a market's SKUs of a million at k = 1,000).
const memoEntries = 96

// memoMinPostings: a search walking fewer postings than this is cheaper than the memo's
// candidate comparison and copy, and is not kept.
const memoMinPostings = 20_000

// searchMemo is the index's memo: results by the query's analysed terms and candidates, with
// the k they were asked for.
type searchMemo = memo.Memo[uint64, memoResult]

type memoResult struct {
	k   int
	res Result
}

func newSearchMemo() *searchMemo { return memo.New[uint64, memoResult](memoEntries) }

func memoKey(terms []string) string { return strings.Join(terms, "\x00") }

// remembered returns a kept result for k hits among cand at generation gen, the caller's own
// copy.
func (ix *Index) remembered(gen uint64, key string, cand *roaring64.Bitmap, k int) (Result, bool) {
	if ix.memoOff {
		return Result{}, false
	}
	got, ok := ix.memo.Get(gen, key, cand, func(r memoResult) bool { return r.k >= k || len(r.res.Hits) < r.k })
	if !ok {
		return Result{}, false
	}
	res := got.res
	res.Hits = slices.Clone(got.res.Hits[:min(k, len(got.res.Hits))])
	res.Terms = slices.Clone(got.res.Terms)
	return res, true
}

// remember keeps res, the result for k hits among cand at generation gen.
func (ix *Index) remember(gen uint64, key string, cand *roaring64.Bitmap, k int, res Result) {
	if ix.memoOff {
		return
	}
	res.Hits, res.Terms = slices.Clone(res.Hits), slices.Clone(res.Terms)
	ix.memo.Put(gen, key, cand, memoResult{k: k, res: res})
}

// HoldingAll keeps its whole-index answers too, by the query's distinct terms: the refresher
// asks, for every pool of a brief that widens by its query, which SKUs the pool's filter passes
// hold every word (selection's takesAllHolding, rankTypesBy), and the filters differ while the
// words do not. An answer holds for the index's current contents, like a search's.
type holdingMemo = memo.Memo[uint64, *roaring64.Bitmap]

// holdingKept bounds the kept answers (a bitmap each: a few KB for a brief's words).
const holdingKept = 256

// holdingMemoFrom: with fewer documents than this in the rarest term's postings, walking them
// within the set costs less than a kept answer's intersection.
const holdingMemoFrom = 2_000

func newHoldingMemo() *holdingMemo { return memo.New[uint64, *roaring64.Bitmap](holdingKept) }

// holdingKey is the terms, distinct and sorted (their order does not change the answer).
func holdingKey(terms []string) string {
	t := slices.Clone(terms)
	slices.Sort(t)
	return strings.Join(slices.Compact(t), "\x00")
}
