// Package core builds the selection service's core once, for every command that runs it:
// serve and demo (with the API and ingest around it), the scenario bench and the evaluation
// harness. New takes a database pool, an embedder and a Config and builds, in dependency
// order, the in-memory vector index (or, when the catalogue's vectors do not fit its memory
// budget, nothing: the planner then searches pgvector), the vectorindex.Planner over it, the
// embedding worker (optional), the lexical index and its follower, the hybrid search engine,
// the tagger, the product-type intent resolver and the selection.Service. Stop stops what New
// started, in reverse order; a failing New stops what it had started before it returns.
//
//	c, err := core.New(ctx, pool, emb, core.Config{Follow: true})
//	defer c.Stop(ctx)
//	res, err := c.Service.Preview(ctx, plan) // or c.Searcher, c.Tags, c.Index ...
//
// Search and tagging read vectors through Core.Vectors: the in-memory index when it is loaded,
// else the planner's pgvector paths (exact ranking of up to PGExactMax candidates, HNSW with
// an iterative scan above) and single vectors read from sku_vectors by ordinal.
//
// With Config.Follow the indexes follow their tables (vector index, lexical follower and
// tagger poll, as in serve); without it they are loaded once (the evaluation harness).
package core
