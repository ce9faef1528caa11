package evals

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/embed"
	"selection/internal/core"
	"selection/lexical"
	"selection/search"
	"selection/tagger"
	"selection/vectorindex"
)

// Stack is the retrieval stack the evaluation runs, built over a loaded catalogue.
type Stack struct {
	Lexical  *lexical.Index
	Vectors  *vectorindex.Index
	Embedder embed.Embedder
	Searcher *search.Searcher
	// Tags is the tag index the scenario path filters with; Scenario is that path.
	Tags     *tagger.Tagger
	Scenario *Scenario
	// Intents resolves the product types a query means; the scenario path uses it, as the
	// service does.
	Intents *search.Intents
}

// NewStack loads the lexical index, the in-memory vector index and the tag index from the
// catalogue in pool, and builds the search engine (with cfg) and the scenario path over them,
// with the service's own constructor (core.New), the indexes loaded once.
func NewStack(ctx context.Context, pool *pgxpool.Pool, emb embed.Embedder, cfg search.Config) (*Stack, error) {
	// Every untyped SKU is voted on at load, however slow the machine: figures must not
	// depend on it.
	c, err := core.New(ctx, pool, emb, core.Config{Search: cfg, Tags: tagger.Config{LoadVoteBudget: -1}})
	if err != nil {
		return nil, fmt.Errorf("evals: %w", err)
	}
	sc, err := NewScenario(c.Tags.Index(), c.Searcher)
	if err != nil {
		return nil, err
	}
	sc.Intents = c.Intents
	return &Stack{Lexical: c.Lexical, Vectors: c.Index, Embedder: emb, Searcher: c.Searcher, Tags: c.Tags, Scenario: sc,
		Intents: c.Intents}, nil
}

// SearchMethod evaluates one search method of eng.
func SearchMethod(eng *search.Searcher, m search.Method) Method {
	return Method{Name: string(m), Rank: func(ctx context.Context, query string, k int) (Ranked, error) {
		res, err := eng.Search(ctx, search.Request{Text: query, K: k, Method: m})
		if err != nil {
			return Ranked{}, err
		}
		r := Ranked{IDs: make([]int64, len(res.Hits)), Confidence: float64(res.Confidence)}
		for i, h := range res.Hits {
			r.IDs[i] = h.SKUID
		}
		return r, nil
	}}
}

// WithConfig returns an engine over the same indexes with another configuration.
func (s *Stack) WithConfig(cfg search.Config) (*search.Searcher, error) {
	return search.New(s.Lexical, s.Vectors, s.Embedder, cfg)
}
