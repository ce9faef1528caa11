package vectorindex

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"
)

// PlannerConfig tunes a Planner. Zero fields take the defaults stated on each.
type PlannerConfig struct {
	// PGExactMax is the candidate count up to which, without the in-memory index, pgvector
	// ranks the candidates' rows exactly; larger sets (and no filter) go through the HNSW
	// index. Default: DefaultPGExactMax (measured, see doc.go).
	PGExactMax int
	// HNSWMin, when > 0, sends candidate sets of at least this size to pgvector's HNSW index
	// even when the in-memory index is loaded. Default: 0 (never: the in-memory paths were
	// faster at every size measured).
	HNSWMin int
	// EfSearch is hnsw.ef_search, the HNSW candidate list size (at least k is used).
	// Default: 100.
	EfSearch int
	// IterativeScan is hnsw.iterative_scan: "relaxed_order" (results re-sorted here) or
	// "strict_order". Default: "relaxed_order".
	IterativeScan string
	// MaxScanTuples is hnsw.max_scan_tuples, how far an iterative scan may go to find k rows
	// in the filter before giving up; when it returns fewer than k while the filter holds more,
	// the planner ranks exactly instead. Default: 20000 (pgvector's default).
	MaxScanTuples int
	// Logger receives fallbacks. Default: slog.Default().
	Logger *slog.Logger
}

// DefaultPGExactMax is the measured crossover between pgvector's exact ranking of a candidate
// list and its filtered HNSW scan (see doc.go and `selection bench vectors`).
const DefaultPGExactMax = 5000

