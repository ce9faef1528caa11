package scenariobench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	"selection/catalog"
	"selection/embed"
	"selection/ingest"
	"selection/migrations"
)

// IcecatCount is the number of products in the Icecat catalogue, the smallest data set.
const IcecatCount = 19406

// DataConfig says which data set to build.
type DataConfig struct {
	// SKUs is the catalogue size: the Icecat catalogue plus SKUs - IcecatCount synthetic
	// variants (at least IcecatCount).
	SKUs int
	// Noise is the standard deviation, per dimension, of the Gaussian noise added to a variant's
	// vector (its product's) before renormalising. Default 0.01: the noise has norm ~0.23, a
	// variant's cosine to its product is ~0.975 and two variants of one product ~0.95, about
	// what a colour or pack-size variant's text embedding would be.
	Noise float64
	// Seed makes the synthetic variants repeatable. Default 1.
	Seed uint64
	// Schema holds the data set. Default bench_scenario_<SKUs>.
	Schema string
}

// WithDefaults fills zero fields with their defaults.
func (c DataConfig) WithDefaults() DataConfig {
	if c.Noise == 0 {
		c.Noise = 0.01
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Schema == "" {
		c.Schema = fmt.Sprintf("bench_scenario_%d", c.SKUs)
	}
	return c
}

// Validate checks the configuration.
func (c DataConfig) Validate() error {
	if c.SKUs < IcecatCount {
		return fmt.Errorf("--skus %d: at least the Icecat catalogue's %d", c.SKUs, IcecatCount)
	}
	if c.SKUs > 20_000_000 {
		return fmt.Errorf("--skus %d: at most 20,000,000", c.SKUs)
	}
	if !(c.Noise >= 0 && c.Noise <= 1) {
		return fmt.Errorf("noise %v outside 0..1", c.Noise)
	}
	return nil
}

// dataVersion changes when the generator changes, so an old schema is rebuilt.
const dataVersion = 1

func (c DataConfig) params() string {
	return fmt.Sprintf("v=%d skus=%d noise=%g seed=%d", dataVersion, c.SKUs, c.Noise, c.Seed)
}

// Step is one timed step of building the data set or the indexes.
type Step struct {
	Name string
	Took time.Duration
	Note string
}

// EnsureSchema makes sure the bench schema exists and reports whether it must be loaded
// (absent, built with other parameters, left half-loaded, or reload asked). A schema to load is
// dropped and created empty. When the schema is reused, info says when it was loaded and how long
// that took.
func EnsureSchema(ctx context.Context, admin *pgxpool.Pool, cfg DataConfig, reload bool) (fresh bool, info string, err error) {
	cfg = cfg.WithDefaults()
	q := pgx.Identifier{cfg.Schema}.Sanitize()
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, cfg.Schema).Scan(&exists); err != nil {
		return false, "", err
	}
	if exists && !reload {
		var params string
		var at time.Time
		var took float64
		err := admin.QueryRow(ctx, `SELECT params, loaded_at, took_s FROM `+q+`.bench_meta WHERE done`).Scan(&params, &at, &took)
		if err == nil && params == cfg.params() {
			return false, fmt.Sprintf("loaded %s in %s", at.UTC().Format(time.RFC3339), time.Duration(took*float64(time.Second)).Round(time.Second)), nil
		}
	}
	if exists {
		if _, err := admin.Exec(ctx, `DROP SCHEMA `+q+` CASCADE`); err != nil {
			return false, "", err
		}
	}
	for _, s := range []string{
		`CREATE SCHEMA ` + q,
		`CREATE TABLE ` + q + `.bench_meta (params text NOT NULL, done boolean NOT NULL DEFAULT false,
			loaded_at timestamptz, took_s double precision)`,
	} {
		if _, err := admin.Exec(ctx, s); err != nil {
			return false, "", err
		}
	}
	if _, err := admin.Exec(ctx, `INSERT INTO `+q+`.bench_meta (params) VALUES ($1)`, cfg.params()); err != nil {
		return false, "", err
	}
	return true, "", nil
}

