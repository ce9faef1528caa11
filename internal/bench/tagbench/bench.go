package tagbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selection/filter"
)

// Config is what the bench loads and measures (the flags of `selection bench tags`).
type Config struct {
	SKUs, Tags, Runs int     // synthetic SKUs, tags, timed runs per query
	PerSKU, Zipf     float64 // mean tags per SKU, Zipf exponent of tag popularity
	Seed             uint64  // random seed of the synthetic catalogue
	Reload           bool    // drop and reload the schema even if it is there
	Schema           string  // schema to load into
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

// Run times the bench queries against the index (loaded from its snapshot, as the service
// starts) and against Postgres (the int4[] column and the sku_tags table), checks that both give
// the same answers, and prints the table, the storage and build figures, and a summary line.
func Run(ctx context.Context, pool *pgxpool.Pool, o Config, w io.Writer) error {
	ix, bt, err := buildIndex(ctx, pool, o, w)
	if err != nil {
		return err
	}
	t, err := pickTags(ctx, pool, ix, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "tags: A=%d (%s) B=%d (%s) C=%d (%s) D=%d (%s) E=%d (%s) rare=%d (%s) popular=%d (%s); price %d..%d (middle half)\n",
		t.A, t.pct(t.A), t.B, t.pct(t.B), t.C, t.pct(t.C), t.D, t.pct(t.D), t.E, t.pct(t.E), t.rare, t.pct(t.rare), t.P, t.pct(t.P), t.lo, t.hi)
	speedQ1, speedMin, err := measureQueries(ctx, pool, ix, o, t, w)
	if err != nil {
		return err
	}
	ratio, err := reportStorage(ctx, pool, ix, w)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "build: from tag_bitmaps (snapshot) %.2f s; from skus rows %.2f s (attributes) + %.2f s (tag arrays); price range accelerator %.3f s\n",
		bt.snapshot.Seconds(), bt.rows[0].Seconds(), bt.rows[1].Seconds(), bt.prepare.Seconds())
	fmt.Fprintf(w, "tags speedup_q1=%.1f speedup_min=%.1f storage_ratio=%.3f build_s=%.2f\n", speedQ1, speedMin, ratio, bt.snapshot.Seconds())
	return nil
}

// buildTimes are the times of building the index: from the snapshot, preparing the price
// range accelerator, and from the skus rows (attributes, tag arrays).
type buildTimes struct {
	snapshot, prepare time.Duration
	rows              [2]time.Duration
}

// buildIndex loads the index the way the service starts (the snapshot in tag_bitmaps, saved
// anew when its layout is outdated) and, for comparison, times building it from the rows of skus.
func buildIndex(ctx context.Context, pool *pgxpool.Pool, o Config, w io.Writer) (*filter.Index, buildTimes, error) {
	var bt buildTimes
	store := filter.NewStore(pool)
	start := time.Now()
	ix, _, err := store.LoadSnapshot(ctx)
	if errors.Is(err, filter.ErrOutdated) {
		// The data set outlived a change of the snapshot's layout: save it anew, then time the load.
		fmt.Fprintf(w, "the saved index snapshot is from an older version (%v): saving a new one\n", err)
		if err := benchSaveSnapshot(ctx, pool, o); err != nil {
			return nil, bt, err
		}
		start = time.Now()
		ix, _, err = store.LoadSnapshot(ctx)
	}
	if err != nil {
		return nil, bt, err
	}
	bt.snapshot = time.Since(start)
	start = time.Now()
	if err := ix.Prepare("price"); err != nil {
		return nil, bt, err
	}
	bt.prepare = time.Since(start)
	if _, bt.rows, err = benchBuildFromSKUs(ctx, pool, o); err != nil {
		return nil, bt, err
	}
	return ix, bt, nil
}

// benchTags are the tags the queries use, chosen by share of the SKUs (D about half, A 30%, B
// 15%, C 10%, E 5%, rare the least common, P another near 30%), and the middle half of prices.
type benchTags struct {
	A, B, C, D, E, rare, P int
	lo, hi                 int64
	pops                   []tagPop
	skus                   int
}

// tagPop is a tag and its number of members.
type tagPop struct {
	k int
	n uint64
}

