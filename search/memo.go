package search

import (
	"context"
	"strings"
	"sync"
)

// A query memo carries query embeddings through one request: resolving a scenario's intent
// and ranking its pool embed the same words (3 ms each with USE-Lite), and the second finds
// the first's vector, even when the texts differ in spacing and commas. It lives as long as the
// request's context; the Searcher also keeps the vectors of exact texts across requests
// (Searcher.queries).
type queryMemo struct {
	mu sync.Mutex
	m  map[string][]float32
}

type memoKey struct{}

// WithQueryMemo returns a context that remembers the query embeddings made under it.
func WithQueryMemo(ctx context.Context) context.Context {
	if _, ok := ctx.Value(memoKey{}).(*queryMemo); ok {
		return ctx
	}
	return context.WithValue(ctx, memoKey{}, &queryMemo{m: map[string][]float32{}})
}

// embedQuery embeds text, through the context's memo when it has one. Texts that differ only
// in spacing and commas are one query, embedded as the first of them was written (USE-Lite
// reads the punctuation: embedding the normalised text moved nDCG@10 from 0.783 to 0.777).
func (e *Searcher) embedQuery(ctx context.Context, text string) ([]float32, error) {
	memo, _ := ctx.Value(memoKey{}).(*queryMemo)
	if memo == nil {
		return e.queries.EmbedQuery(ctx, text)
	}
	key := strings.Join(strings.FieldsFunc(text, func(r rune) bool { return r == ' ' || r == ',' }), " ")
	memo.mu.Lock()
	v, ok := memo.m[key]
	memo.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := e.queries.EmbedQuery(ctx, text)
	if err != nil {
		return nil, err
	}
	memo.mu.Lock()
	if len(memo.m) < 16 {
		memo.m[key] = v
	}
	memo.mu.Unlock()
	return v, nil
}

// queryVectorsKept is how many query vectors a Searcher keeps across requests (2 KiB each with
// USE-Lite): a refresh pass runs thousands of pools' plans over a few hundred distinct queries,
// and each embedding otherwise costs a model run or a round trip to the embedding cache. They are
// kept by exact text (the embedder is fixed for the Searcher's life) and shared: callers must not
// modify them.
const queryVectorsKept = 1024
