package cli

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"selection/internal/bench/ingestbench"
	"selection/internal/pg"
	"selection/migrations"
)

func init() {
	registerBench(&command{name: "ingest",
		usage:   "bench ingest [--skus 50000] [--events 300000] [--partitions 4] [--poll 20000] [--live-rate 0] [--live-for 10s] [--naive 5000] [--skew 0]",
		summary: "Kafka (kfake) -> Postgres for price and stock events: throughput, freshness, naive baseline",
		run:     runBenchIngest})
}

func runBenchIngest(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench ingest")
	var cfg ingestbench.Config
	var parts int
	var keep bool
	fs.IntVar(&cfg.SKUs, "skus", 50000, "SKUs in the catalogue the events update")
	fs.IntVar(&cfg.Events, "events", 300000, "events in the throughput run")
	fs.IntVar(&parts, "partitions", 4, "partitions of the bench topic")
	fs.IntVar(&cfg.MaxPollRecords, "poll", 20000, "records per consumer poll")
	fs.IntVar(&cfg.LiveRate, "live-rate", 0, "events/s of the freshness run (0: min(50000, 60% of the measured backlog throughput))")
	fs.DurationVar(&cfg.LiveDuration, "live-for", 10*time.Second, "how long the freshness run produces")
	fs.IntVar(&cfg.NaiveEvents, "naive", 5000, "events for the one-row-per-transaction baseline")
	fs.Float64Var(&cfg.Skew, "skew", 0, "0: events pick SKUs uniformly; > 1: Zipf exponent (hot SKUs, as in a sale)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	fs.BoolVar(&keep, "keep", false, "keep the bench schema afterwards")
	cpuprofile := fs.String("cpuprofile", "", "write a Go CPU profile of the run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || cfg.SKUs < 1 || cfg.Events < 1 || parts < 1 || cfg.NaiveEvents < 1 {
		return usageErr("positive --skus, --events, --partitions and --naive, and no arguments")
	}
	cfg.Partitions = int32(parts)
	cfg.Logger = env.Log

	admin, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer admin.Close()
	schema := fmt.Sprintf("bench_ingest_%d", os.Getpid())
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %q`, schema)); err != nil {
		return fmt.Errorf("create bench schema: %w", err)
	}
	if !keep {
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if _, err := admin.Exec(cctx, fmt.Sprintf(`DROP SCHEMA %q CASCADE`, schema)); err != nil {
				env.Log.Warn("bench ingest: drop schema", "schema", schema, "err", err)
			}
		}()
	}
	pool, err := pg.Connect(ctx, pg.Config{URL: env.Config.DatabaseURL, SearchPath: fmt.Sprintf("%q, public", schema)})
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := migrations.Apply(ctx, pool); err != nil {
		return fmt.Errorf("migrate bench schema: %w", err)
	}
	pool.Reset()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	_, err = ingestbench.Run(ctx, pool, cfg, env.Stdout)
	return err
}