// pickTags counts every tag's members and picks the tags of the queries.
func pickTags(ctx context.Context, pool *pgxpool.Pool, ix *filter.Index, o Config) (benchTags, error) {
	t := benchTags{skus: o.SKUs}
	for k := 1; k <= o.Tags; k++ {
		n, err := ix.Count(filter.Tag(fmt.Sprintf("bench-%03d", k)))
		if err != nil {
			return t, err
		}
		t.pops = append(t.pops, tagPop{k, n})
	}
	t.D = t.closest(0.5)
	t.A = t.closest(0.3, t.D)
	t.B = t.closest(0.15, t.D, t.A)
	t.C = t.closest(0.10, t.D, t.A, t.B)
	t.E = t.closest(0.05, t.D, t.A, t.B, t.C)
	t.rare = t.pops[len(t.pops)-1].k
	t.P = t.closest(0.3, t.D, t.A)
	if err := pool.QueryRow(ctx, `SELECT percentile_disc(0.25) WITHIN GROUP (ORDER BY price),
		percentile_disc(0.75) WITHIN GROUP (ORDER BY price) FROM skus`).Scan(&t.lo, &t.hi); err != nil {
		return t, err
	}
	return t, nil
}

// closest returns the tag whose share of the SKUs is nearest frac, other than those in not.
func (t *benchTags) closest(frac float64, not ...int) int {
	best, bestD := 0, math.Inf(1)
	for _, p := range t.pops {
		if slices.Contains(not, p.k) {
			continue
		}
		d := math.Abs(float64(p.n)/float64(t.skus) - frac)
		if d < bestD {
			best, bestD = p.k, d
		}
	}
	return best
}

// pct is tag k's share of the SKUs, as a percentage.
func (t *benchTags) pct(k int) string {
	for _, p := range t.pops {
		if p.k == k {
			return fmt.Sprintf("%.1f%%", 100*float64(p.n)/float64(t.skus))
		}
	}
	return "?"
}

// queries are the three bench queries over the tags of t, each as an Expr, its Postgres WHERE
// variants over the int4[] column and its sku_tags form.
func (t *benchTags) queries() []benchQuery {
	A, B, C, D, E, rare, P, lo, hi := t.A, t.B, t.C, t.D, t.E, t.rare, t.P, t.lo, t.hi
	name := func(k int) string { return fmt.Sprintf("bench-%03d", k) }
	return []benchQuery{
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
}

// measureQueries times every query in both forms (count, first 1000) and prints the table; it
// returns the smallest speedup over Postgres of Q1 and of all, and an error when the index and
// Postgres disagree.
func measureQueries(ctx context.Context, pool *pgxpool.Pool, ix *filter.Index, o Config, t benchTags, w io.Writer) (speedQ1, speedMin float64, err error) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "query\tform\tresult\tours ms\tours plain-BSI ms\tpg int4[] ms\tpg sku_tags ms\tspeedup\tvs sku_tags\tsame ids\t")
	speedMin, speedQ1 = math.Inf(1), math.Inf(1)
	for _, q := range t.queries() {
		for _, form := range []string{"count", "first 1000"} {
			m, err := timeOurs(ix, q, form, o.Runs, t.lo, t.hi)
			if err != nil {
				return 0, 0, err
			}
			if err := m.timePostgres(ctx, pool, q, form, o.Runs); err != nil {
				return 0, 0, err
			}
			speed := ms(m.best) / math.Max(ms(m.ourMed), 1e-6)
			speedMin = math.Min(speedMin, speed)
			if strings.HasPrefix(q.name, "Q1") {
				speedQ1 = math.Min(speedQ1, speed)
			}
			result := fmt.Sprint(m.ourCount)
			if form != "count" {
				result = fmt.Sprintf("%d ids", len(m.ourIDs))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\t%s\t%.2f\t%.2f\t%.0fx\t%.0fx\t%v\t\n", q.name, form, result, ms(m.ourMed), m.plain,
				ms(m.best), ms(m.normal), speed, ms(m.normal)/math.Max(ms(m.ourMed), 1e-6), m.same)
			if !m.same {
				tw.Flush()
				return 0, 0, errors.New("the index and Postgres disagree (see the table)")
			}
		}
	}
	tw.Flush()
	return speedQ1, speedMin, nil
}

