// Package pgcache is an embed.Cache kept in Postgres, in the table
//
//	CREATE TABLE embedding_cache (
//	    model       text        NOT NULL,
//	    text_sha256 bytea       NOT NULL,
//	    embedding   vector      NOT NULL,
//	    created_at  timestamptz NOT NULL DEFAULT now(),
//	    PRIMARY KEY (model, text_sha256)
//	);
//
// which the project's migrations create. Every Get and Put is one
// statement (one round trip) for up to MaxBatch keys: lookups pass the
// hashes as one bytea[] parameter (the primary key answers
// model = $1 AND text_sha256 = ANY($2)), inserts unnest parallel arrays
// with ON CONFLICT DO NOTHING. Vectors go in as pgvector's text form and
// come back as real[], so the pool needs no pgvector type registration.
package pgcache

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"

	"selection/embed"
)

// MaxBatch is the number of keys sent in one statement; larger calls are
// split.
const MaxBatch = 5000

// Cache implements embed.Cache on a pgx pool.
type Cache struct {
	pool *pgxpool.Pool
}

var _ embed.Cache = (*Cache)(nil)

// New returns a Cache using pool, whose search_path must reach the
// embedding_cache table.
func New(pool *pgxpool.Pool) *Cache { return &Cache{pool: pool} }

const getSQL = `SELECT text_sha256, embedding::real[]
FROM embedding_cache
WHERE model = $1 AND text_sha256 = ANY($2::bytea[])`

const putSQL = `INSERT INTO embedding_cache (model, text_sha256, embedding)
SELECT $1, u.h, u.v::vector
FROM unnest($2::bytea[], $3::text[]) AS u(h, v)
ON CONFLICT (model, text_sha256) DO NOTHING`

// Get implements embed.Cache.
func (c *Cache) Get(ctx context.Context, model string, hashes []embed.Hash) (map[embed.Hash][]float32, error) {
	out := make(map[embed.Hash][]float32, len(hashes))
	for lo := 0; lo < len(hashes); lo += MaxBatch {
		chunk := hashes[lo:min(lo+MaxBatch, len(hashes))]
		keys := make([][]byte, len(chunk))
		for i := range chunk {
			keys[i] = chunk[i][:]
		}
		rows, err := c.pool.Query(ctx, getSQL, model, keys)
		if err != nil {
			return nil, fmt.Errorf("pgcache: get: %w", err)
		}
		for rows.Next() {
			var h []byte
			var v []float32
			if err := rows.Scan(&h, &v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("pgcache: get: scan: %w", err)
			}
			var k embed.Hash
			if len(h) != len(k) {
				rows.Close()
				return nil, fmt.Errorf("pgcache: get: stored hash has %d bytes, want %d", len(h), len(k))
			}
			copy(k[:], h)
			out[k] = v
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("pgcache: get: %w", err)
		}
	}
	return out, nil
}

// Put implements embed.Cache.
func (c *Cache) Put(ctx context.Context, model string, entries []embed.CacheEntry) error {
	for lo := 0; lo < len(entries); lo += MaxBatch {
		chunk := entries[lo:min(lo+MaxBatch, len(entries))]
		keys := make([][]byte, len(chunk))
		vecs := make([]string, len(chunk))
		var buf []byte
		for i, e := range chunk {
			if len(e.Vector) == 0 {
				return errors.New("pgcache: put: empty vector")
			}
			keys[i] = e.Hash[:]
			buf = appendVector(buf[:0], e.Vector)
			vecs[i] = string(buf)
		}
		if _, err := c.pool.Exec(ctx, putSQL, model, keys, vecs); err != nil {
			return fmt.Errorf("pgcache: put: %w", err)
		}
	}
	return nil
}

// appendVector writes v in pgvector's text form "[x,y,...]", each float32
// with the fewest digits that round-trip exactly.
func appendVector(b []byte, v []float32) []byte {
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
	}
	return append(b, ']')
}
