package evals

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// tsRankSQL ranks live SKUs with Postgres full-text search over the same fields as the lexical
// index (title, brand, product type, description; english configuration). The query's lexemes
// are ORed (AND would lose most multi-word queries), and ts_rank orders the matches: it weighs
// term frequency and nothing like IDF, which is what this baseline is here to show.
const tsRankSQL = `
WITH q AS (
	SELECT to_tsquery('english', coalesce(nullif(array_to_string(
		tsvector_to_array(to_tsvector('english', $1)), ' | '), ''), 'zzzznomatch')) AS q
), d AS (
	SELECT id, to_tsvector('english', title || ' ' || brand || ' ' || product_type || ' ' || description) AS v
	FROM skus WHERE live
)
SELECT id FROM d, q WHERE d.v @@ q.q ORDER BY ts_rank(d.v, q.q) DESC, id LIMIT $2`

// PostgresTSRank is the Postgres full-text baseline (ts_rank) as an evaluation method, over the
// catalogue loaded in pool's schema. It computes the document vectors per query (no index), so
// it takes a few seconds for the public judgments: a baseline, not a product path.
func PostgresTSRank(pool *pgxpool.Pool) Method {
	return Method{Name: "postgres-ts_rank", Rank: func(ctx context.Context, query string, k int) (Ranked, error) {
		rows, err := pool.Query(ctx, tsRankSQL, query, k)
		if err != nil {
			return Ranked{}, fmt.Errorf("ts_rank: %w", err)
		}
		defer rows.Close()
		var r Ranked
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return Ranked{}, fmt.Errorf("ts_rank: %w", err)
			}
			r.IDs = append(r.IDs, id)
		}
		return r, rows.Err()
	}}
}
