package cli

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/internal/bench/poolbench"
	"selection/internal/bench/scenariobench"
)

func init() {
	registerBench(&command{name: "pools",
		usage:   "bench pools [--skus 1000000] [--pools 6000] [--changes 1000,10000,100000] [--reload]",
		summary: "the pool refresher at scale: every pool from scratch, then incremental passes after batches of changed SKUs, and what the versions cost in Postgres",
		run:     runBenchPools})
}

func runBenchPools(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench pools")
	var data scenariobench.DataConfig
	var cfg poolbench.Config
	var reload bool
	var icecat, changes, workers, cpuprofile, tracefile string
	fs.IntVar(&data.SKUs, "skus", 1_000_000, "catalogue size: the 19,406 Icecat products plus synthetic variants")
	fs.Float64Var(&data.Noise, "noise", 0.01, "standard deviation per dimension of the noise added to a variant's vector")
	fs.Uint64Var(&data.Seed, "seed", 1, "random seed of the synthetic variants, the pools' variations and the change stream")
	fs.StringVar(&data.Schema, "schema", "", "schema holding the data set (default bench_pools_<skus>: the changes would alter the scenario bench's)")
	fs.BoolVar(&reload, "reload", false, "drop and rebuild the data set even if the schema holds it")
	fs.StringVar(&icecat, "icecat", "", "directory of the Icecat catalogue (default as bench scenario)")
	fs.IntVar(&cfg.Pools, "pools", 6000, "pools to keep")
	fs.StringVar(&changes, "changes", "1000,10000,100000", "batch sizes of changed SKUs, each followed by a timed incremental pass")
	fs.StringVar(&workers, "workers", "", "refresh workers of the incremental passes, in turn (e.g. 2,4: an A/B within one run; default: SELECTION_POOL_REFRESH_WORKERS)")
	fs.DurationVar(&cfg.Stream, "stream", 0, "after the batches, a live stream this long (0: none) while refresh passes run back to back: each event's freshness")
	fs.IntVar(&cfg.Rate, "rate", 1000, "events a second of the live stream")
	fs.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the first incremental pass to this file")
	fs.StringVar(&cfg.AllocProfile, "allocprofile", "", "write heap profiles just before and after the first incremental pass to PREFIX-before.pb.gz and PREFIX-after.pb.gz")
	fs.StringVar(&tracefile, "trace", "", "write an execution trace of the first incremental pass to this file (go tool trace: where it waits)")
	fs.DurationVar(&cfg.PruneEvery, "prune-every", 0, "during the stream, apply retention this often and report the tables' sizes (0: no retention)")
	fs.IntVar(&cfg.Keep, "keep", 100, "retention during the stream: a pool's newest versions kept whatever their age")
	fs.DurationVar(&cfg.KeepFor, "keep-for", 7*24*time.Hour, "retention during the stream: versions younger than this are kept")
	fs.DurationVar(&cfg.EventsFor, "events-for", 30*24*time.Hour, "retention during the stream: events and dead letters younger than this are kept")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if data.Schema == "" {
		data.Schema = fmt.Sprintf("bench_pools_%d", data.SKUs)
	}
	data = data.WithDefaults()
	if err := data.Validate(); err != nil {
		return usageErr("%v", err)
	}
	if cfg.Pools < 1 {
		return usageErr("--pools must be at least 1")
	}
	if cfg.Stream < 0 || cfg.Rate < 1 {
		return usageErr("--stream must be 0 or more and --rate at least 1")
	}
	if cfg.PruneEvery < 0 || cfg.Keep < 1 || cfg.KeepFor <= 0 || cfg.EventsFor <= 0 {
		return usageErr("--prune-every must be 0 or more, --keep at least 1, --keep-for and --events-for above 0")
	}
	for _, f := range strings.Split(changes, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 1 {
			return usageErr("--changes: %q is not a positive number", f)
		}
		cfg.Changes = append(cfg.Changes, k)
	}
	for _, f := range strings.Split(workers, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		w, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || w < 1 || w > 256 {
			return usageErr("--workers: %q is not a number of workers (1-256)", f)
		}
		cfg.Workers = append(cfg.Workers, w)
	}
	cfg.Seed = data.Seed
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return fmt.Errorf("bench pools: %w", err)
		}
		defer f.Close()
		cfg.CPUProfile = f
	}
	if tracefile != "" {
		f, err := os.Create(tracefile)
		if err != nil {
			return fmt.Errorf("bench pools: %w", err)
		}
		defer f.Close()
		cfg.Trace = f
	}
	return onBenchStack(ctx, env, data, reload, icecat, func(st *benchStack, pool *pgxpool.Pool) error {
		fmt.Fprintf(env.Stdout, "refreshing %d pools over the data set (GOMAXPROCS %d)\n", cfg.Pools, runtime.GOMAXPROCS(0))
		_, err := poolbench.Run(ctx, poolbench.Target{Service: st.core.Service, DB: pool, Position: st.core.Position, Vectors: st.core.Index}, cfg, env.Stdout)
		return err
	})
}
