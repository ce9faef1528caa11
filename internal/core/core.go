package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/embed"
	"selection/lexical"
	"selection/search"
	"selection/selection"
	"selection/tagger"
	"selection/vectorindex"
)

// Config says what New builds. Zero fields take the defaults stated on each.
type Config struct {
	// Index configures the in-memory vector index (Dim defaults to the embedder's dimension).
	// Its MaxBytes is the memory budget (default 8 GiB); a catalogue that does not fit is
	// searched through pgvector.
	Index vectorindex.IndexConfig
	// NoIndex skips the in-memory vector index: every search goes through pgvector.
	// Default false.
	NoIndex bool
	// Planner configures the planner's pgvector paths. Default: vectorindex's defaults.
	Planner vectorindex.PlannerConfig
	// Search configures the hybrid search engine. Default: search's defaults.
	Search search.Config
	// Intents configures the product-type resolver. Default: search's defaults.
	Intents search.IntentConfig
	// Aliases teaches the resolver the words judged queries use for the catalogue's types
	// ("laptop" for notebooks). Default nil: none.
	Aliases *search.Aliases
	// ServiceIntents hands the resolver to selection.Service, whose plans then restrict a
	// pool to the types the scenario names. Default false here; serve and demo follow
	// SELECTION_INTENTS (default on).
	ServiceIntents bool
	// Tags configures the tagger (its Logger and Referrers are set here). Default: tagger's
	// defaults.
	Tags tagger.Config
	// EventsKeptFor is how long sku_events keeps events (0: for ever): tag snapshots older
	// than it are not loaded (tagger.Config.SnapshotMaxAge) and pools checked longer ago are
	// ranked again (selection.Service.EventsKeptFor).
	EventsKeptFor time.Duration
	// RefreshWorkers and PoolBudget go to selection.Service (0: its defaults).
	RefreshWorkers int
	PoolBudget     time.Duration
	// CollectAfterPass collects the Go heap's garbage as a refresh pass ends when it is due
	// (selection.Service.CollectAfterPass).
	CollectAfterPass bool
	// Approval requires an approver to publish pools (selection.Service.Approval).
	Approval bool
	// Currency is the catalogue's currency. Default "USD".
	Currency string
	// LLM is the service's LLM planner. Default nil: none.
	LLM *selection.LLMPlanner
	// Follow starts the pollers: the vector index, the lexical follower and the tagger follow
	// their tables until Stop. Default false: the indexes are loaded once.
	Follow bool
	// EmbedBatch, when > 0, starts the embedding worker with batches of this size. Default 0:
	// no worker (`selection embed` drains the queue instead).
	EmbedBatch int
	// Logger receives the build's and the parts' logs. Default slog.Default().
	Logger *slog.Logger
	// Step, when set, is told each part built, its build time and a note (the scenario bench
	// prints them).
	Step func(part string, took time.Duration, note string)
}

