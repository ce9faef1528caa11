package icecat

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selection/catalog"
	"selection/embed"
	"selection/ingest"
	"selection/vectorindex"
)

// Catalog is what Load put into a schema.
type Catalog struct {
	Products []ingest.IcecatProduct
	Vectors  map[int64][]float32 // by SKU id
	Ordinals map[int64]int64     // SKU id -> ordinal
	Model    string              // the embedder's name, stored in sku_vectors.model
}

// LoadedAt is the event time Load stamps on every product.
var LoadedAt = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Load fills the schema behind pool with the catalogue: every product through catalog.Apply
// (IcecatProduct.Patch as of LoadedAt, in batches), then every vector (the local model's, from
// the disk cache) through vectorindex.UpsertTx with the SKU's content hash, and clears the
// embedding queue entries those vectors satisfy, as the embedding worker would. Products take
// about 4 s and vectors 1 s; pgvector's HNSW index is dropped before the vectors and built again
// from its own definition after them (one bulk build, 7-9 s on two cores, is quicker than as
// many inserts): tests that do not query pgvector's index should use
// LoadWith(tb, pool, LoadOptions{DropHNSW: true}).
func Load(tb testing.TB, pool *pgxpool.Pool) *Catalog {
	tb.Helper()
	return LoadWith(tb, pool, LoadOptions{})
}

// LoadOptions tunes LoadWith.
type LoadOptions struct {
	// Embedder makes the vectors. Default: Embedder(tb), the local model.
	Embedder embed.Embedder
	// NoVectors loads the products only; their SKUs stay queued in embed_queue.
	NoVectors bool
	// DropHNSW drops the schema's HNSW index (sku_vectors_hnsw) before writing the vectors,
	// which saves most of Load's time; pgvector queries on the schema then scan exactly.
	DropHNSW bool
}

// LoadWith is Load with options.
func LoadWith(tb testing.TB, pool *pgxpool.Pool, opts LoadOptions) *Catalog {
	tb.Helper()
	ctx := context.Background()
	c := &Catalog{Products: Products(tb)}
	hashes := loadProducts(ctx, tb, pool, c)
	if opts.NoVectors {
		return c
	}
	e := opts.Embedder
	if e == nil {
		e = Embedder(tb)
	}
	var hnswDef string
	if !opts.DropHNSW {
		err := pool.QueryRow(ctx, `SELECT coalesce(pg_get_indexdef(to_regclass('sku_vectors_hnsw')), '')`).Scan(&hnswDef)
		if err != nil {
			tb.Fatalf("icecat: read the HNSW index definition: %v", err)
		}
	}
	if _, err := pool.Exec(ctx, `DROP INDEX IF EXISTS sku_vectors_hnsw`); err != nil {
		tb.Fatalf("icecat: drop HNSW index: %v", err)
	}
	loadVectors(ctx, tb, pool, c, e, hashes)
	if hnswDef != "" {
		if _, err := pool.Exec(ctx, hnswDef); err != nil {
			tb.Fatalf("icecat: build the HNSW index: %v", err)
		}
	}
	return c
}

// loadBatch is how many products or vectors go into one transaction.
const loadBatch = 2000

// loadProducts applies c.Products through catalog.Apply, fills c.Ordinals and returns every
// SKU's content hash by id.
func loadProducts(ctx context.Context, tb testing.TB, pool *pgxpool.Pool, c *Catalog) map[int64][]byte {
	tb.Helper()
	for lo := 0; lo < len(c.Products); lo += loadBatch {
		hi := min(lo+loadBatch, len(c.Products))
		patches := make([]catalog.Patch, 0, hi-lo)
		for _, p := range c.Products[lo:hi] {
			patches = append(patches, p.Patch(LoadedAt))
		}
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := catalog.Apply(ctx, tx, patches)
			return err
		})
		if err != nil {
			tb.Fatalf("icecat: load products %d..%d: %v", lo, hi, err)
		}
	}
	rows, err := pool.Query(ctx, `SELECT id, ordinal, content_hash FROM skus`)
	if err != nil {
		tb.Fatalf("icecat: %v", err)
	}
	hashes := map[int64][]byte{}
	c.Ordinals = map[int64]int64{}
	for rows.Next() {
		var id, o int64
		var h []byte
		if err := rows.Scan(&id, &o, &h); err != nil {
			tb.Fatalf("icecat: %v", err)
		}
		c.Ordinals[id], hashes[id] = o, h
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("icecat: %v", err)
	}
	return hashes
}

// loadVectors writes e's vectors of c.Products (with their content hashes) into sku_vectors,
// fills c.Vectors and c.Model, and clears the embed_queue entries they satisfy.
func loadVectors(ctx context.Context, tb testing.TB, pool *pgxpool.Pool, c *Catalog, e embed.Embedder, hashes map[int64][]byte) {
	tb.Helper()
	c.Vectors = Vectors(tb, e)
	c.Model = e.Name()
	vecs := make([]vectorindex.Vector, 0, len(c.Products))
	for _, p := range c.Products {
		vecs = append(vecs, vectorindex.Vector{SKUID: p.ID, Model: c.Model, ContentHash: hashes[p.ID], Embedding: c.Vectors[p.ID]})
	}
	for lo := 0; lo < len(vecs); lo += loadBatch {
		hi := min(lo+loadBatch, len(vecs))
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			res, err := vectorindex.UpsertTx(ctx, tx, vecs[lo:hi])
			if err == nil && len(res.Rejected) > 0 {
				tb.Logf("icecat: %d vectors rejected, first: %+v", len(res.Rejected), res.Rejected[0])
			}
			return err
		})
		if err != nil {
			tb.Fatalf("icecat: load vectors: %v", err)
		}
	}
	if _, err := pool.Exec(ctx, `DELETE FROM embed_queue q USING sku_vectors v
		WHERE v.sku_id = q.sku_id AND v.content_hash = q.content_hash`); err != nil {
		tb.Fatalf("icecat: clear embed_queue: %v", err)
	}
}