// queryTimes are one query's results and median times in one form.
type queryTimes struct {
	ourCount uint64
	ourIDs   []int64
	ourMed   time.Duration
	plain    string        // the plain-BSI time of Q1's count, in ms, or "-"
	best     time.Duration // Postgres, the fastest of the int4[] WHERE variants
	normal   time.Duration // Postgres, the sku_tags form
	same     bool          // Postgres gave our count or ids
}

// timeOurs times the query on the index runs times and, for Q1's count, the same with the
// library's plain CompareValue for the price range.
func timeOurs(ix *filter.Index, q benchQuery, form string, runs int, lo, hi int64) (queryTimes, error) {
	var m queryTimes
	var err error
	ours := make([]time.Duration, runs)
	for r := range ours {
		t0 := time.Now()
		if form == "count" {
			m.ourCount, err = ix.Count(q.expr)
		} else {
			m.ourIDs, err = ix.First(q.expr, 1000)
		}
		ours[r] = time.Since(t0)
		if err != nil {
			return m, err
		}
	}
	m.ourMed = median(ours)
	m.plain = "-"
	if strings.HasPrefix(q.name, "Q1") && form == "count" {
		pd := make([]time.Duration, runs)
		for r := range pd {
			t0 := time.Now()
			bm, err := ix.Eval(filter.And(q.expr.Args[:3]...))
			if err != nil {
				return m, err
			}
			bm.And(ix.PlainRange("price", lo, hi))
			pd[r] = time.Since(t0)
			if bm.GetCardinality() != m.ourCount {
				return m, fmt.Errorf("Q1 plain-BSI count %d != %d", bm.GetCardinality(), m.ourCount)
			}
		}
		m.plain = fmt.Sprintf("%.3f", ms(median(pd)))
	}
	return m, nil
}

// timePostgres times the query's WHERE variants (keeping the fastest) and its sku_tags form on
// Postgres, and records whether they all gave our result.
func (m *queryTimes) timePostgres(ctx context.Context, pool *pgxpool.Pool, q benchQuery, form string, runs int) error {
	count := form == "count"
	agrees := func(cnt uint64, ids []int64) bool {
		return count && cnt == m.ourCount || !count && slices.Equal(ids, m.ourIDs)
	}
	m.same = true
	for _, where := range q.where {
		sql := "SELECT id FROM skus WHERE " + where + " ORDER BY ordinal LIMIT 1000"
		if count {
			sql = "SELECT count(*) FROM skus WHERE " + where
		}
		d, cnt, ids, err := benchPG(ctx, pool, sql, count, runs)
		if err != nil {
			return err
		}
		if !agrees(cnt, ids) {
			m.same = false
		}
		if m.best == 0 || d < m.best {
			m.best = d
		}
	}
	nsql := "SELECT id FROM skus s WHERE " + q.normal + " ORDER BY ordinal LIMIT 1000"
	if count {
		nsql = "SELECT count(*) FROM skus s WHERE " + q.normal
	}
	nd, ncnt, nids, err := benchPG(ctx, pool, nsql, count, max(3, runs/3))
	if err != nil {
		return err
	}
	if !agrees(ncnt, nids) {
		m.same = false
	}
	m.normal = nd
	return nil
}

// reportStorage prints the size of the serialized tag bitmaps and price BSI against the tags
// column and its index (and the sku_tags table), and returns the first ratio.
func reportStorage(ctx context.Context, pool *pgxpool.Pool, ix *filter.Index, w io.Writer) (float64, error) {
	snap, err := ix.Snapshot()
	if err != nil {
		return 0, err
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
		return 0, err
	}
	ratio := float64(ourBytes) / float64(colBytes+ginBytes)
	fmt.Fprintf(w, "storage: tag bitmaps + price BSI %.1f MiB (whole snapshot %.1f MiB) vs int4[] column %.1f MiB + GIN %.1f MiB (sku_tags with indexes %.1f MiB): ratio %.3f\n",
		mib(ourBytes), mib(snap.Size()), mib(colBytes), mib(ginBytes), mib(normBytes), ratio)
	return ratio, nil
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
