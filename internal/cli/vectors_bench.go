package cli

import (
	"context"
	"strconv"
	"strings"

	"selection/internal/bench/vectorbench"
)

func init() {
	registerBench(&command{name: "vectors",
		usage:   "bench vectors [--skus N] [--queries 48] [--k 10] [--sel 0.0001,0.001,...,1] [--pg]",
		summary: "vector search paths (in-memory exact and quantised, pgvector exact and HNSW) by candidate-set size: latency, recall, thresholds",
		run:     runBenchVectors})
}

func runBenchVectors(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench vectors")
	var cfg vectorbench.Config
	fs.IntVar(&cfg.SKUs, "skus", 0, "index size; more than the stored vectors builds a synthetic in-memory index (stored vectors + noise)")
	fs.IntVar(&cfg.Queries, "queries", 48, "queries per row")
	fs.IntVar(&cfg.K, "k", 10, "results per query")
	sel := fs.String("sel", "0.0001,0.001,0.01,0.05,0.1,0.25,0.5,1", "filter selectivities (shares of the index; 1 = no filter)")
	fs.BoolVar(&cfg.PG, "pg", true, "also bench pgvector exact and HNSW (stored vectors only)")
	fs.Float64Var(&cfg.Noise, "noise", 0.01, "per-dimension noise of synthetic vectors")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, s := range strings.Split(*sel, ",") {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || f <= 0 || f > 1 {
			return usageErr("--sel: %q is not a share in (0, 1]", s)
		}
		cfg.Selectivities = append(cfg.Selectivities, f)
	}
	pool, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	cfg.Index = vectorIndexConfig(env)
	cfg.Index.MaxBytes = 0 // the bench decides its own size
	cfg.Planner = plannerConfig(env)
	_, err = vectorbench.Run(ctx, pool, env.Stdout, cfg)
	return err
}