// Migrate applies the migrations to the schema behind pool (whose search_path names it).
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := migrations.Apply(ctx, pool)
	return err
}

// Loader fills a migrated bench schema.
type Loader struct {
	Pool      *pgxpool.Pool // search_path is the bench schema
	Config    DataConfig
	IcecatDir string         // the Icecat catalogue (products_*.json.zip)
	Embedder  embed.Embedder // names the vectors; embeds the catalogue when the disk cache lacks it
	Log       *slog.Logger
	Out       io.Writer // progress lines
}

// LoadedAt is the event time of every loaded SKU.
var LoadedAt = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// stampBase is the first sku_vectors / skus updated_at of a loaded data set; each ordinal is
// stamped one second later than the one before (see Load).
var stampBase = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Load builds the data set and returns its timed steps:
//
//  1. the Icecat catalogue through ingest.LoadFile, as `selection load` does (sku_events, skus
//     with ordinals 0..19,405 in file order, the embedding queue);
//  2. SKUs - 19,406 synthetic variants through catalog.Apply in transactions of 20,000: a random
//     63-bit id, the title of a random Icecat product plus a variant suffix ("Black", "2-Pack",
//     "Refurbished", ...), its brand, product type and description (so lexical search has real
//     text), its price times 0.85..1.20, and market, list price, stock, sales and rating drawn
//     from the new id as for any Icecat SKU (ingest.IcecatProduct.Facts);
//  3. sku_vectors by one COPY (after dropping the HNSW index: see below): each Icecat product's
//     USE-Lite vector (from the disk cache the tests share, embedding the catalogue once when it
//     is missing), each variant's its product's vector plus N(0, Noise²) per dimension,
//     renormalised (embedding a million texts on two cores would take hours);
//  4. the embedding queue emptied (the vectors are written), updated_at of skus and sku_vectors
//     set one second apart by ordinal in the past, VACUUM ANALYZE.
//
// The HNSW index is dropped, not rebuilt: the in-memory index answers every search the service
// makes when it is loaded (the planner never goes to pgvector then), the Postgres baseline is an
// exact ORDER BY over the filtered rows, and building HNSW over 1M 512-d vectors on two cores
// takes the better part of an hour.
//
// updated_at is spread because the pollers re-read a window behind the newest stamp they have
// seen on every poll (lexical: 5 s of skus; vectors: 10 s of sku_vectors): with the load's own
// stamps the last batches (tens of thousands of rows, or every vector of a single COPY) would be
// re-read twice a second for as long as nothing newer is written.
func (l *Loader) Load(ctx context.Context) ([]Step, error) {
	cfg := l.Config.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var steps []Step
	step := func(name string, start time.Time, note string) {
		s := Step{Name: name, Took: time.Since(start), Note: note}
		steps = append(steps, s)
		fmt.Fprintf(l.Out, "  %-44s %8.1f s  %s\n", s.Name, s.Took.Seconds(), s.Note)
	}

	t := time.Now()
	var products []ingest.IcecatProduct
	if err := ingest.ReadIcecatDir(ctx, l.IcecatDir, func(p ingest.IcecatProduct) error {
		products = append(products, p)
		return nil
	}); err != nil {
		return steps, fmt.Errorf("read the Icecat catalogue: %w", err)
	}
	if len(products) != IcecatCount {
		return steps, fmt.Errorf("the Icecat catalogue in %s has %d products, want %d", l.IcecatDir, len(products), IcecatCount)
	}
	vecs, how, err := icecatVectors(ctx, products, l.Embedder, l.Out)
	if err != nil {
		return steps, err
	}
	step("read Icecat and its vectors", t, fmt.Sprintf("%d products; vectors %s", len(products), how))

	t = time.Now()
	files, err := ingest.IcecatFiles(l.IcecatDir)
	if err != nil {
		return steps, err
	}
	w, err := ingest.NewWriter(l.Pool, ingest.WriterConfig{Logger: l.Log, MaxAttempts: 5})
	if err != nil {
		return steps, err
	}
	applied := 0
	for _, f := range files {
		res, err := ingest.LoadFile(ctx, w, f, ingest.LoadConfig{Tier: ingest.TierBatch, Format: ingest.FormatIcecat, BatchSize: 2000, EventTime: LoadedAt})
		if err != nil {
			return steps, fmt.Errorf("load %s: %w", f, err)
		}
		applied += res.Applied
	}
	step("Icecat SKUs (ingest.LoadFile)", t, fmt.Sprintf("%d applied from %d files", applied, len(files)))

	t = time.Now()
	variants, err := l.loadVariants(ctx, products, cfg)
	if err != nil {
		return steps, err
	}
	step("synthetic variants (catalog.Apply)", t, fmt.Sprintf("%d SKUs in transactions of %d", len(variants), applyBatch))

	t = time.Now()
	n, err := l.copyVectors(ctx, products, vecs, variants, cfg)
	if err != nil {
		return steps, err
	}
	step("sku_vectors (COPY, HNSW index dropped)", t, fmt.Sprintf("%d vectors", n))

	t = time.Now()
	for _, s := range []string{
		`TRUNCATE embed_queue`,
		fmt.Sprintf(`UPDATE skus SET updated_at = '%s'::timestamptz + ordinal * interval '1 second'`, stampBase.Format(time.RFC3339)),
		`VACUUM ANALYZE skus`, `VACUUM ANALYZE sku_vectors`, `VACUUM ANALYZE sku_events`,
	} {
		if _, err := l.Pool.Exec(ctx, s); err != nil {
			return steps, fmt.Errorf("%s: %w", s, err)
		}
	}
	step("queue cleared, stamps spread, VACUUM ANALYZE", t, "")
	return steps, nil
}

