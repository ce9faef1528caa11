// Package vectorindex keeps SKU embeddings in pgvector (sku_vectors, vector(512), HNSW with
// cosine distance): upserts, exact search over an id set, approximate search with iterative
// index scans, and the planner that picks between them.
package vectorindex
