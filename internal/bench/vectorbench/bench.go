package vectorbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selection/vectorindex"
)

// Config says what Run measures.
type Config struct {
	// SKUs is the index size: 0 (or the number of stored vectors) benches the stored vectors,
	// in memory and in pgvector; a larger number builds a synthetic in-memory index of that
	// many vectors (stored vector + N(0, Noise²) per dimension, cycling through the stored
	// ones), memory paths only.
	SKUs int
	// Queries is how many queries each row runs: stored vectors with N(0, 0.03²) noise per
	// dimension. Default: 48.
	Queries int
	// K is the number of results. Default: 10.
	K int
	// Selectivities are the filter sizes as shares of the index (1 = no filter).
	// Default: 0.0001, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.
	Selectivities []float64
	// Noise is the synthetic vectors' noise. Default: 0.01.
	Noise float64
	// PG adds the pgvector paths (exact over the candidates, HNSW iterative scan) when the
	// index holds the stored vectors. Default: false.
	PG bool
	// Seed makes the run repeatable. Default: 1.
	Seed uint64
	// Index and Planner tune what is measured.
	Index   vectorindex.IndexConfig
	Planner vectorindex.PlannerConfig
}

func (c Config) withDefaults() Config {
	if c.Queries == 0 {
		c.Queries = 48
	}
	if c.K == 0 {
		c.K = 10
	}
	if len(c.Selectivities) == 0 {
		c.Selectivities = []float64{0.0001, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1}
	}
	if c.Noise == 0 {
		c.Noise = 0.01
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

// Row is one selectivity's measurements: latency percentiles and mean recall@K against
// exact search, per path (zero when not run).
type Row struct {
	Selectivity float64
	Candidates  int
	Paths       map[vectorindex.Path]PathStats
	Chosen      vectorindex.Path // the planner's choice with the index loaded
	ChosenPG    vectorindex.Path // and without it (when PG)
}

// PathStats summarises one path over the queries.
type PathStats struct {
	P50, P95 time.Duration
	Recall   float64
}

// Report is Run's result.
type Report struct {
	Vectors     int
	Synthetic   bool
	LoadTime    time.Duration // Load from sku_vectors (or building the synthetic index)
	Kernel      string
	Rows        []Row
	QuantizedAt int // smallest candidate count where the quantised path beat exact (0: never)
	HNSWAt      int // smallest candidate count where HNSW beat pgvector exact (0: never or not run)
}

// Run measures the search paths over candidate sets of the configured selectivities and
// writes a table to w (nil: no table). Exact in-memory search is the baseline: recall is
// measured against it and latencies are also reported as ratios to it.
func Run(ctx context.Context, pool *pgxpool.Pool, w io.Writer, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	var rep Report
	if pool == nil {
		return rep, errors.New("vectorindex: bench needs the database (its stored vectors are the base set)")
	}
	stored, err := vectorindex.NewIndex(pool, cfg.Index)
	if err != nil {
		return rep, err
	}
	start := time.Now()
	if err := stored.Load(ctx); err != nil {
		return rep, err
	}
	rep.LoadTime = time.Since(start)
	base, err := presentOrdinals(ctx, pool, stored)
	if err != nil {
		return rep, err
	}
	if len(base) == 0 {
		return rep, errors.New("vectorindex: no vectors stored: run `selection load` and `selection embed` first")
	}
	// One generator, drawn from in this order: the synthetic vectors, the queries, the filters.
	rng := rand.New(rand.NewPCG(cfg.Seed, 7))
	ix, all := stored, base
	if cfg.SKUs > len(base) {
		rep.Synthetic = true
		start = time.Now()
		if ix, all, err = syntheticIndex(stored, base, cfg, rng); err != nil {
			return rep, err
		}
		rep.LoadTime = time.Since(start)
	}
	rep.Vectors = ix.Len()
	rep.Kernel = ix.Kernel()
	queries := noisyQueries(stored, base, cfg.Queries, rng)
	sw, err := newSweep(pool, ix, cfg, cfg.PG && !rep.Synthetic)
	if err != nil {
		return rep, err
	}
	for _, sel := range cfg.Selectivities {
		filter, n := randomFilter(all, sel, rng)
		row, err := sw.measure(ctx, queries, sel, filter, n)
		if err != nil {
			return rep, err
		}
		rep.Rows = append(rep.Rows, row)
		if b, e := row.Paths[vectorindex.PathBinary], row.Paths[vectorindex.PathExact]; rep.QuantizedAt == 0 && b.P50 < e.P50 && b.Recall >= 0.99 {
			rep.QuantizedAt = n
		}
		if h, e := row.Paths[vectorindex.PathHNSW], row.Paths[vectorindex.PathPGExact]; sw.withPG && rep.HNSWAt == 0 && h.P50 < e.P50 && h.Recall >= 0.99 {
			rep.HNSWAt = n
		}
	}
	if w != nil {
		rep.Print(w)
	}
	return rep, nil
}

// syntheticIndex builds an in-memory index of cfg.SKUs vectors: the stored ones at base, in
// turn, plus N(0, Noise²) per dimension, at ordinals 0..SKUs-1, which it returns too.
func syntheticIndex(stored *vectorindex.Index, base []int64, cfg Config, rng *rand.Rand) (*vectorindex.Index, []int64, error) {
	ix, err := vectorindex.NewIndex(nil, cfg.Index)
	if err != nil {
		return nil, nil, err
	}
	buf := make([]float32, ix.Config().Dim)
	for o := 0; o < cfg.SKUs; o++ {
		v, _ := stored.Vector(base[o%len(base)])
		for i := range buf {
			buf[i] = v[i] + float32(cfg.Noise*rng.NormFloat64())
		}
		if err := ix.Put(int64(o), int64(o)+1, buf); err != nil {
			return nil, nil, err
		}
	}
	ix.Recenter()
	all := make([]int64, cfg.SKUs)
	for o := range all {
		all[o] = int64(o)
	}
	return ix, all, nil
}

// noisyQueries returns n queries: stored vectors at random ordinals of base with N(0, 0.03²)
// noise per dimension.
func noisyQueries(stored *vectorindex.Index, base []int64, n int, rng *rand.Rand) [][]float32 {
	queries := make([][]float32, n)
	for i := range queries {
		v, _ := stored.Vector(base[rng.IntN(len(base))])
		q := make([]float32, len(v))
		for j := range q {
			q[j] = v[j] + float32(0.03*rng.NormFloat64())
		}
		queries[i] = q
	}
	return queries
}

// randomFilter keeps each ordinal of all with probability sel (at least one); sel >= 1 is no
// filter (nil). It returns the filter and its size.
func randomFilter(all []int64, sel float64, rng *rand.Rand) (*roaring64.Bitmap, int) {
	var filter *roaring64.Bitmap
	n := len(all)
	if sel < 1 {
		filter = roaring64.New()
		for _, o := range all {
			if rng.Float64() < sel {
				filter.Add(uint64(o))
			}
		}
		n = int(filter.GetCardinality())
		if n == 0 {
			filter.Add(uint64(all[rng.IntN(len(all))]))
			n = 1
		}
	}
	return filter, n
}

// sweep is what every selectivity is measured with: the planners (over the index, and without
// it when withPG) and the paths to run.
type sweep struct {
	mem, pg *vectorindex.Planner
	paths   []vectorindex.Path
	withPG  bool
	k       int
}

func newSweep(pool *pgxpool.Pool, ix *vectorindex.Index, cfg Config, withPG bool) (*sweep, error) {
	sw := &sweep{withPG: withPG, k: cfg.K, paths: []vectorindex.Path{vectorindex.PathExact, vectorindex.PathBinary}}
	var err error
	if sw.mem, err = vectorindex.NewPlanner(pool, ix, cfg.Planner); err != nil {
		return nil, err
	}
	if withPG {
		if sw.pg, err = vectorindex.NewPlanner(pool, nil, cfg.Planner); err != nil {
			return nil, err
		}
		sw.paths = append(sw.paths, vectorindex.PathPGExact, vectorindex.PathHNSW)
	}
	return sw, nil
}

// measure runs every query on every path within filter (n candidates; nil: all) and returns
// the row of selectivity sel: each path's latency percentiles and mean recall against exact.
func (sw *sweep) measure(ctx context.Context, queries [][]float32, sel float64, filter *roaring64.Bitmap, n int) (Row, error) {
	row := Row{Selectivity: sel, Candidates: n, Paths: map[vectorindex.Path]PathStats{}}
	times := map[vectorindex.Path][]time.Duration{}
	recalls := map[vectorindex.Path]float64{}
	for _, q := range queries {
		if err := ctx.Err(); err != nil {
			return row, err
		}
		var exact []vectorindex.Hit
		for _, p := range sw.paths {
			pl := sw.mem
			if p == vectorindex.PathPGExact || p == vectorindex.PathHNSW {
				pl = sw.pg
			}
			t0 := time.Now()
			res, err := pl.SearchPath(ctx, q, sw.k, filter, p)
			d := time.Since(t0)
			if err != nil {
				return row, fmt.Errorf("%s at selectivity %v: %w", p, sel, err)
			}
			if p == vectorindex.PathExact {
				exact = res.Hits
			}
			times[p] = append(times[p], d)
			recalls[p] += vectorindex.Recall(exact, res.Hits, 1e-4)
		}
		row.Chosen = sw.mem.Choose(n, sw.k, filter != nil)
		if sw.withPG {
			row.ChosenPG = sw.pg.Choose(n, sw.k, filter != nil)
		}
	}
	for _, p := range sw.paths {
		ts := times[p]
		slices.Sort(ts)
		row.Paths[p] = PathStats{P50: ts[len(ts)/2], P95: ts[min(len(ts)-1, int(math.Ceil(0.95*float64(len(ts))))-1)],
			Recall: recalls[p] / float64(len(queries))}
	}
	return row, nil
}

// Print writes the report as a table.
func (r Report) Print(w io.Writer) {
	kind := "stored vectors (memory and pgvector)"
	if r.Synthetic {
		kind = "synthetic: stored vectors + noise (memory only)"
	}
	fmt.Fprintf(w, "%d vectors, %s; kernel %s; index built in %s\n", r.Vectors, kind, r.Kernel, r.LoadTime.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "sel\tcandidates\texact p50\tp95\tbinary p50\tp95\trecall\tvs exact\t")
	pg := false
	for _, row := range r.Rows {
		if _, ok := row.Paths[vectorindex.PathHNSW]; ok {
			pg = true
		}
	}
	if pg {
		fmt.Fprint(tw, "pg-exact p50\tp95\trecall\thnsw p50\tp95\trecall\t")
	}
	fmt.Fprint(tw, "chosen\t")
	if pg {
		fmt.Fprint(tw, "chosen (no index)\t")
	}
	fmt.Fprintln(tw)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }
	for _, row := range r.Rows {
		e, b := row.Paths[vectorindex.PathExact], row.Paths[vectorindex.PathBinary]
		fmt.Fprintf(tw, "%g\t%d\t%s\t%s\t%s\t%s\t%.4f\t%.2fx\t", row.Selectivity, row.Candidates, ms(e.P50), ms(e.P95),
			ms(b.P50), ms(b.P95), b.Recall, float64(b.P50)/float64(max(e.P50, 1)))
		if pg {
			x, h := row.Paths[vectorindex.PathPGExact], row.Paths[vectorindex.PathHNSW]
			fmt.Fprintf(tw, "%s\t%s\t%.4f\t%s\t%s\t%.4f\t", ms(x.P50), ms(x.P95), x.Recall, ms(h.P50), ms(h.P95), h.Recall)
		}
		fmt.Fprintf(tw, "%s\t", row.Chosen)
		if pg {
			fmt.Fprintf(tw, "%s\t", row.ChosenPG)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintf(w, "quantised path first faster than exact (recall >= 0.99) at %d candidates", r.QuantizedAt)
	if pg {
		fmt.Fprintf(w, "; HNSW first faster than pgvector exact (recall >= 0.99) at %d candidates", r.HNSWAt)
	}
	fmt.Fprintln(w, " (0: not in this sweep)")
}

// presentOrdinals lists the ordinals of sku_vectors the loaded index holds, ascending.
func presentOrdinals(ctx context.Context, pool *pgxpool.Pool, ix *vectorindex.Index) ([]int64, error) {
	rows, err := pool.Query(ctx, `SELECT ordinal FROM sku_vectors ORDER BY ordinal`)
	if err != nil {
		return nil, err
	}
	ords, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	out := ords[:0]
	for _, o := range ords {
		if _, ok := ix.Vector(o); ok {
			out = append(out, o)
		}
	}
	return out, nil
}