// WithDefaults fills zero fields with their defaults.
func (c PlannerConfig) WithDefaults() PlannerConfig {
	if c.PGExactMax == 0 {
		c.PGExactMax = DefaultPGExactMax
	}
	if c.EfSearch == 0 {
		c.EfSearch = 400
	}
	if c.IterativeScan == "" {
		c.IterativeScan = "relaxed_order"
	}
	if c.MaxScanTuples == 0 {
		c.MaxScanTuples = 20000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c PlannerConfig) validate() error {
	switch {
	case c.PGExactMax < 0 || c.HNSWMin < 0:
		return errors.New("vectorindex: negative PGExactMax or HNSWMin")
	case c.EfSearch < 1 || c.EfSearch > 1000:
		return fmt.Errorf("vectorindex: EfSearch %d outside 1..1000 (pgvector's range)", c.EfSearch)
	case c.IterativeScan != "relaxed_order" && c.IterativeScan != "strict_order" && c.IterativeScan != "off":
		return fmt.Errorf("vectorindex: IterativeScan %q, want relaxed_order, strict_order or off", c.IterativeScan)
	case c.MaxScanTuples < 1:
		return errors.New("vectorindex: MaxScanTuples must be positive")
	}
	return nil
}

// Planner answers filtered similarity searches: given the exact candidate bitmap of a filter
// it picks the in-memory index (exact float32 scoring for small sets, the quantised path for
// large ones) or, when the index is not loaded, pgvector (exact ranking of the candidates' rows
// for small sets, the HNSW index with an iterative scan and a membership check for large ones).
type Planner struct {
	pool  *pgxpool.Pool
	index *Index
	cfg   PlannerConfig
}

// NewPlanner returns a planner over pool and index (either may be nil, not both).
func NewPlanner(pool *pgxpool.Pool, index *Index, cfg PlannerConfig) (*Planner, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if pool == nil && index == nil {
		return nil, errors.New("vectorindex: a planner needs a pool or an index")
	}
	return &Planner{pool: pool, index: index, cfg: cfg}, nil
}

// Config returns the planner's configuration (with defaults filled).
func (p *Planner) Config() PlannerConfig { return p.cfg }

// Index is the planner's in-memory index (nil if none).
func (p *Planner) Index() *Index { return p.index }

// Result is a search's hits and how they were found.
type Result struct {
	Hits       []Hit
	Path       Path
	Candidates int // filter cardinality (or index size without a filter)
	Elapsed    time.Duration
}

// Choose is the path Search takes for n candidates (filtered says whether there is a filter).
func (p *Planner) Choose(n, k int, filtered bool) Path {
	if p.index != nil && p.index.Loaded() {
		if p.cfg.HNSWMin > 0 && n >= p.cfg.HNSWMin && p.pool != nil {
			return PathHNSW
		}
		return p.index.ChoosePath(n, k)
	}
	if filtered && n <= p.cfg.PGExactMax {
		return PathPGExact
	}
	return PathHNSW
}

// Search returns the k candidates most similar to query, best first (filter nil: all).
func (p *Planner) Search(ctx context.Context, query []float32, k int, filter *roaring64.Bitmap) (Result, error) {
	return p.SearchPath(ctx, query, k, filter, PathAuto)
}

// SearchPath is Search on a given path (PathAuto chooses); benchmarks compare paths with it.
func (p *Planner) SearchPath(ctx context.Context, query []float32, k int, filter *roaring64.Bitmap, path Path) (Result, error) {
	start := time.Now()
	var res Result
	if filter != nil {
		res.Candidates = int(filter.GetCardinality())
	} else if p.index != nil {
		res.Candidates = p.index.Len()
	}
	if path == PathAuto {
		path = p.Choose(res.Candidates, k, filter != nil)
	}
	var err error
	switch path {
	case PathExact, PathBinary:
		if p.index == nil {
			return res, fmt.Errorf("vectorindex: path %s needs the in-memory index", path)
		}
		res.Hits, res.Path, err = p.index.SearchPath(ctx, query, k, filter, path)
	case PathPGExact:
		res.Path = path
		res.Hits, err = p.pgExact(ctx, query, k, filter)
	case PathHNSW:
		res.Path = path
		res.Hits, err = p.hnsw(ctx, query, k, filter)
		if err == nil && len(res.Hits) < k && filter != nil && len(res.Hits) < res.Candidates {
			// The iterative scan stopped at MaxScanTuples before finding k members: rank the
			// candidates exactly instead.
			p.cfg.Logger.Debug("vectorindex: HNSW scan came back short, ranking exactly",
				"got", len(res.Hits), "k", k, "candidates", res.Candidates)
			res.Path = PathPGExact
			res.Hits, err = p.pgExact(ctx, query, k, filter)
		}
	default:
		return res, fmt.Errorf("vectorindex: unknown path %q", path)
	}
	res.Elapsed = time.Since(start)
	return res, err
}

// membership is the SQL condition and argument that restrict sku_vectors to filter's ordinals.
// Postgres hashes a constant array of 9 or more elements, so the check is O(1) per row
// (plan_cache_mode = force_custom_plan keeps the array a constant).
func membership(filter *roaring64.Bitmap, col string, argN int) (string, []any) {
	if filter == nil {
		return "TRUE", nil
	}
	ords := make([]int64, 0, filter.GetCardinality())
	it := filter.ManyIterator()
	buf := make([]uint64, 4096)
	for m := it.NextMany(buf); m > 0; m = it.NextMany(buf) {
		for _, o := range buf[:m] {
			ords = append(ords, int64(o))
		}
	}
	return fmt.Sprintf("%s = ANY($%d)", col, argN), []any{ords}
}

// denseShare is the filter density (members / ordinal span) from which the HNSW path checks
// membership here, on rows it over-fetches, instead of sending the ordinals to Postgres: a
// dense filter drops few rows, and its array costs more to send and plan (9,806 ordinals:
// 5 ms of planning) than the extra rows.
const denseShare = 0.25

func (p *Planner) needPool() error {
	if p.pool == nil {
		return errors.New("vectorindex: pgvector paths need a database pool")
	}
	return nil
}

// pgExact ranks the candidates' rows by exact cosine distance. Ordering by (distance,
// ordinal) keeps pgvector's HNSW index out of it (an index scan orders by distance alone).
// sku_vectors is not joined to skus: a join made Postgres scan all of skus (20 ms of 28 at
// 19,406 SKUs); vectors of deleted SKUs are removed by the worker (the deletion queues them).
func (p *Planner) pgExact(ctx context.Context, q []float32, k int, filter *roaring64.Bitmap) ([]Hit, error) {
	if err := p.needPool(); err != nil {
		return nil, err
	}
	cond, args := membership(filter, "v.ordinal", 3)
	var hits []Hit
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_custom_plan`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT v.ordinal, v.sku_id, 1 - (v.embedding <=> $1)
			FROM sku_vectors v WHERE `+cond+`
			ORDER BY v.embedding <=> $1, v.ordinal LIMIT $2`,
			append([]any{pgvector.NewVector(q), k}, args...)...)
		if err != nil {
			return err
		}
		hits, err = collectHits(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("vectorindex: pgvector exact search: %w", err)
	}
	return hits, nil
}