// MarkDone records a complete load in bench_meta.
func MarkDone(ctx context.Context, pool *pgxpool.Pool, took time.Duration) error {
	_, err := pool.Exec(ctx, `UPDATE bench_meta SET done = true, loaded_at = now(), took_s = $1`, took.Seconds())
	return err
}

const applyBatch = 20000

// variantSuffixes are what tells a variant from its product; "Refurbished" and "Renewed" make
// "no refurbished" scenarios meaningful.
var variantSuffixes = []string{"Black", "White", "Silver", "Grey", "Blue", "Red", "Gold", "Bundle",
	"2-Pack", "3-Pack", "Value Pack", "Retail Box", "Bulk", "Promo Edition", "Refurbished", "Renewed"}

// variant is one synthetic SKU: its id and the index of its Icecat product.
type variant struct {
	id   int64
	base int32
}

func (l *Loader) loadVariants(ctx context.Context, products []ingest.IcecatProduct, cfg DataConfig) ([]variant, error) {
	n := cfg.SKUs - len(products)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5ce7a210))
	seen := make(map[int64]bool, cfg.SKUs)
	for _, p := range products {
		seen[p.ID] = true
	}
	variants := make([]variant, n)
	for i := range variants {
		id := int64(rng.Uint64() >> 1)
		for id == 0 || seen[id] {
			id = int64(rng.Uint64() >> 1)
		}
		seen[id] = true
		variants[i] = variant{id: id, base: int32(rng.IntN(len(products)))}
	}
	seen = nil
	last := time.Now()
	start := time.Now()
	for lo := 0; lo < n; lo += applyBatch {
		hi := min(lo+applyBatch, n)
		patches := make([]catalog.Patch, 0, hi-lo)
		for i := lo; i < hi; i++ {
			v := variants[i]
			b := products[v.base]
			p := b
			p.ID = v.id
			p.Title = b.Title + " - " + variantSuffixes[rng.IntN(len(variantSuffixes))]
			p.Attributes = nil
			p.Price = int64(math.Round(float64(b.Price) * (0.85 + 0.35*rng.Float64())))
			pt := p.Patch(LoadedAt)
			pt.Attributes, _ = json.Marshal(map[string]any{ingest.GeneratedKey: ingest.GeneratedFields,
				"_source": "bench-variant", "variant_of": fmt.Sprint(b.ID)})
			patches = append(patches, pt)
		}
		err := pgx.BeginFunc(ctx, l.Pool, func(tx pgx.Tx) error {
			_, err := catalog.Apply(ctx, tx, patches)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("apply variants %d..%d: %w", lo, hi, err)
		}
		if time.Since(last) > 15*time.Second {
			last = time.Now()
			rate := float64(hi) / time.Since(start).Seconds()
			fmt.Fprintf(l.Out, "    variants: %d/%d (%.0f/s, about %s left)\n", hi, n, rate,
				(time.Duration(float64(n-hi)/rate) * time.Second).Round(time.Second))
		}
	}
	return variants, nil
}

