package tagbench

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selection/filter"
	"selection/migrations"
	"selection/tagger"
)

// EnsureSchema makes sure the bench schema exists and says whether it must be loaded.
func EnsureSchema(ctx context.Context, admin *pgxpool.Pool, o Config) (bool, error) {
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, o.Schema).Scan(&exists); err != nil {
		return false, err
	}
	want := fmt.Sprintf("skus=%d tags=%d per_sku=%g zipf=%g seed=%d", o.SKUs, o.Tags, o.PerSKU, o.Zipf, o.Seed)
	if exists && !o.Reload {
		var got string
		err := admin.QueryRow(ctx, fmt.Sprintf(`SELECT params FROM %q.bench_meta WHERE done`, o.Schema)).Scan(&got)
		if err == nil && got == want {
			return false, nil
		}
	}
	if exists {
		if _, err := admin.Exec(ctx, fmt.Sprintf(`DROP SCHEMA %q CASCADE`, o.Schema)); err != nil {
			return false, err
		}
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %q`, o.Schema)); err != nil {
		return false, err
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE TABLE %q.bench_meta (params text NOT NULL, done boolean NOT NULL DEFAULT false)`, o.Schema)); err != nil {
		return false, err
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf(`INSERT INTO %q.bench_meta (params) VALUES ($1)`, o.Schema), want); err != nil {
		return false, err
	}
	return true, nil
}

// zipfProbs returns each tag's membership probability, p_k proportional to 1/k^s and capped
// at 0.9, scaled so that a SKU has perSKU tags on average.
func zipfProbs(n int, s, perSKU float64) []float64 {
	p := make([]float64, n)
	lo, hi := 0.0, perSKU*10
	for iter := 0; iter < 100; iter++ {
		c := (lo + hi) / 2
		sum := 0.0
		for k := range p {
			sum += math.Min(0.9, c/math.Pow(float64(k+1), s))
		}
		if sum < perSKU {
			lo = c
		} else {
			hi = c
		}
	}
	for k := range p {
		p[k] = math.Min(0.9, lo/math.Pow(float64(k+1), s))
	}
	return p
}