// hnsw walks pgvector's HNSW index with an iterative scan, keeping rows in the filter: a
// sparse filter goes into the query (ordinal = ANY), a dense one is checked here on
// 3k/density + 20 over-fetched rows, fetching 4 times more while too few members came back.
func (p *Planner) hnsw(ctx context.Context, q []float32, k int, filter *roaring64.Bitmap) ([]Hit, error) {
	if err := p.needPool(); err != nil {
		return nil, err
	}
	dense, density := filter == nil, 1.0
	if filter != nil {
		n := filter.GetCardinality()
		density = float64(n) / float64(filter.Maximum()-filter.Minimum()+1)
		dense = density >= denseShare
	}
	// relaxed_order returns rows roughly by distance; over-fetching and sorting here recovers
	// the ones that came a little late (recall@10 on Icecat at 50%: 0.9875 fetching 2k/density,
	// see TestPlannerRecallIcecat for the current figure).
	cond, args := "TRUE", []any(nil)
	limit := 2*k + 10
	if !dense {
		cond, args = membership(filter, "ordinal", 3)
	} else if filter != nil {
		limit = int(3*float64(k)/density) + 20
	}
	var hits []Hit
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		set := fmt.Sprintf(`SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL hnsw.ef_search = %d;
			SET LOCAL hnsw.iterative_scan = %s; SET LOCAL hnsw.max_scan_tuples = %d`,
			max(p.cfg.EfSearch, k), p.cfg.IterativeScan, p.cfg.MaxScanTuples)
		if _, err := tx.Exec(ctx, set); err != nil {
			return err
		}
		for try := 0; ; try++ {
			rows, err := tx.Query(ctx, `SELECT ordinal, sku_id, 1 - (embedding <=> $1)
				FROM sku_vectors WHERE `+cond+`
				ORDER BY embedding <=> $1 LIMIT $2`,
				append([]any{pgvector.NewVector(q), limit}, args...)...)
			if err != nil {
				return err
			}
			got, err := collectHits(rows)
			if err != nil || filter == nil {
				hits = got
				return err
			}
			hits = hits[:0]
			for _, h := range got {
				if filter.Contains(uint64(h.Ordinal)) {
					hits = append(hits, h)
				}
			}
			if len(hits) >= k || len(got) < limit || try == 3 {
				return nil
			}
			limit *= 4
		}
	})
	if err != nil {
		return nil, fmt.Errorf("vectorindex: pgvector HNSW search: %w", err)
	}
	// relaxed_order may return rows slightly out of order.
	slices.SortFunc(hits, func(a, b Hit) int {
		if better(a, b) {
			return -1
		}
		if better(b, a) {
			return 1
		}
		return 0
	})
	return hits[:min(k, len(hits))], nil
}

func collectHits(rows pgx.Rows) ([]Hit, error) {
	hits := []Hit{}
	for rows.Next() {
		var h Hit
		var s float64
		if err := rows.Scan(&h.Ordinal, &h.SKUID, &s); err != nil {
			return nil, err
		}
		h.Score = float32(s)
		hits = append(hits, h)
	}
	return hits, rows.Err()
}
