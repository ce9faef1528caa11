package cli

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/ollama"
	"github.com/tmc/langchaingo/llms/openai"

	"selection/api"
	"selection/catalog"
	"selection/ingest"
	"selection/internal/core"
	"selection/internal/pg"
	"selection/internal/poll"
	"selection/migrations"
	"selection/selection"
	"selection/vectorindex"
	"selection/web"
)

func init() {
	register(&command{name: "serve", usage: "serve [--no-ingest]",
		summary: "run the service: REST API, web page, ingest from Kafka, embedding, tagging, pool refresh", run: runServe})
}

// stack is the running service, shared by serve and demo: the core (indexes, followers,
// service) and what serve adds around it (API, ingest, metrics, pool refresher).
type stack struct {
	env      *Env
	pool     *pgxpool.Pool
	catalog  *catalog.Store
	core     *core.Core
	api      *api.Server
	ingest   *ingestRunner
	ingestDB *pgxpool.Pool // ingest's own connections
	sim      *ingest.Simulator
	registry *prometheus.Registry

	refresher poll.Loop     // the pool refresher, when SELECTION_POOL_REFRESH > 0 (refresher.go)
	passes    atomic.Uint64 // the refresher's whole passes so far (afterPass)
	lease     *pg.Lease     // the leader's lease among the replicas of the database (leaderLease)
}

type stackOptions struct {
	ingest bool // start the Kafka consumer (and the embedded broker when none is configured)
}

// checkMigrated fails with the command to run when migrations are pending.
func checkMigrated(ctx context.Context, pool *pgxpool.Pool) error {
	m, err := migrations.New(pool)
	if err != nil {
		return err
	}
	defer m.Close()
	pending, err := m.HasPending(ctx)
	if err != nil {
		return err
	}
	if pending {
		return errors.New("the database schema is not up to date: run `selection migrate up`")
	}
	return nil
}

// startStack starts every part of the service, in dependency order; on failure it stops what
// it started.
func startStack(ctx context.Context, env *Env, pool *pgxpool.Pool, opt stackOptions) (_ *stack, err error) {
	s := &stack{env: env, pool: pool, catalog: catalog.NewStore(pool), registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), env.Config.ShutdownWait)
			defer cancel()
			_ = s.stop(sctx)
		}
	}()
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := checkMigrated(ctx, pool); err != nil {
		return nil, err
	}
	t0 := time.Now()
	emb, err := newEmbedder(ctx, env, pool)
	if err != nil {
		return nil, err
	}
	llm, err := newLLM(env.Config.Serve)
	if err != nil {
		return nil, err
	}
	cc, err := coreConfig(env, llm)
	if err != nil {
		return nil, err
	}
	// The leader's lease, taken (when free) before the indexes load: the leader votes on the
	// product types of SKUs whose text names none, and refreshes pools.
	s.lease = pg.NewLease(pool, leaderLease)
	switch held, _, err := s.lease.Hold(ctx); {
	case err != nil:
		env.Log.Warn("leader: the lease could not be tried at start; retried in the background", "err", err)
	case held:
		env.Log.Info("leader: this replica took the lease; it runs the pool refresher and votes on product types")
	default:
		env.Log.Info("leader: another replica holds the lease; this one applies its product-type votes")
	}
	cc.Tags.Leader = s.lease.Held
	if s.core, err = core.New(ctx, pool, emb, cc); err != nil {
		return nil, err
	}
	env.Log.Info("indexes loaded", "skus", s.core.Tags.Index().LiveCount(), "vectors", s.core.VectorCount(), "documents", s.core.Lexical.Len(),
		"took", time.Since(t0).Round(time.Millisecond))
	if opt.ingest {
		m := ingest.NewMetrics()
		m.Register(s.registry)
		if s.ingestDB, err = siblingPool(ctx, pool, env.Config.Ingest.DBConns); err != nil {
			return nil, err
		}
		if s.ingest, err = startIngest(ctx, env, s.ingestDB, m); err != nil {
			return nil, err
		}
	}
	s.registerMetrics()
	s.api, err = api.New(apiConfig(env), api.Deps{
		DB: pool, Service: s.core.Service, Catalog: s.catalog, Index: s.core.Tags.Index(), Registry: s.registry, Web: web.FS(),
		Ready: s.ready, Tags: api.TaggerService{Tagger: s.core.Tags}, Log: env.Log,
	})
	if err != nil {
		return nil, err
	}
	if err := s.api.Start(ctx); err != nil {
		return nil, err
	}
	s.startLeader(ctx)
	return s, nil
}

