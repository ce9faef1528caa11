package evals

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/embed"
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
	Engine   *search.Engine
	// Tags is the tag index the scenario path filters with; Scenario is that path.
	Tags     *tagger.Tagger
	Scenario *Scenario
	// Intents resolves the product types a query means; the scenario path uses it, as the
	// service does.
	Intents *search.Intents
}

// NewStack loads the lexical index, the in-memory vector index and the tag index from the
// catalogue in pool, and builds the search engine (with cfg) and the scenario path over them.
func NewStack(ctx context.Context, pool *pgxpool.Pool, emb embed.Embedder, cfg search.Config) (*Stack, error) {
	lex, err := lexical.New(lexical.Config{})
	if err != nil {
		return nil, err
	}
	if _, err := lexical.NewStore(pool).Load(ctx, lex); err != nil {
		return nil, err
	}
	vix, err := vectorindex.NewIndex(pool, vectorindex.IndexConfig{Dim: emb.Dimension()})
	if err != nil {
		return nil, err
	}
	if err := vix.Load(ctx); err != nil {
		return nil, fmt.Errorf("evals: load vectors: %w", err)
	}
	eng, err := search.New(lex, vix, emb, cfg)
	if err != nil {
		return nil, err
	}
	tg, err := tagger.New(pool, vix, emb, tagger.Config{})
	if err != nil {
		return nil, err
	}
	if _, err := tg.Load(ctx); err != nil {
		return nil, fmt.Errorf("evals: load tag index: %w", err)
	}
	intents := search.NewIntents(eng, tg, search.IntentConfig{Widen: true})
	sc, err := NewScenario(tg.Index(), eng)
	if err != nil {
		return nil, err
	}
	sc.Intents = intents
	return &Stack{Lexical: lex, Vectors: vix, Embedder: emb, Engine: eng, Tags: tg, Scenario: sc, Intents: intents}, nil
}

// SearchMethod evaluates one search method of eng.
func SearchMethod(eng *search.Engine, m search.Method) Method {
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
func (s *Stack) WithConfig(cfg search.Config) (*search.Engine, error) {
	return search.New(s.Lexical, s.Vectors, s.Embedder, cfg)
}
