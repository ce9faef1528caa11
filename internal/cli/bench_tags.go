package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"selection/internal/bench/tagbench"
	"selection/internal/cpukernel"
	"selection/internal/pg"
)

// benchSubs are the `selection bench` subcommands; other files add theirs with registerBench.
var benchSubs = map[string]*command{}

func registerBench(c *command) { benchSubs[c.name] = c }

func init() {
	register(&command{name: "bench", usage: "bench <tags|...> [flags]",
		summary: "run a benchmark and print its table (bench tags: bitmap index vs Postgres)",
		run: func(ctx context.Context, env *Env, args []string) error {
			if len(args) == 0 {
				names := make([]string, 0, len(benchSubs))
				for n := range benchSubs {
					names = append(names, n)
				}
				sort.Strings(names)
				return usageErr("name a benchmark: %s", strings.Join(names, ", "))
			}
			sub, ok := benchSubs[args[0]]
			if !ok {
				return usageErr("unknown benchmark %q", args[0])
			}
			// Every bench says which kernels the process runs (config has checked the setting).
			kp, err := cpukernel.Resolve(env.Config.Kernel)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "kernels: %s\n", cpukernel.Describe(kp, env.Config.Kernel))
			return sub.run(ctx, env, args[1:])
		}})
	registerBench(&command{name: "tags", usage: "bench tags [--skus 1000000] [--runs 15] [--reload]",
		summary: "1M synthetic SKUs with 200 Zipf tags: roaring index vs Postgres int4[]+GIN and sku_tags",
		run:     runBenchTags})
}

func runBenchTags(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench tags")
	o := tagbench.Config{}
	fs.IntVar(&o.SKUs, "skus", 1_000_000, "synthetic SKUs")
	fs.IntVar(&o.Tags, "tags", 200, "tags")
	fs.Float64Var(&o.PerSKU, "per-sku", 8, "mean tags per SKU")
	fs.Float64Var(&o.Zipf, "zipf", 1.1, "Zipf exponent of tag popularity")
	fs.IntVar(&o.Runs, "runs", 15, "timed runs per query (the median is reported)")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed of the synthetic catalogue")
	fs.BoolVar(&o.Reload, "reload", false, "drop and reload the bench schema even if it is there")
	fs.StringVar(&o.Schema, "schema", "", "schema to load into (default bench_tags_<skus>)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.SKUs < 1000 || o.Tags < 10 || o.Runs < 1 || o.PerSKU <= 0 || o.Zipf <= 0 {
		return usageErr("need --skus >= 1000, --tags >= 10, --runs >= 1, positive --per-sku and --zipf")
	}
	if o.Schema == "" {
		o.Schema = fmt.Sprintf("bench_tags_%d", o.SKUs)
	}
	admin, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer admin.Close()
	cfg := pg.Config{URL: env.Config.DatabaseURL, SearchPath: fmt.Sprintf("%q, public", o.Schema)}
	w := env.Stdout

	fresh, err := tagbench.EnsureSchema(ctx, admin, o)
	if err != nil {
		return err
	}
	pool, err := pg.Connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if fresh {
		fmt.Fprintf(w, "loading %d synthetic SKUs into schema %s (once; later runs reuse it, --reload to redo)\n", o.SKUs, o.Schema)
		start := time.Now()
		if err := tagbench.Load(ctx, pool, o, w); err != nil {
			return err
		}
		fmt.Fprintf(w, "loaded in %v\n", time.Since(start).Round(time.Second))
	} else {
		fmt.Fprintf(w, "reusing schema %s (%d SKUs, %d tags; --reload to rebuild it)\n", o.Schema, o.SKUs, o.Tags)
	}
	return tagbench.Run(ctx, pool, o, w)
}
