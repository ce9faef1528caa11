package cli

import (
	"context"
	"fmt"
	"time"

	"selection/vectorindex"
)

func init() {
	register(&command{name: "vectors", usage: "vectors status",
		summary: "load the in-memory vector index and report vectors, load time, memory and the embedding backlog",
		run:     runVectors})
}

func runVectors(ctx context.Context, env *Env, args []string) error {
	if len(args) != 1 || args[0] != "status" {
		return usageErr("want: vectors status")
	}
	pool, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	n, err := vectorindex.NewStore(pool).Count(ctx)
	if err != nil {
		return err
	}
	b, err := vectorindex.QueueBacklog(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "sku_vectors: %d rows; embedding backlog: %d SKUs, oldest %s\n", n, b.Count, b.OldestAge.Round(time.Second))
	p, stop, err := startVectorSearch(ctx, env, pool)
	if err != nil {
		return err
	}
	defer stop(context.WithoutCancel(ctx))
	if ix := p.Index(); ix != nil {
		st := ix.Stats()
		fmt.Fprintf(env.Stdout, "in-memory index: %d vectors, %d MiB, loaded in %s, kernel %s\n",
			st.Vectors, st.Bytes>>20, st.LoadTime.Round(time.Millisecond), st.Kernel)
	} else {
		fmt.Fprintln(env.Stdout, "in-memory index: not loaded (SELECTION_VECTOR_MEMORY); searches go through pgvector")
	}
	cfg := p.Config()
	fmt.Fprintf(env.Stdout, "planner: pgvector exact up to %d candidates without the index, HNSW ef_search %d (%s)\n",
		cfg.PGExactMax, cfg.EfSearch, cfg.IterativeScan)
	return nil
}