// ready is /readyz: the indexes are loaded and the consumer (when started) runs.
func (s *stack) ready(ctx context.Context) error {
	if s.ingest != nil {
		select {
		case <-s.ingest.Consumer.Done():
			return fmt.Errorf("ingest consumer stopped: %v", s.ingest.Consumer.Err())
		default:
		}
	}
	return nil
}

// registerMetrics exports the embedding backlog, the vector worker and the index sizes.
func (s *stack) registerMetrics() {
	if m := s.core.Worker.Metrics(); m != nil {
		for name, v := range map[string]struct {
			help string
			get  func() int64
		}{
			"selection_embed_vectors_written_total":  {"Vectors the embedding worker wrote.", m.Embedded.Load},
			"selection_embed_vectors_removed_total":  {"Vectors removed for deleted SKUs.", m.Removed.Load},
			"selection_embed_batches_total":          {"Embedding batches committed.", m.Batches.Load},
			"selection_embed_batch_failures_total":   {"Embedding batches rolled back.", m.Failures.Load},
			"selection_embed_rejected_vectors_total": {"Embeddings the store refused.", m.Rejected.Load},
		} {
			get := v.get
			s.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: v.help},
				func() float64 { return float64(get()) }))
		}
	}
	var mu sync.Mutex
	var last vectorindex.Backlog
	var lastAt time.Time
	backlog := func() vectorindex.Backlog {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(lastAt) > 2*time.Second {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if b, err := vectorindex.QueueBacklog(ctx, s.pool); err == nil {
				last, lastAt = b, time.Now()
			}
		}
		return last
	}
	s.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "selection_embedding_backlog_skus",
			Help: "SKUs whose text changed and wait for the embedding model."}, func() float64 { return float64(backlog().Count) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "selection_embedding_backlog_age_seconds",
			Help: "Age of the oldest SKU waiting for the embedding model."}, func() float64 { return backlog().OldestAge.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "selection_index_live_skus",
			Help: "Live SKUs in the tag index."}, func() float64 { return float64(s.core.Tags.Index().LiveCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "selection_index_vectors",
			Help: "Vectors in the in-memory vector index."}, func() float64 { return float64(s.core.VectorCount()) }),
	)
}

// stop stops every part that started, in reverse order.
func (s *stack) stop(ctx context.Context) error {
	var errs []error
	if s.sim != nil {
		errs = append(errs, s.sim.Stop(ctx))
	}
	errs = append(errs, s.refresher.Stop(ctx))
	if s.lease != nil {
		errs = append(errs, s.lease.Release(ctx))
	}
	if s.api != nil {
		errs = append(errs, s.api.Stop(ctx))
	}
	if s.ingest != nil {
		errs = append(errs, s.ingest.Stop(ctx))
	}
	if s.ingestDB != nil {
		s.ingestDB.Close()
	}
	if s.core != nil {
		errs = append(errs, s.core.Stop(ctx))
	}
	return errors.Join(errs...)
}

// newLLM builds the configured LLM planner (nil when none is configured).
func newLLM(c ServeConfig) (*selection.LLMPlanner, error) {
	var model llms.Model
	var err error
	switch c.LLMProvider {
	case "":
		return nil, nil
	case "openai":
		opts := []openai.Option{openai.WithToken(c.LLMAPIKey)}
		if c.LLMAPIKey == "" {
			opts = []openai.Option{openai.WithToken("none")}
		}
		if c.LLMModel != "" {
			opts = append(opts, openai.WithModel(c.LLMModel))
		}
		if c.LLMBaseURL != "" {
			opts = append(opts, openai.WithBaseURL(c.LLMBaseURL))
		}
		model, err = openai.New(opts...)
	case "ollama":
		opts := []ollama.Option{ollama.WithFormat("json")}
		if c.LLMModel != "" {
			opts = append(opts, ollama.WithModel(c.LLMModel))
		}
		if c.LLMBaseURL != "" {
			opts = append(opts, ollama.WithServerURL(c.LLMBaseURL))
		}
		model, err = ollama.New(opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("LLM planner (%s): %w", c.LLMProvider, err)
	}
	return &selection.LLMPlanner{Model: model}, nil
}

func runServe(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "serve")
	noIngest := fs.Bool("no-ingest", false, "do not consume Kafka (API, web page and indexes only)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	pool, err := env.Connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	s, err := startStack(ctx, env, pool, stackOptions{ingest: !*noIngest})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "serving on http://%s (API under /v1, metrics at /metrics); Ctrl-C stops\n", s.api.Addr())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), env.Config.ShutdownWait)
	defer cancel()
	err = s.stop(sctx)
	fmt.Fprintln(env.Stdout, "stopped")
	return err
}