// Load fills the migrated schema behind pool with the synthetic catalogue of o: the tags, the
// SKUs with their tags as an int4[] column (GIN-indexed) and as the normalised sku_tags table,
// and the index snapshot in tag_bitmaps; it marks bench_meta done last.
func Load(ctx context.Context, pool *pgxpool.Pool, o Config, w io.Writer) error {
	if _, err := migrations.Apply(ctx, pool); err != nil {
		return err
	}
	pool.Reset()
	c := synthesize(o)
	// Tags: stored as discovered tags of a "bench" family so that they load like any tag.
	for k := 1; k <= o.Tags; k++ {
		if _, err := pool.Exec(ctx, `INSERT INTO tags (id, name, kind, definition) VALUES ($1, $2, 'discovered', $3)`,
			k, fmt.Sprintf("bench-%03d", k), fmt.Sprintf(`{"family":"bench","cluster":%d,"terms":["p=%.4f"]}`, k, c.probs[k-1])); err != nil {
			return err
		}
	}
	// The best layout for Postgres: the tags as an int4[] column of skus with a GIN index.
	if _, err := pool.Exec(ctx, `ALTER TABLE skus ADD COLUMN tags int4[] NOT NULL DEFAULT '{}'`); err != nil {
		return err
	}
	if err := copySKUs(ctx, pool, c); err != nil {
		return err
	}
	fmt.Fprintln(w, "  skus copied; indexing (GIN on tags) and the normalised sku_tags table")
	stmts := []string{
		`CREATE INDEX skus_tags_gin ON skus USING gin (tags)`,
		`CREATE TABLE sku_tags (sku_id bigint NOT NULL, ordinal bigint NOT NULL, tag int4 NOT NULL)`,
		`INSERT INTO sku_tags SELECT id, ordinal, unnest(tags) FROM skus`,
		`ALTER TABLE sku_tags ADD PRIMARY KEY (tag, sku_id)`,
		`CREATE INDEX sku_tags_sku ON sku_tags (sku_id, tag)`,
		`VACUUM ANALYZE skus`,
		`VACUUM ANALYZE sku_tags`,
	}
	for _, s := range stmts {
		if _, err := pool.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	// Save the index once, as the tagger does, so that start-up loads it from tag_bitmaps.
	if err := benchSaveSnapshot(ctx, pool, o); err != nil {
		return err
	}
	_, err := pool.Exec(ctx, `UPDATE bench_meta SET done = true`)
	return err
}

// synthCatalogue is the synthetic catalogue, by SKU: its ids, prices and tags (1-based), and
// each tag's membership probability.
type synthCatalogue struct {
	ids, prices []int64
	skuTags     [][]int32
	probs       []float64
}

// synthesize draws the catalogue of o from its seed: distinct positive ids, log-normal prices
// around 3,000 and Zipf-distributed tags.
func synthesize(o Config) synthCatalogue {
	rng := rand.New(rand.NewPCG(o.Seed, 0xbe4c))
	n := o.SKUs
	ids := make([]int64, n)
	seen := make(map[int64]bool, n)
	for i := range ids {
		for {
			id := int64(rng.Uint64() >> 1)
			if id != 0 && !seen[id] {
				seen[id] = true
				ids[i] = id
				break
			}
		}
	}
	prices := make([]int64, n)
	for i := range prices {
		p := math.Exp(math.Log(3000) + rng.NormFloat64())
		prices[i] = int64(math.Max(100, math.Min(1e7, p)))
	}
	// Members per tag by geometric skips (as many draws as memberships, not n x tags).
	probs := zipfProbs(o.Tags, o.Zipf, o.PerSKU)
	skuTags := make([][]int32, n)
	for k, p := range probs {
		i := -1
		for {
			u := rng.Float64()
			i += 1 + int(math.Floor(math.Log1p(-u)/math.Log1p(-p)))
			if i >= n || i < 0 {
				break
			}
			skuTags[i] = append(skuTags[i], int32(k+1))
		}
	}
	return synthCatalogue{ids: ids, prices: prices, skuTags: skuTags, probs: probs}
}

// copySKUs copies the catalogue's SKUs into skus in id order of arrival: skus.ordinal comes
// from sku_ordinal_seq, as for any insert.
func copySKUs(ctx context.Context, pool *pgxpool.Pool, c synthCatalogue) error {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	markets := []string{"SG", "MY", "TH", "ID", "PH", "VN"}
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"skus"},
		[]string{"id", "market", "title", "currency", "price", "list_price", "stock", "content_at", "price_at", "stock_at", "tags"},
		pgx.CopyFromSlice(len(c.ids), func(i int) ([]any, error) {
			mk := markets[i%len(markets)]
			tags := c.skuTags[i]
			if tags == nil {
				tags = []int32{}
			}
			return []any{c.ids[i], mk, fmt.Sprintf("bench sku %d", i), "USD", c.prices[i], c.prices[i], int64(i % 7), at, at, at, tags}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy skus: %w", err)
	}
	return nil
}

// benchSaveSnapshot builds the index from the rows and saves it to tag_bitmaps.
func benchSaveSnapshot(ctx context.Context, pool *pgxpool.Pool, o Config) error {
	ix, _, err := benchBuildFromSKUs(ctx, pool, o)
	if err != nil {
		return err
	}
	snap, err := ix.Snapshot()
	if err != nil {
		return err
	}
	if err := pool.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&snap.Pos.Snapshot); err != nil {
		return err
	}
	_, err = filter.NewStore(pool).SaveSnapshot(ctx, snap)
	return err
}

// benchBuildFromSKUs builds the index from Postgres rows: the attributes from skus through
// the tagger's store, then the tags from the int4[] column. It returns the two times.
func benchBuildFromSKUs(ctx context.Context, pool *pgxpool.Pool, o Config) (*filter.Index, [2]time.Duration, error) {
	var d [2]time.Duration
	start := time.Now()
	ix, _, err := tagger.NewStore(pool).BuildFromSKUs(ctx)
	if err != nil {
		return nil, d, err
	}
	d[0] = time.Since(start)
	start = time.Now()
	lists := make([][]uint64, o.Tags+1)
	rows, err := pool.Query(ctx, `SELECT ordinal, tags FROM skus ORDER BY ordinal`)
	if err != nil {
		return nil, d, err
	}
	var ord int64
	var tags []int32
	_, err = pgx.ForEachRow(rows, []any{&ord, &tags}, func() error {
		for _, k := range tags {
			if int(k) < len(lists) && k > 0 {
				lists[k] = append(lists[k], uint64(ord))
			}
		}
		return nil
	})
	if err != nil {
		return nil, d, err
	}
	for k := 1; k <= o.Tags; k++ {
		bm := roaring64.New()
		bm.AddMany(lists[k])
		ix.SetTag(filter.TagInfo{ID: int64(k), Name: fmt.Sprintf("bench-%03d", k), Kind: string(tagger.KindDiscovered)}, bm, nil)
	}
	d[1] = time.Since(start)
	return ix, d, nil
}