// WithDefaults fills zero fields with their defaults.
func (c Config) WithDefaults() Config {
	if c.Currency == "" {
		c.Currency = "USD"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Step == nil {
		c.Step = func(string, time.Duration, string) {}
	}
	if c.Index.Logger == nil {
		c.Index.Logger = c.Logger
	}
	if c.Planner.Logger == nil {
		c.Planner.Logger = c.Logger
	}
	return c
}

func (c Config) validate() error {
	if c.EmbedBatch < 0 {
		return errors.New("core: negative EmbedBatch")
	}
	if _, ok := selection.CurrencyExponent[c.Currency]; !ok {
		return fmt.Errorf("core: unknown currency %q", c.Currency)
	}
	return nil
}

// Core is the built service core. Fields a Config left out are nil.
type Core struct {
	Pool     *pgxpool.Pool
	Embedder embed.Embedder
	// Index is the in-memory vector index, nil when it is off or the vectors did not fit.
	Index *vectorindex.Index
	// Planner searches the in-memory index when it is loaded, else pgvector.
	Planner *vectorindex.Planner
	// Vectors is what search and the tagger read vectors through.
	Vectors  Vectors
	Worker   *vectorindex.Worker
	Lexical  *lexical.Index
	Follower *lexical.Follower // nil without Follow
	Searcher *search.Searcher
	Tags     *tagger.Tagger
	// TagsFrom says how the tag index was loaded: "snapshot" or "rebuild".
	TagsFrom string
	Intents  *search.Intents
	Service  *selection.Service

	stops []func(context.Context) error
}

// Vectors is the vector side search and the tagger read (search.Dense and tagger.Vectors).
type Vectors interface {
	search.Dense
	tagger.Vectors
}

// New builds the core over pool with the embedder emb (which must be the one sku_vectors was
// written with). On failure it stops what it started.
func New(ctx context.Context, pool *pgxpool.Pool, emb embed.Embedder, cfg Config) (_ *Core, err error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if pool == nil || emb == nil {
		return nil, errors.New("core: New needs a pool and an embedder")
	}
	c := &Core{Pool: pool, Embedder: emb}
	defer func() {
		if err != nil {
			_ = c.Stop(context.WithoutCancel(ctx))
		}
	}()
	log := cfg.Logger

	t0 := time.Now()
	if err := c.startVectors(ctx, cfg); err != nil {
		return nil, err
	}
	if c.Index != nil {
		st := c.Index.Stats()
		cfg.Step("vector index (vectorindex.Index.Load)", time.Since(t0),
			fmt.Sprintf("%d vectors, %d MiB, kernel %s", st.Vectors, st.Bytes>>20, st.Kernel))
	}

	if err := c.startWorker(ctx, cfg); err != nil {
		return nil, err
	}
	if err := c.startLexical(ctx, cfg); err != nil {
		return nil, err
	}
	if c.Searcher, err = search.New(c.Lexical, c.Vectors, emb, cfg.Search); err != nil {
		return nil, err
	}
	pools := selection.NewPoolStore(pool)
	if err := c.startTags(ctx, cfg, pools); err != nil {
		return nil, err
	}
	c.Intents = search.NewIntents(c.Searcher, c.Tags, cfg.Intents).WithAliases(cfg.Aliases)
	c.Service = &selection.Service{
		Executor:         &selection.Executor{Index: c.Tags.Index(), Retriever: search.Retriever{Searcher: c.Searcher}},
		Pools:            pools,
		DB:               pool,
		Vocabulary:       vocabularyOf(c.Tags.Index()),
		LLM:              cfg.LLM,
		CatalogCurrency:  cfg.Currency,
		Log:              log,
		EventsKeptFor:    cfg.EventsKeptFor,
		GenerationAt:     c.Tags.GenerationAt,
		PastStates:       c.Tags.StatesSince,
		ReleaseStates:    c.Tags.ReleaseStates,
		RefreshWorkers:   cfg.RefreshWorkers,
		CollectAfterPass: cfg.CollectAfterPass,
		PoolBudget:       cfg.PoolBudget,
		Approval:         cfg.Approval,
	}
	if cfg.ServiceIntents {
		c.Service.Intents = c.Intents
	}
	if cfg.Follow {
		c.Service.Position = func(context.Context) (selection.Position, error) { return c.Position(), nil }
	}
	return c, nil
}

// startWorker starts the embedding worker when cfg.EmbedBatch > 0.
func (c *Core) startWorker(ctx context.Context, cfg Config) (err error) {
	if cfg.EmbedBatch <= 0 {
		return nil
	}
	if c.Worker, err = vectorindex.NewWorker(c.Pool, c.Embedder, nil, vectorindex.WorkerConfig{BatchSize: cfg.EmbedBatch, Logger: cfg.Logger}); err != nil {
		return err
	}
	if err := c.Worker.Start(ctx); err != nil {
		return err
	}
	c.stops = append(c.stops, c.Worker.Stop)
	return nil
}

// startLexical builds the lexical index: followed until Stop with cfg.Follow, else loaded once.
func (c *Core) startLexical(ctx context.Context, cfg Config) (err error) {
	t0 := time.Now()
	if c.Lexical, err = lexical.New(lexical.Config{}); err != nil {
		return err
	}
	if cfg.Follow {
		if c.Follower, err = lexical.NewFollower(lexical.NewStore(c.Pool), c.Lexical, lexical.FollowerConfig{Logger: cfg.Logger}); err != nil {
			return err
		}
		if err := c.Follower.Start(ctx); err != nil {
			return fmt.Errorf("lexical index: %w", err)
		}
		c.stops = append(c.stops, c.Follower.Stop)
	} else if _, err := lexical.NewStore(c.Pool).Load(ctx, c.Lexical); err != nil {
		return fmt.Errorf("lexical index: %w", err)
	}
	cfg.Step("lexical index (lexical.Follower.Start)", time.Since(t0), fmt.Sprintf("%d documents", c.Lexical.Len()))
	return nil
}

// startTags builds and loads the tagger (following the tags table until Stop with cfg.Follow);
// pools tells it which tags a pool names.
func (c *Core) startTags(ctx context.Context, cfg Config, pools *selection.PoolStore) (err error) {
	t0 := time.Now()
	tcfg := cfg.Tags
	tcfg.Logger, tcfg.Referrers = cfg.Logger, pools.ReferringTo
	if tcfg.SnapshotMaxAge == 0 {
		tcfg.SnapshotMaxAge = cfg.EventsKeptFor
	}
	if c.Tags, err = tagger.New(c.Pool, c.Vectors, c.Embedder, tcfg); err != nil {
		return err
	}
	if c.TagsFrom, err = c.Tags.Load(ctx); err != nil {
		return fmt.Errorf("tag index: %w", err)
	}
	if cfg.Follow {
		if err := c.Tags.Start(ctx); err != nil {
			return fmt.Errorf("tag index: %w", err)
		}
		c.stops = append(c.stops, c.Tags.Stop)
	}
	cfg.Step("tag index (tagger.Load)", time.Since(t0), fmt.Sprintf("from %s; %d live SKUs", c.TagsFrom, c.Tags.Index().LiveCount()))
	return nil
}

// startVectors loads the in-memory index (unless NoIndex, or the vectors do not fit) and
// builds the planner over it and pgvector.
func (c *Core) startVectors(ctx context.Context, cfg Config) error {
	if !cfg.NoIndex {
		icfg := cfg.Index
		if icfg.Dim == 0 {
			icfg.Dim = c.Embedder.Dimension()
		}
		ix, err := vectorindex.NewIndex(c.Pool, icfg)
		if err != nil {
			return err
		}
		start := ix.Load
		if cfg.Follow {
			start = ix.Start
		}
		switch err := start(ctx); {
		case err == nil:
			c.Index = ix
			c.stops = append(c.stops, ix.Stop)
			cfg.Logger.Info("vector index loaded", "vectors", ix.Len(), "kernel", ix.Kernel())
		case errors.Is(err, vectorindex.ErrTooLarge):
			cfg.Logger.Warn("vector index not loaded; searching through pgvector", "reason", err)
		default:
			return fmt.Errorf("vector index: %w", err)
		}
	} else {
		cfg.Logger.Info("vector index off; searching through pgvector")
	}
	p, err := vectorindex.NewPlanner(c.Pool, c.Index, cfg.Planner)
	if err != nil {
		return err
	}
	c.Planner = p
	if c.Index == nil {
		// pgvector: exact ranking of small candidate sets, HNSW above; vectors by ordinal from
		// sku_vectors.
		c.Vectors = p.Vectors()
		return nil
	}
	// The planner would take the loaded index's own path: search it directly.
	c.Vectors = c.Index
	return nil
}

// Position is where the indexes the engine reads stand: the tag index in sku_events, the
// vector tags and the vector index in sku_vectors (the one further behind), the text index in
// skus. A pool version records it, and an incremental refresh looks for changes after it.
func (c *Core) Position() selection.Position {
	p := c.Tags.Position()
	pos := selection.Position{EventSnapshot: p.Snapshot, EventSeq: p.Seq}
	if c.Follower != nil {
		pos.SKUsFrom = c.Follower.From()
	}
	froms := []time.Time{c.Tags.VectorsFrom()}
	if c.Index != nil {
		froms = append(froms, c.Index.From())
	}
	for _, from := range froms {
		if !from.IsZero() && (pos.VectorsFrom.IsZero() || from.Before(pos.VectorsFrom)) {
			pos.VectorsFrom = from
		}
	}
	return pos
}

// VectorCount is the number of vectors in the in-memory index (0 when it is not loaded).
func (c *Core) VectorCount() int {
	if c.Index == nil {
		return 0
	}
	return c.Index.Len()
}

// Stop stops every part New started, in reverse order. It is idempotent.
func (c *Core) Stop(ctx context.Context) error {
	var errs []error
	for i := len(c.stops) - 1; i >= 0; i-- {
		errs = append(errs, c.stops[i](ctx))
	}
	c.stops = nil
	return errors.Join(errs...)
}

// DefineMissing defines those of defs the tag index does not hold yet (names compare without
// case, as the tagger's do) and returns how many it defined.
func DefineMissing(ctx context.Context, tags *tagger.Tagger, defs []tagger.TagDef) (int, error) {
	have := map[string]bool{}
	for _, t := range tags.Index().Tags() {
		have[strings.ToLower(t.Name)] = true
	}
	made := 0
	for _, def := range defs {
		if have[strings.ToLower(def.Name)] {
			continue
		}
		if _, err := tags.Define(ctx, def); err != nil {
			return made, fmt.Errorf("define tag %s: %w", def.Name, err)
		}
		have[strings.ToLower(def.Name)] = true
		made++
	}
	return made, nil
}
