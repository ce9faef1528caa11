package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/api"
	"selection/ingest"
	"selection/internal/core"
	"selection/migrations"
	"selection/tagger"
	"selection/vectorindex"
)

func init() {
	register(&command{name: "demo", usage: "demo [--rate 50]",
		summary: "the whole pipeline on real data: load Icecat, embed, tag, stream live events, serve the API and the page",
		run:     runDemo})
}

// demoTags are defined on the first run (tagger.DemoTags).
var demoTags = tagger.DemoTags()

// runDemo runs the pipeline's six steps in order, printing each, then waits for Ctrl-C,
// logging the ingest and embedding progress every 30 s.
func runDemo(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "demo")
	rate := fs.Float64("rate", 50, "live events per second from the simulator (0: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *rate < 0 {
		return usageErr("--rate >= 0, no arguments")
	}
	start := time.Now()
	out := env.Stdout
	pool, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()

	// 1. Schema.
	if err := demoSchema(ctx, env, pool); err != nil {
		return err
	}
	// 2. The catalogue, once.
	if err := demoCatalogue(ctx, env, pool); err != nil {
		return err
	}
	// 3. Embeddings of every SKU whose text is new or changed.
	emb, err := newEmbedder(ctx, env, pool)
	if err != nil {
		return err
	}
	fmt.Fprint(out, "[3/6] ")
	if _, err := drainEmbedQueue(ctx, env, pool, emb, 0, out); err != nil {
		return fmt.Errorf("embed: %w", err)
	}

	// 4. Start the service; define the demo tags on the first run.
	fmt.Fprintln(out, "[4/6] starting the service (embedded Kafka broker, consumer, indexes, API)")
	s, err := startStack(ctx, env, pool, stackOptions{ingest: true})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), env.Config.ShutdownWait)
		defer cancel()
		if err := s.stop(sctx); err != nil {
			env.Log.Warn("stop", "err", err)
		}
		fmt.Fprintln(out, "stopped")
	}()
	if err := defineDemoTags(ctx, env, s); err != nil {
		return err
	}
	// 5. Live events.
	if err := demoSimulator(ctx, env, pool, s, *rate); err != nil {
		return err
	}
	// 6. A key for the page and the API.
	key, err := demoKey(ctx, pool)
	if err != nil {
		return err
	}
	printDemoReady(out, "http://"+s.api.Addr(), key, time.Since(start))
	return demoWait(ctx, env, pool, s)
}

// demoSchema migrates the schema up to date.
func demoSchema(ctx context.Context, env *Env, pool *pgxpool.Pool) error {
	res, err := migrations.Apply(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "[1/6] schema up to date (%d migrations applied now)\n", len(res))
	return nil
}

// demoCatalogue loads the Icecat catalogue when the skus table is empty.
func demoCatalogue(ctx context.Context, env *Env, pool *pgxpool.Pool) error {
	out := env.Stdout
	var n int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM skus`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(out, "[2/6] catalogue already loaded: %d SKUs\n", n)
		return nil
	}
	files, err := filepath.Glob(filepath.Join(env.Config.Demo.Data, "products_*.json.zip"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no Icecat catalogue in %s (SELECTION_DEMO_DATA); run the demo from the repository root", env.Config.Demo.Data)
	}
	fmt.Fprintf(out, "[2/6] loading the Icecat catalogue (%d files; markets, stock, list prices, ratings and sales are generated deterministically and labelled so in attributes._generated)\n", len(files))
	if err := runLoad(ctx, env, append([]string{"--tier", "batch", "--format", "icecat"}, files...)); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	return nil
}

// demoSimulator starts the live-event simulator on the stack's broker at rate events per
// second (0: none); the stack stops it.
func demoSimulator(ctx context.Context, env *Env, pool *pgxpool.Pool, s *stack, rate float64) error {
	out := env.Stdout
	if rate == 0 {
		fmt.Fprintln(out, "[5/6] live-event simulator off (--rate 0)")
		return nil
	}
	cat, err := ingest.LoadSimCatalogue(ctx, pool, 0)
	if err != nil {
		return err
	}
	s.sim, err = ingest.NewSimulator(ingest.SimulatorConfig{Brokers: s.ingest.Brokers, Topic: env.Config.Ingest.Topic,
		Catalogue: cat, Rate: rate, Seed: uint64(time.Now().UnixNano()), Logger: env.Log})
	if err != nil {
		return err
	}
	if err := s.sim.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "[5/6] live-event simulator: %.0f events/s over %d SKUs (price moves, orders, restocks, new SKUs, deletions, ~1.5%% malformed)\n", rate, len(cat))
	return nil
}

// printDemoReady prints where the page, the API and the metrics are, and a request to try.
func printDemoReady(out io.Writer, url, key string, took time.Duration) {
	fmt.Fprintf(out, "[6/6] ready in %s\n\n", took.Round(100*time.Millisecond))
	fmt.Fprintf(out, "  web page:  %s/#key=%s\n", url, key)
	fmt.Fprintf(out, "  API key:   %s   (role planner)\n", key)
	fmt.Fprintf(out, "  metrics:   %s/metrics\n", url)
	fmt.Fprintf(out, "  try:       curl -s -H 'X-API-Key: %s' -H 'Content-Type: application/json' -d '{\"scenario\":\"gaming mouse under $50 in stock, best sellers, top 10\"}' %s/v1/search\n\n", key, url)
	fmt.Fprintln(out, "Ctrl-C stops everything; the next `make demo` reuses what is loaded.")
}

// demoWait logs the ingest and embedding progress every 30 s until ctx ends (nil) or the
// ingest consumer stops (its error).
func demoWait(ctx context.Context, env *Env, pool *pgxpool.Pool, s *stack) error {
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(env.Stdout, "\nstopping…")
			return nil
		case <-s.ingest.Consumer.Done():
			return fmt.Errorf("ingest consumer stopped: %w", s.ingest.Consumer.Err())
		case <-tick.C:
			st := s.ingest.Metrics.Snapshot()
			b, _ := vectorindex.QueueBacklog(ctx, pool)
			env.Log.Info("demo", "events_applied", st.Applied, "dead_letters", st.DeadLetters,
				"embedding_backlog", b.Count, "live_skus", s.core.Tags.Index().LiveCount())
		}
	}
}

// defineDemoTags defines the demo's tags the first time (later runs find them saved) and, on the
// first run, discovers topic clusters.
func defineDemoTags(ctx context.Context, env *Env, s *stack) error {
	tags := s.core.Tags
	have := map[string]bool{}
	for _, t := range tags.Index().Tags() {
		have[t.Name] = true
	}
	made, err := core.DefineMissing(ctx, tags, demoTags)
	if err != nil {
		return err
	}
	topics := 0
	for name := range have {
		if len(name) > 6 && name[:6] == "topic/" {
			topics++
		}
	}
	if topics == 0 {
		defs, err := tags.Discover(ctx, tagger.DiscoverOptions{Family: "topic", Clusters: 24})
		if err != nil {
			return fmt.Errorf("discover topics: %w", err)
		}
		topics = len(defs)
	}
	if _, err := tags.Save(ctx); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "      tags: %d defined now, %d topic clusters, %d in all\n", made, topics, len(tags.Index().Tags()))
	return nil
}

// demoKey makes a fresh planner key for this run (older demo keys are revoked).
func demoKey(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	if _, err := pool.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE name = 'demo' AND revoked_at IS NULL`); err != nil {
		return "", err
	}
	key, err := api.CreateKey(ctx, pool, "demo", api.RolePlanner)
	if err != nil {
		return "", err
	}
	return key, nil
}
