package search_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"

	"selection/embed"
	"selection/internal/memo"
	"selection/lexical"
	"selection/search"
)

// counting passes every call to the real embedder and counts the queries.
type counting struct {
	embed.Embedder
	n atomic.Int32
}

func (c *counting) EmbedQuery(ctx context.Context, text string) ([]float32, error) {
	c.n.Add(1)
	return c.Embedder.EmbedQuery(ctx, text)
}

// Under a query memo, one request embeds a query once, however often it searches with it
// (texts differing only in commas and spaces are one query); across requests the Searcher keeps
// the vectors of exact texts.
func TestQueryMemoEmbedsOncePerRequest(t *testing.T) {
	e, _ := embedder(t)
	c := &counting{Embedder: e}
	lex, vix := newIndexes(t)
	eng, err := search.New(lex, vix, c, search.Config{})
	require.NoError(t, err)
	var all *roaring64.Bitmap
	ctx := search.WithQueryMemo(context.Background())
	for _, q := range []string{"laser printer", "laser,  printer", "laser printer"} {
		_, err := eng.Search(ctx, search.Request{Text: q, Candidates: all, K: 5})
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, c.n.Load())
	_, err = eng.Search(ctx, search.Request{Text: "calculator", K: 5})
	require.NoError(t, err)
	require.EqualValues(t, 2, c.n.Load())
	_, err = eng.Search(context.Background(), search.Request{Text: "calculator", K: 5})
	require.NoError(t, err)
	require.EqualValues(t, 2, c.n.Load(), "another request, the same text: the kept vector")
	_, err = eng.Search(context.Background(), search.Request{Text: "calculator,", K: 5})
	require.NoError(t, err)
	require.EqualValues(t, 3, c.n.Load(), "without a memo only the exact text is kept")
}

// The hybrid's stages kept for the indexes' generations answer as a search would (a fresh
// Searcher over the same indexes), for the same query, depth and candidates only, and nothing
// from before a change to either index.
func TestHybridStagesKeptAnswerAsASearch(t *testing.T) {
	e, vs := embedder(t)
	lex, vix := newIndexes(t)
	eng, err := search.New(lex, vix, e, search.Config{})
	require.NoError(t, err)
	ctx := context.Background()
	fresh := func(req search.Request) search.Result {
		t.Helper()
		f, err := search.New(lex, vix, e, search.Config{})
		require.NoError(t, err)
		r, err := f.Search(ctx, req)
		require.NoError(t, err)
		return r
	}
	evens, odds := roaring64.New(), roaring64.New()
	for i := range len(products) {
		if i%2 == 0 {
			evens.Add(uint64(i))
		} else {
			odds.Add(uint64(i))
		}
	}
	reqs := []search.Request{
		{Text: "gaming mouse", K: 5}, {Text: "gaming mouse", K: 2}, {Text: "gaming mouse", K: 5, Candidates: evens},
		{Text: "gaming mouse", K: 5, Candidates: odds}, {Text: "laptop bag", K: 10}, {Text: "usb drive", K: 3, Candidates: odds},
	}
	check := func() {
		t.Helper()
		for _, r := range reqs {
			got, err := eng.Search(ctx, r)
			require.NoError(t, err)
			require.Equal(t, fresh(r), got, "%+v", r)
		}
	}
	check()
	check()
	require.GreaterOrEqual(t, search.StagesKept(eng), uint64(len(reqs)), "the repeats were answered")

	// The Razer gaming mouse takes the speaker's vector: its similarity to the query drops.
	before, err := eng.Search(ctx, reqs[0])
	require.NoError(t, err)
	kept := search.StagesKept(eng)
	require.NoError(t, vix.Put(2, 1002, vs[17]))
	after, err := eng.Search(ctx, reqs[0])
	require.NoError(t, err)
	require.Equal(t, kept, search.StagesKept(eng), "nothing from before the change")
	require.Equal(t, ranked(fresh(reqs[0])), ranked(after))
	require.NotEqual(t, ranked(before), ranked(after))

	// A lexical change too.
	kept = search.StagesKept(eng)
	d := lexical.Document{SKUID: 1003, Ordinal: 3}
	d.Fields[lexical.FieldTitle] = "HyperX gaming mouse gaming mouse pad"
	require.NoError(t, lex.Upsert(d))
	after, err = eng.Search(ctx, reqs[0])
	require.NoError(t, err)
	require.Equal(t, kept, search.StagesKept(eng))
	require.Equal(t, ranked(fresh(reqs[0])), ranked(after))
}

// ranked is a result's SKUs and scores (a long-lived Searcher keeps each query's calibration
// for its sample, so the z-scores its explanations quote may differ from a fresh one's after a
// vector changes).
func ranked(r search.Result) []string {
	out := make([]string, len(r.Hits))
	for i, h := range r.Hits {
		out[i] = fmt.Sprintf("%d %.6f %.6f", h.SKUID, h.Score, h.Semantic)
	}
	return out
}

// Within a scope (a refresh pass), the stages a search computed answer every later search for
// the same query and candidates, whatever the indexes did meanwhile: the pass's position is
// reflected by every state after it. Without one, a search reads the indexes now.
func TestHybridStagesKeptForAScope(t *testing.T) {
	e, vs := embedder(t)
	lex, vix := newIndexes(t)
	eng, err := search.New(lex, vix, e, search.Config{})
	require.NoError(t, err)
	req := search.Request{Text: "gaming mouse", K: 5}
	pass := memo.WithScope(context.Background(), 8)
	before, err := eng.Search(pass, req)
	require.NoError(t, err)
	require.Equal(t, 1, memo.ScopeFrom(pass).Len())

	require.NoError(t, vix.Put(2, 1002, vs[17])) // the Razer gaming mouse takes the speaker's vector
	during, err := eng.Search(pass, req)
	require.NoError(t, err)
	require.Equal(t, ranked(before), ranked(during), "answered from the pass's scope")
	require.Equal(t, uint64(1), memo.ScopeFrom(pass).Hits())

	after, err := eng.Search(context.Background(), req)
	require.NoError(t, err)
	require.NotEqual(t, ranked(before), ranked(after), "outside the pass, the change shows")
	next := memo.WithScope(context.Background(), 8)
	got, err := eng.Search(next, req)
	require.NoError(t, err)
	require.Equal(t, ranked(after), ranked(got), "and in the next pass")

	// Other candidates are another search.
	evens := roaring64.BitmapOf(0, 2, 4, 6, 8, 10)
	_, err = eng.Search(pass, search.Request{Text: "gaming mouse", K: 5, Candidates: evens})
	require.NoError(t, err)
	require.Equal(t, 2, memo.ScopeFrom(pass).Len())
}
