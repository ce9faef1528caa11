// Package search is the ranking core the selection engine calls: given a query text and an
// optional candidate bitmap of ordinals (the plan's exact filter), it ranks products by fusing
// lexical BM25F (package lexical) with USE-Lite dense similarity (package vectorindex), gives
// the list a confidence, and cuts low-confidence lists short instead of padding them with junk.
//
// A Searcher is built over the two indexes and the embedder that made the vectors:
//
//	eng, err := search.New(lex, vix, emb, search.Config{}) // *lexical.Index, *vectorindex.Index, embed.Embedder
//	res, err := eng.Search(ctx, search.Request{Text: "gaming mouse", K: 50, Candidates: bm})
//	for _, h := range res.Hits {
//		fmt.Println(h.SKUID, h.Score, h.Why)
//	}
//	// res.Confidence: 1 when some product holds every query word; res.Truncated: the cut
//	// below left products out.
//
// # The default method ("hybrid"), chosen by measurement
//
// The public Icecat judgments (evals/README.md has the figures and the commands) compared BM25F
// alone, USE-Lite dense alone, Postgres ts_rank, reciprocal-rank fusion (plain and weighted),
// min-max score fusion and the stages below with and without each signal.
//
// The embedding model is weak on short queries, so every fusion that lets it nominate products
// (RRF, score fusion) loses to BM25. What works is to let lexical matching
// decide the candidates and use the embeddings to order them, and to compare products with
// products rather than with the query:
//
//  1. Lexical evidence l = 0.5 * BM25 / best BM25 + 0.5 * coverage, where coverage is the share
//     of the query's IDF mass a product matches: a coordination factor, so products holding
//     every query word come before those holding the rarest one many times.
//  2. Stage 1 scores every lexical match (up to 1,000) by l + 0.2 * cos(query, product).
//  3. Stage 2 re-ranks the first 50 by adding 0.5 * cos(centroid, product), the centroid being
//     the mean vector of the 20 best BM25 matches: pseudo-relevance feedback (Rocchio) in
//     embedding space. Titles embed far better against titles than against two-word queries;
//     this is the step that gains most. Re-ranking only the first 50 keeps the set
//     of the first 50, hence recall@50, exactly that of stage 1.
//
// Few parameters, fitted by 2-fold cross-validation over queries (folds by a hash of the query
// text) on a grid of query weight x feedback weight; the defaults (0.2, 0.5) sit between the two
// folds' choices (the folds and their held-out scores are in evals/README.md). The coverage mix
// (equal parts), the feedback depth (20, the usual order of magnitude for pseudo-relevance
// feedback) and the re-rank depth (50, the recall cut) were not tuned per query set.
//
// # Confidence and the cut
//
// Each result carries a confidence: the best product's coverage of the query's words, 1 when
// some product holds them all. A query's similarity to a product is judged against its
// similarity to ordinary products: the mean and standard deviation of the cosine over a fixed
// sample of 2,048 catalogue products give a z-score per product.
//
//   - Some product holds every query word: the list is kept whole.
//   - No product holds every word (confidence < 1): only products at least 3 standard
//     deviations above the query's mean similarity stay (one-sided p = 0.0013); Truncated says
//     so.
//   - No query word occurs in the catalogue (confidence 0, "netflix"): only products the
//     embedding alone rates above sqrt(2 ln N) standard deviations, the maximum expected of N
//     ordinary products by chance (4.4 for 19,406), are returned. The same bar admits
//     semantic-only products after the lexical ones when lexical matching finds fewer than K.
//
// Queries without any relevant product whose words all occur together in some product
// ("printer", "flat screen tv") are answered lexically and kept: the embedding does not separate
// them from answerable queries. Requiring the words in a product's name rather than anywhere
// fills fewer such pages but loses answerable queries that match only descriptions; rejected
// (evals/README.md).
//
// # Cost
//
// A hybrid query costs one query embedding (most of it), one lexical search, two filtered dense
// searches (the query's similarity to the lexical matches, the feedback centroid's to the
// head) and a calibration: one filtered dense search over 2,048 vectors, cached by query text.
// BenchmarkIcecat measures the methods; the figures are in the README's figures table.
//
// # Intents
//
// Intents (intent.go) resolves a scenario's product text to the product types it means: a
// type is named when a noun phrase's head is the type's head (exact, subtype, supertype or
// sibling against the phrase), and every type also scores its share of the query's best
// lexical matches and the query's similarity to its centroid. A feed's type is also named by
// the head of the type its SKUs' titles say instead (prodtype.Type.Titled: "motherboards" names
// the feed's "desktop board"). The weights were fitted by
// cross-validation over the campaign scenarios; the figures and the failure cases are in
// evals/README.md ("Pools").
package search
