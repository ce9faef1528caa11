package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"selection/api"
	"selection/ingest"
	"selection/internal/bench/soakbench"
	"selection/internal/pg"
	"selection/migrations"
)

func init() {
	registerBench(&command{name: "soak",
		usage:   "bench soak [--for 10m] [--rate 1000] [--clients 8] [--api-rate 0] [--new-sku-share 0.05] [--delete-share 0.03] [--heap-profile PREFIX] [--catalogue FILE] [--keep]",
		summary: "the whole service under live ingest and mixed API load for a while: throughput, p50/p99 per route, 5xx, resident memory, Go heap and live SKUs",
		run:     runBenchSoak})
}

func runBenchSoak(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "bench soak")
	var cfg soakbench.Config
	fs.DurationVar(&cfg.For, "for", 10*time.Minute, "how long the measured soak lasts (after a warm-up of a tenth of it, at most 1m)")
	fs.DurationVar(&cfg.WarmUp, "warmup", 0, "warm-up before the measurement (0: a tenth of --for, at most 1m)")
	fs.Float64Var(&cfg.Rate, "rate", 1000, "live events per second")
	fs.IntVar(&cfg.Clients, "clients", 8, "concurrent API clients")
	fs.Float64Var(&cfg.APIRate, "api-rate", 0, "API requests per second of all clients together (0: as fast as answered)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed of the events and the clients")
	newSKU := fs.Float64("new-sku-share", ingest.DefaultNewSKUShare, "share of the events that launch a new SKU (0: none)")
	del := fs.Float64("delete-share", ingest.DefaultDeleteShare, "share of the events that discontinue a SKU (default: 0.03, or 0 with --new-sku-share 0 so that the catalogue keeps its size)")
	fs.StringVar(&cfg.HeapProfile, "heap-profile", "", "write heap profiles after the warm-up and at the end to PREFIX-start.pb.gz and PREFIX-end.pb.gz")
	catalogue := fs.String("catalogue", "", "Icecat file to load (default: the first products_*.json.zip of SELECTION_DEMO_DATA, 4,850 products)")
	keep := fs.Bool("keep", false, "keep the bench schema afterwards")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	delSet := false
	fs.Visit(func(f *flag.Flag) { delSet = delSet || f.Name == "delete-share" })
	if !delSet && *newSKU == 0 {
		*del = 0 // no launches and no deletions: the catalogue keeps its size
	}
	if cfg.For <= 0 || cfg.Rate <= 0 || cfg.Clients < 1 || cfg.APIRate < 0 || cfg.WarmUp < 0 || *newSKU < 0 || *del < 0 || *newSKU+*del > 1 {
		return usageErr("positive --for, --rate and --clients; --api-rate, --warmup, --new-sku-share and --delete-share not negative, the two shares at most 1 together")
	}
	cfg.NewSKUShare, cfg.DeleteShare = shareSetting(*newSKU), shareSetting(*del)
	if *catalogue == "" {
		files, _ := filepath.Glob(filepath.Join(env.Config.Demo.Data, "products_*.json.zip"))
		if len(files) == 0 {
			return fmt.Errorf("no Icecat catalogue in %s (SELECTION_DEMO_DATA); give --catalogue or run from the repository root", env.Config.Demo.Data)
		}
		*catalogue = files[0]
	}

	admin, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer admin.Close()
	schema := fmt.Sprintf("bench_soak_%d", os.Getpid())
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %q`, schema)); err != nil {
		return fmt.Errorf("create bench schema: %w", err)
	}
	if !*keep {
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if _, err := admin.Exec(cctx, fmt.Sprintf(`DROP SCHEMA %q CASCADE`, schema)); err != nil {
				env.Log.Warn("bench soak: drop schema", "schema", schema, "err", err)
			}
		}()
	}
	// The service runs in this process over the bench schema, with a broker of its own.
	senv := *env
	senv.Config.DatabaseURL = withSearchPath(env.Config.DatabaseURL, schema)
	senv.Config.HTTPAddr = "127.0.0.1:0"
	senv.Config.Ingest.Brokers = nil
	senv.Config.Ingest.Port = 0
	if senv.Config.Ingest.DataDir, err = os.MkdirTemp("", "selection-soak-kafka-"); err != nil {
		return err
	}
	defer os.RemoveAll(senv.Config.Ingest.DataDir)
	// Every client is 127.0.0.1 with one key: the rate limits are not what is soaked.
	senv.Config.API.RatePerAddress, senv.Config.API.RatePerKey = -1, -1
	senv.Stdout = env.Stderr // the load and embed commands' progress

	pool, err := pg.Connect(ctx, pg.Config{URL: senv.Config.DatabaseURL})
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := migrations.Apply(ctx, pool); err != nil {
		return fmt.Errorf("migrate bench schema: %w", err)
	}
	pool.Reset()
	fmt.Fprintf(env.Stdout, "loading %s into schema %s and embedding it\n", filepath.Base(*catalogue), schema)
	if err := runLoad(ctx, &senv, []string{"--tier", "batch", "--format", "icecat", *catalogue}); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if err := runEmbed(ctx, &senv, nil); err != nil {
		return fmt.Errorf("embed: %w", err)
	}
	s, err := startStack(ctx, &senv, pool, stackOptions{ingest: true})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), env.Config.ShutdownWait)
		defer cancel()
		if err := s.stop(sctx); err != nil {
			env.Log.Warn("bench soak: stop", "err", err)
		}
	}()
	key, err := api.CreateKey(ctx, pool, "soak", api.RolePlanner)
	if err != nil {
		return err
	}
	cfg.Pool, cfg.Brokers, cfg.Topic = pool, s.ingest.Brokers, senv.Config.Ingest.Topic
	cfg.Base, cfg.Key, cfg.Logger = "http://"+s.api.Addr(), key, env.Log
	if every := senv.Config.Serve.PoolRefresh; every > 0 {
		// Memory is read as a refresh pass ends (soakbench.Config.Settle): a pass or two at most.
		cfg.Settle = func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 2*every+time.Minute)
			defer cancel()
			if err := s.afterPass(ctx); err != nil {
				return fmt.Errorf("no refresh pass ended within %s: %w", 2*every+time.Minute, err)
			}
			return nil
		}
	}
	_, err = soakbench.Run(ctx, cfg, env.Stdout)
	return err
}

// shareSetting maps a flag's share to the simulator's setting, where 0 means the default and a
// negative value none.
func shareSetting(v float64) float64 {
	if v == 0 {
		return -1
	}
	return v
}

// withSearchPath returns the database URL u with schema first on the search path.
func withSearchPath(u, schema string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	if !strings.Contains(u, "://") { // a key=value connection string
		return u + " options='-csearch_path=" + schema + ",public'"
	}
	return u + sep + "options=-csearch_path%3D" + schema + ",public"
}
