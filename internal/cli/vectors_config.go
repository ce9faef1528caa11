package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/embed"
	"selection/embed/pgcache"
	"selection/evals"
	"selection/internal/core"
	"selection/search"
	"selection/selection"
	"selection/tagger"
	"selection/vectorindex"
)

// vectorIndexConfig is the in-memory index configuration from the settings.
func vectorIndexConfig(env *Env) vectorindex.IndexConfig {
	v := env.Config.Vectors
	return vectorindex.IndexConfig{MaxBytes: max(v.Memory, 0), PollInterval: v.Poll, QuantizedMin: v.QuantizedMin,
		ListsFrom: v.ListsFrom, Kernel: env.Config.Kernel, Logger: env.Log}
}

// plannerConfig is the search planner configuration from the settings.
func plannerConfig(env *Env) vectorindex.PlannerConfig {
	v := env.Config.Vectors
	return vectorindex.PlannerConfig{EfSearch: v.EfSearch, PGExactMax: v.PGExactMax, Logger: env.Log}
}

// coreConfig is the service core's configuration from the settings: the pollers run and the
// embedding worker embeds what ingest changes, as in serve.
func coreConfig(env *Env, llm *selection.LLMPlanner) (core.Config, error) {
	c := env.Config
	aliases, err := judgedAliases(env)
	if err != nil {
		return core.Config{}, err
	}
	return core.Config{Index: vectorIndexConfig(env), NoIndex: c.Vectors.Memory <= 0, Planner: plannerConfig(env),
		ServiceIntents: c.Serve.Intents == "on", Aliases: aliases, Currency: c.Serve.Currency, LLM: llm,
		Follow: true, EmbedBatch: c.Vectors.EmbedBatch, Logger: env.Log, EventsKeptFor: c.Serve.EventRetention.EventsFor,
		RefreshWorkers: c.Serve.RefreshWorkers, PoolBudget: c.Serve.PoolBudget, Approval: c.Serve.Approval == "on",
		CollectAfterPass: c.Serve.RefreshCollect == "on",
		Tags:             tagger.Config{JournalFor: c.Serve.JournalFor}}, nil
}

// judgedAliases reads the judged queries SELECTION_JUDGED_QUERIES names ("": the demo data's
// judgments.csv when there is one; "off": none) and learns the words they use for the
// catalogue's product types.
func judgedAliases(env *Env) (*search.Aliases, error) {
	path := env.Config.Serve.JudgedQueries
	if path == "off" {
		return nil, nil
	}
	if path == "" {
		path = filepath.Join(env.Config.Demo.Data, "judgments.csv")
		if _, err := os.Stat(path); err != nil {
			return nil, nil
		}
	}
	j, bad, err := evals.ReadJudgmentsFile(path)
	if err != nil {
		return nil, fmt.Errorf("SELECTION_JUDGED_QUERIES: %w", err)
	}
	a := search.NewAliases(j.Exact())
	env.Log.Info("judged queries read", "path", path, "queries", len(j.Queries), "head_words", a.Len(), "bad_rows", len(bad))
	return a, nil
}

// newEmbedder builds the configured embedder, behind the Postgres embedding cache when
// SELECTION_EMBED_CACHE is on, and checks that sku_vectors takes its dimension.
func newEmbedder(ctx context.Context, env *Env, pool *pgxpool.Pool) (embed.Embedder, error) {
	e, err := embed.New(ctx, embedConfig(env))
	if err != nil {
		return nil, err
	}
	if k := embed.Kernel(e); k != "" {
		env.Log.Info("embedding model loaded", "model", e.Name(), "kernel", k)
	}
	if err := vectorindex.CheckDimension(ctx, pool, e.Dimension()); err != nil {
		return nil, err
	}
	if env.Config.Vectors.EmbedCache == "on" {
		e = embed.NewCached(e, pgcache.New(pool))
	}
	return e, nil
}

// startVectorSearch loads the in-memory vector index (unless SELECTION_VECTOR_MEMORY is 0 or
// the vectors do not fit, which is logged) and returns the planner over it and pgvector. The
// index polls for new vectors until stop is called. serve and demo use it.
func startVectorSearch(ctx context.Context, env *Env, pool *pgxpool.Pool) (*vectorindex.Planner, func(context.Context) error, error) {
	var ix *vectorindex.Index
	stop := func(context.Context) error { return nil }
	if env.Config.Vectors.Memory > 0 {
		var err error
		if ix, err = vectorindex.NewIndex(pool, vectorIndexConfig(env)); err != nil {
			return nil, nil, err
		}
		start := time.Now()
		switch err := ix.Start(ctx); {
		case err == nil:
			env.Log.Info("vector index loaded", "vectors", ix.Len(), "took", time.Since(start).Round(time.Millisecond), "kernel", ix.Kernel())
			stop = ix.Stop
		case errorsIs(err, vectorindex.ErrTooLarge):
			env.Log.Warn("vector index not loaded; searching through pgvector", "reason", err)
			ix = nil
		default:
			return nil, nil, err
		}
	}
	p, err := vectorindex.NewPlanner(pool, ix, plannerConfig(env))
	if err != nil {
		_ = stop(ctx)
		return nil, nil, err
	}
	return p, stop, nil
}
