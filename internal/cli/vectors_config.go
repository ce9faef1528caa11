package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/embed"
	"selection/embed/pgcache"
	"selection/vectorindex"
)

// vectorSettings are the vector index and embedding worker settings. Config's fields belong
// to config.go, so these live here and are filled by the same LoadConfig pass (each Main call
// sets them again).
var vectorSettings struct {
	EmbedBatch    int
	EmbedCache    bool
	IndexMemory   int64
	IndexPoll     time.Duration
	HNSWEfSearch  int
	PGExactMax    int
	QuantizedFrom int
}

func init() {
	settings = append(settings,
		setting{"SELECTION_EMBED_BATCH", "128", "SKUs the embedding worker takes per transaction",
			intSetting(1, 10000, func(v int) { vectorSettings.EmbedBatch = v })},
		setting{"SELECTION_EMBED_CACHE", "on", "on: look embeddings up in (and add them to) the Postgres embedding cache by text hash; off: always embed",
			func(_ *Config, v string) error {
				switch v {
				case "on", "off":
					vectorSettings.EmbedCache = v == "on"
					return nil
				}
				return fmt.Errorf("must be on or off")
			}},
		setting{"SELECTION_VECTOR_MEMORY", "8GiB", "memory the in-memory vector index may take (2.1 KiB per 512-d vector); 0 or a catalogue that does not fit: search through pgvector",
			func(_ *Config, v string) error {
				n, err := parseBytes(v)
				vectorSettings.IndexMemory = n
				return err
			}},
		setting{"SELECTION_VECTOR_POLL", "500ms", "how often the in-memory vector index polls sku_vectors for new vectors",
			func(_ *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err == nil && d <= 0 {
					err = fmt.Errorf("must be positive")
				}
				vectorSettings.IndexPoll = d
				return err
			}},
		setting{"SELECTION_HNSW_EF_SEARCH", "400", "pgvector hnsw.ef_search for HNSW searches (recall@10 0.99 on Icecat at 400)",
			intSetting(1, 1000, func(v int) { vectorSettings.HNSWEfSearch = v })},
		setting{"SELECTION_PG_EXACT_MAX", strconv.Itoa(vectorindex.DefaultPGExactMax), "without the in-memory index: candidate sets up to this size are ranked exactly by pgvector, larger ones through HNSW",
			intSetting(0, 1<<30, func(v int) { vectorSettings.PGExactMax = v })},
		setting{"SELECTION_VECTOR_QUANTIZED_MIN", strconv.Itoa(vectorindex.DefaultQuantizedMin), "in-memory index: candidate sets from this size use the 1-bit first pass with float32 rescoring instead of scoring every vector",
			intSetting(1, 1<<30, func(v int) { vectorSettings.QuantizedFrom = v })},
	)
}

func intSetting(lo, hi int, set func(int)) func(*Config, string) error {
	return func(_ *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("not a whole number")
		}
		if n < lo || n > hi {
			return fmt.Errorf("must be between %d and %d", lo, hi)
		}
		set(n)
		return nil
	}
}

// parseBytes reads sizes such as 0, 512MiB, 8GiB, 1.5GB or a plain byte count.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := 1.0
	num := strings.TrimSpace(s)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			mult, num = u.mult, strings.TrimSpace(strings.TrimSuffix(num, u.suffix))
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || !(f >= 0) || f*mult > 1<<62 {
		return 0, fmt.Errorf("%q is not a size such as 0, 512MiB or 8GiB", s)
	}
	return int64(f * mult), nil
}

// vectorIndexConfig is the in-memory index configuration from the settings.
func vectorIndexConfig(env *Env) vectorindex.IndexConfig {
	return vectorindex.IndexConfig{MaxBytes: vectorSettings.IndexMemory, PollInterval: vectorSettings.IndexPoll,
		QuantizedMin: vectorSettings.QuantizedFrom, Logger: env.Log}
}

// plannerConfig is the search planner configuration from the settings.
func plannerConfig(env *Env) vectorindex.PlannerConfig {
	return vectorindex.PlannerConfig{EfSearch: vectorSettings.HNSWEfSearch, PGExactMax: vectorSettings.PGExactMax, Logger: env.Log}
}

// newEmbedder builds the configured embedder, behind the Postgres embedding cache when
// SELECTION_EMBED_CACHE is on, and checks that sku_vectors takes its dimension.
func newEmbedder(ctx context.Context, env *Env, pool *pgxpool.Pool) (embed.Embedder, error) {
	e, err := embed.New(ctx, embedConfig(env))
	if err != nil {
		return nil, err
	}
	if err := vectorindex.CheckDimension(ctx, pool, e.Dimension()); err != nil {
		return nil, err
	}
	if vectorSettings.EmbedCache {
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
	if vectorSettings.IndexMemory > 0 {
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
