package tagbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selection/filter"
	"selection/migrations"
	"selection/tagger"
)

// Config is what the bench loads and measures (the flags of `selection bench tags`).
type Config struct {
	SKUs, Tags, Runs int     // synthetic SKUs, tags, timed runs per query
	PerSKU, Zipf     float64 // mean tags per SKU, Zipf exponent of tag popularity
	Seed             uint64  // random seed of the synthetic catalogue
	Reload           bool    // drop and reload the schema even if it is there
	Schema           string  // schema to load into
}

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

func Load(ctx context.Context, pool *pgxpool.Pool, o Config, w io.Writer) error {
	m, err := migrations.New(pool)
	if err != nil {
		return err
	}
	if _, err := m.Up(ctx); err != nil {
		m.Close()
		return err
	}
	m.Close()
	pool.Reset()
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
	seen = nil
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
	// Tags: stored as discovered tags of a "bench" family so that they load like any tag.
	for k := 1; k <= o.Tags; k++ {
		if _, err := pool.Exec(ctx, `INSERT INTO tags (id, name, kind, definition) VALUES ($1, $2, 'discovered', $3)`,
			k, fmt.Sprintf("bench-%03d", k), fmt.Sprintf(`{"family":"bench","cluster":%d,"terms":["p=%.4f"]}`, k, probs[k-1])); err != nil {
			return err
		}
	}
	// The best layout for Postgres: the tags as an int4[] column of skus with a GIN index.
	if _, err := pool.Exec(ctx, `ALTER TABLE skus ADD COLUMN tags int4[] NOT NULL DEFAULT '{}'`); err != nil {
		return err
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	markets := []string{"SG", "MY", "TH", "ID", "PH", "VN"}
	// COPY in id order of arrival: skus.ordinal comes from sku_ordinal_seq, as for any insert.
	_, err = pool.CopyFrom(ctx, pgx.Identifier{"skus"},
		[]string{"id", "market", "title", "currency", "price", "list_price", "stock", "content_at", "price_at", "stock_at", "tags"},
		pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			mk := markets[i%len(markets)]
			tags := skuTags[i]
			if tags == nil {
				tags = []int32{}
			}
			return []any{ids[i], mk, fmt.Sprintf("bench sku %d", i), "USD", prices[i], prices[i], int64(i % 7), at, at, at, tags}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy skus: %w", err)
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
	_, err = pool.Exec(ctx, `UPDATE bench_meta SET done = true`)
	return err
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

type benchQuery struct {
	name   string
	expr   filter.Expr
	where  []string // Postgres WHERE variants (the fastest median counts)
	normal string   // the normalised sku_tags form
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func Run(ctx context.Context, pool *pgxpool.Pool, o Config, w io.Writer) error {
	store := filter.NewStore(pool)
	// Build from Postgres the way the service starts (the snapshot in tag_bitmaps) and, for
	// comparison, from the rows of skus.
	start := time.Now()
	ix, _, err := store.LoadSnapshot(ctx)
	if errors.Is(err, filter.ErrOutdated) {
		// The data set outlived a change of the snapshot's layout: save it anew, then time the load.
		fmt.Fprintf(w, "the saved index snapshot is from an older version (%v): saving a new one\n", err)
		if err := benchSaveSnapshot(ctx, pool, o); err != nil {
			return err
		}
		start = time.Now()
		ix, _, err = store.LoadSnapshot(ctx)
	}
	if err != nil {
		return err
	}
	buildSnap := time.Since(start)
	start = time.Now()
	if err := ix.Prepare("price"); err != nil {
		return err
	}
	prepare := time.Since(start)
	fromRows, rowTimes, err := benchBuildFromSKUs(ctx, pool, o)
	if err != nil {
		return err
	}
	_ = fromRows
	// Tags by popularity.
	type tagPop struct {
		k int
		n uint64
	}
	var pops []tagPop
	for k := 1; k <= o.Tags; k++ {
		n, err := ix.Count(filter.Tag(fmt.Sprintf("bench-%03d", k)))
		if err != nil {
			return err
		}
		pops = append(pops, tagPop{k, n})
	}
	closest := func(frac float64, not ...int) int {
		best, bestD := 0, math.Inf(1)
		for _, p := range pops {
			if slices.Contains(not, p.k) {
				continue
			}
			d := math.Abs(float64(p.n)/float64(o.SKUs) - frac)
			if d < bestD {
				best, bestD = p.k, d
			}
		}
		return best
	}
	D := closest(0.5)
	A := closest(0.3, D)
	B := closest(0.15, D, A)
	C := closest(0.10, D, A, B)
	E := closest(0.05, D, A, B, C)
	rare := pops[len(pops)-1].k
	P := closest(0.3, D, A)
	name := func(k int) string { return fmt.Sprintf("bench-%03d", k) }
	var lo, hi int64
	if err := pool.QueryRow(ctx, `SELECT percentile_disc(0.25) WITHIN GROUP (ORDER BY price),
		percentile_disc(0.75) WITHIN GROUP (ORDER BY price) FROM skus`).Scan(&lo, &hi); err != nil {
		return err
	}
	pct := func(k int) string {
		for _, p := range pops {
			if p.k == k {
				return fmt.Sprintf("%.1f%%", 100*float64(p.n)/float64(o.SKUs))
			}
		}
		return "?"
	}
	fmt.Fprintf(w, "tags: A=%d (%s) B=%d (%s) C=%d (%s) D=%d (%s) E=%d (%s) rare=%d (%s) popular=%d (%s); price %d..%d (middle half)\n",
		A, pct(A), B, pct(B), C, pct(C), D, pct(D), E, pct(E), rare, pct(rare), P, pct(P), lo, hi)

	qs := []benchQuery{
		{"Q1 A and (B or C) and not D and price between",
			filter.And(filter.Tag(name(A)), filter.Or(filter.Tag(name(B)), filter.Tag(name(C))), filter.Not(filter.Tag(name(D))), filter.Range("price", lo, hi)),
			[]string{
				fmt.Sprintf("live AND %d = ANY(tags) AND (%d = ANY(tags) OR %d = ANY(tags)) AND NOT %d = ANY(tags) AND price BETWEEN %d AND %d", A, B, C, D, lo, hi),
				fmt.Sprintf("live AND tags @> '{%d}' AND tags && '{%d,%d}' AND NOT tags @> '{%d}' AND price BETWEEN %d AND %d", A, B, C, D, lo, hi),
			},
			fmt.Sprintf(`live AND price BETWEEN %d AND %d AND EXISTS (SELECT 1 FROM sku_tags t WHERE t.sku_id = s.id AND t.tag = %d)
				AND EXISTS (SELECT 1 FROM sku_tags t WHERE t.sku_id = s.id AND t.tag IN (%d, %d))
				AND NOT EXISTS (SELECT 1 FROM sku_tags t WHERE t.sku_id = s.id AND t.tag = %d)`, lo, hi, A, B, C, D)},
		{"Q2 rare and popular",
			filter.And(filter.Tag(name(rare)), filter.Tag(name(P))),
			[]string{
				fmt.Sprintf("live AND tags @> '{%d}' AND %d = ANY(tags)", rare, P),
				fmt.Sprintf("live AND tags @> '{%d,%d}'", rare, P),
			},
			fmt.Sprintf(`live AND EXISTS (SELECT 1 FROM sku_tags t WHERE t.sku_id = s.id AND t.tag = %d)
				AND EXISTS (SELECT 1 FROM sku_tags t WHERE t.sku_id = s.id AND t.tag = %d)`, rare, P)},
		{"Q3 (A or B or C or E) and not D",
			filter.And(filter.Or(filter.Tag(name(A)), filter.Tag(name(B)), filter.Tag(name(C)), filter.Tag(name(E))), filter.Not(filter.Tag(name(D)))),
			[]string{
				fmt.Sprintf("live AND (%d = ANY(tags) OR %d = ANY(tags) OR %d = ANY(tags) OR %d = ANY(tags)) AND NOT %d = ANY(tags)", A, B, C, E, D),
				fmt.Sprintf("live AND tags && '{%d,%d,%d,%d}' AND NOT tags @> '{%d}'", A, B, C, E, D),
			},
			fmt.Sprintf(`live AND EXISTS (SELECT 1 FROM sku_tags t WHERE t.sku_id = s.id AND t.tag IN (%d, %d, %d, %d))
				AND NOT EXISTS (SELECT 1 FROM sku_tags t WHERE t.sku_id = s.id AND t.tag = %d)`, A, B, C, E, D)},
	}

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "query\tform\tresult\tours ms\tours plain-BSI ms\tpg int4[] ms\tpg sku_tags ms\tspeedup\tvs sku_tags\tsame ids\t")
	speedMin, speedQ1 := math.Inf(1), math.Inf(1)
	for _, q := range qs {
		for _, form := range []string{"count", "first 1000"} {
			// ours
			var ourCount uint64
			var ourIDs []int64
			ours := make([]time.Duration, o.Runs)
			for r := range ours {
				t0 := time.Now()
				if form == "count" {
					ourCount, err = ix.Count(q.expr)
				} else {
					ourIDs, err = ix.First(q.expr, 1000)
				}
				ours[r] = time.Since(t0)
				if err != nil {
					return err
				}
			}
			// the library's plain CompareValue for the range, for comparison (Q1 only)
			plain := "-"
			if strings.HasPrefix(q.name, "Q1") && form == "count" {
				pd := make([]time.Duration, o.Runs)
				for r := range pd {
					t0 := time.Now()
					bm, err := ix.Eval(filter.And(q.expr.Args[:3]...))
					if err != nil {
						return err
					}
					bm.And(ix.PlainRange("price", lo, hi))
					pd[r] = time.Since(t0)
					if bm.GetCardinality() != ourCount {
						return fmt.Errorf("Q1 plain-BSI count %d != %d", bm.GetCardinality(), ourCount)
					}
				}
				plain = fmt.Sprintf("%.3f", ms(median(pd)))
			}
			// Postgres, best of the WHERE variants
			var best time.Duration
			same := true
			for _, where := range q.where {
				var sql string
				if form == "count" {
					sql = "SELECT count(*) FROM skus WHERE " + where
				} else {
					sql = "SELECT id FROM skus WHERE " + where + " ORDER BY ordinal LIMIT 1000"
				}
				d, cnt, ids, err := benchPG(ctx, pool, sql, form == "count", o.Runs)
				if err != nil {
					return err
				}
				if form == "count" && cnt != ourCount || form != "count" && !slices.Equal(ids, ourIDs) {
					same = false
				}
				if best == 0 || d < best {
					best = d
				}
			}
			var nsql string
			if form == "count" {
				nsql = "SELECT count(*) FROM skus s WHERE " + q.normal
			} else {
				nsql = "SELECT id FROM skus s WHERE " + q.normal + " ORDER BY ordinal LIMIT 1000"
			}
			nd, ncnt, nids, err := benchPG(ctx, pool, nsql, form == "count", max(3, o.Runs/3))
			if err != nil {
				return err
			}
			if form == "count" && ncnt != ourCount || form != "count" && !slices.Equal(nids, ourIDs) {
				same = false
			}
			ourMed := median(ours)
			speed := ms(best) / math.Max(ms(ourMed), 1e-6)
			speedMin = math.Min(speedMin, speed)
			if strings.HasPrefix(q.name, "Q1") {
				speedQ1 = math.Min(speedQ1, speed)
			}
			result := fmt.Sprint(ourCount)
			if form != "count" {
				result = fmt.Sprintf("%d ids", len(ourIDs))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\t%s\t%.2f\t%.2f\t%.0fx\t%.0fx\t%v\t\n", q.name, form, result, ms(ourMed), plain,
				ms(best), ms(nd), speed, ms(nd)/math.Max(ms(ourMed), 1e-6), same)
			if !same {
				tw.Flush()
				return errors.New("the index and Postgres disagree (see the table)")
			}
		}
	}
	tw.Flush()
	// Storage: the serialized tag bitmaps and price BSI vs the tags column and its index.
	snap, err := ix.Snapshot()
	if err != nil {
		return err
	}
	var ourBytes int64
	for _, e := range snap.Entries {
		if strings.HasPrefix(e.Key, "tag:") || e.Key == "bsi:price" {
			ourBytes += int64(len(e.Bytes))
		}
	}
	var colBytes, ginBytes, normBytes int64
	if err := pool.QueryRow(ctx, `SELECT sum(pg_column_size(tags)), pg_relation_size('skus_tags_gin'),
		pg_total_relation_size('sku_tags') FROM skus`).Scan(&colBytes, &ginBytes, &normBytes); err != nil {
		return err
	}
	ratio := float64(ourBytes) / float64(colBytes+ginBytes)
	fmt.Fprintf(w, "storage: tag bitmaps + price BSI %.1f MiB (whole snapshot %.1f MiB) vs int4[] column %.1f MiB + GIN %.1f MiB (sku_tags with indexes %.1f MiB): ratio %.3f\n",
		mib(ourBytes), mib(snap.Size()), mib(colBytes), mib(ginBytes), mib(normBytes), ratio)
	fmt.Fprintf(w, "build: from tag_bitmaps (snapshot) %.2f s; from skus rows %.2f s (attributes) + %.2f s (tag arrays); price range accelerator %.3f s\n",
		buildSnap.Seconds(), rowTimes[0].Seconds(), rowTimes[1].Seconds(), prepare.Seconds())
	fmt.Fprintf(w, "tags speedup_q1=%.1f speedup_min=%.1f storage_ratio=%.3f build_s=%.2f\n", speedQ1, speedMin, ratio, buildSnap.Seconds())
	return nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// benchPG runs sql runs times (after one warm-up) and returns the median time and the result.
func benchPG(ctx context.Context, pool *pgxpool.Pool, sql string, count bool, runs int) (time.Duration, uint64, []int64, error) {
	var cnt uint64
	var ids []int64
	ds := make([]time.Duration, 0, runs)
	for r := 0; r <= runs; r++ {
		t0 := time.Now()
		if count {
			var n int64
			if err := pool.QueryRow(ctx, sql).Scan(&n); err != nil {
				return 0, 0, nil, fmt.Errorf("%s: %w", sql, err)
			}
			cnt = uint64(n)
		} else {
			rows, err := pool.Query(ctx, sql)
			if err != nil {
				return 0, 0, nil, fmt.Errorf("%s: %w", sql, err)
			}
			ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return 0, 0, nil, fmt.Errorf("%s: %w", sql, err)
			}
		}
		if r > 0 {
			ds = append(ds, time.Since(t0))
		}
	}
	return median(ds), cnt, ids, nil
}
