package search_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/stretchr/testify/require"

	"selection/embed"
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
