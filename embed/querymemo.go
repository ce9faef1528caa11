package embed

import (
	"context"
	"sync"
)

// QueryMemo is an Embedder that remembers its queries' vectors by exact text (EmbedQuery
// only; documents pass through): the evaluation embeds each query once however many
// configurations it scores, and search keeps the vectors of recent queries across requests.
// Up to a bound, when set: when full, an arbitrary one makes room. The vectors it returns are
// shared; callers must not modify them. It is safe for concurrent use.
type QueryMemo struct {
	Embedder
	max int
	mu  sync.Mutex
	m   map[string][]float32
}

// NewQueryMemo wraps e, keeping at most max vectors (0: every one).
func NewQueryMemo(e Embedder, max int) *QueryMemo {
	return &QueryMemo{Embedder: e, max: max, m: map[string][]float32{}}
}

// EmbedQuery returns the remembered vector of text, embedding it the first time.
func (q *QueryMemo) EmbedQuery(ctx context.Context, text string) ([]float32, error) {
	q.mu.Lock()
	v, ok := q.m[text]
	q.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := q.Embedder.EmbedQuery(ctx, text)
	if err != nil {
		return nil, err
	}
	q.mu.Lock()
	if q.max > 0 && len(q.m) >= q.max {
		for k := range q.m {
			delete(q.m, k)
			break
		}
	}
	q.m[text] = v
	q.mu.Unlock()
	return v, nil
}

// Len is how many vectors it keeps.
func (q *QueryMemo) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.m)
}