func (l *Loader) copyVectors(ctx context.Context, products []ingest.IcecatProduct, icecat map[int64][]float32, variants []variant, cfg DataConfig) (int64, error) {
	if _, err := l.Pool.Exec(ctx, `DROP INDEX IF EXISTS sku_vectors_hnsw`); err != nil {
		return 0, err
	}
	baseOf := make(map[int64]int32, len(variants))
	for i, v := range variants {
		baseOf[v.id] = int32(i)
	}
	type skuRow struct {
		id, ord int64
		hash    []byte
	}
	rows, err := l.Pool.Query(ctx, `SELECT id, ordinal, content_hash FROM skus WHERE live ORDER BY ordinal`)
	if err != nil {
		return 0, err
	}
	skus, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (skuRow, error) {
		var s skuRow
		err := r.Scan(&s.id, &s.ord, &s.hash)
		return s, err
	})
	if err != nil {
		return 0, fmt.Errorf("read skus: %w", err)
	}
	model := l.Embedder.Name()
	dim := l.Embedder.Dimension()
	buf := make([]float32, dim)
	i := -1
	var rowErr error
	last, start := time.Now(), time.Now()
	src := pgx.CopyFromFunc(func() ([]any, error) {
		i++
		if i >= len(skus) {
			return nil, nil
		}
		s := skus[i]
		if v, ok := icecat[s.id]; ok {
			copy(buf, v)
		} else if j, ok := baseOf[s.id]; ok {
			variantVector(buf, icecat[products[variants[j].base].ID], cfg.Noise, cfg.Seed, uint64(j))
		} else {
			rowErr = fmt.Errorf("sku %d is neither an Icecat product nor a variant of this data set", s.id)
			return nil, rowErr
		}
		if time.Since(last) > 15*time.Second {
			last = time.Now()
			rate := float64(i) / time.Since(start).Seconds()
			fmt.Fprintf(l.Out, "    vectors: %d/%d (%.0f/s, about %s left)\n", i, len(skus), rate,
				(time.Duration(float64(len(skus)-i)/rate) * time.Second).Round(time.Second))
		}
		// pgx encodes each row before asking for the next, so buf can be reused.
		return []any{s.id, model, s.hash, pgvector.NewVector(buf), s.ord, stampBase.Add(time.Duration(s.ord) * time.Second)}, nil
	})
	n, err := l.Pool.CopyFrom(ctx, pgx.Identifier{"sku_vectors"},
		[]string{"sku_id", "model", "content_hash", "embedding", "ordinal", "updated_at"}, src)
	if err != nil {
		return n, fmt.Errorf("copy sku_vectors: %w", errors.Join(err, rowErr))
	}
	return n, nil
}

// variantVector writes base + N(0, noise²) per dimension, renormalised, into dst; the noise is
// drawn from a generator seeded by (seed, j), so variant j's vector is the same on every load.
func variantVector(dst, base []float32, noise float64, seed, j uint64) {
	rng := rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, j))
	var ss float64
	for i, x := range base {
		y := float64(x) + noise*rng.NormFloat64()
		dst[i] = float32(y)
		ss += y * y
	}
	inv := float32(1 / math.Sqrt(ss))
	for i := range dst {
		dst[i] *= inv
	}
}
