// Package evals is the offline evaluation harness: retrieval quality on judged queries and
// tagging quality, on the Icecat catalogue in testdata/icecat. Production code never imports
// it; `selection eval` and `go test ./evals/...` do.
//
//	j, bad, err := evals.ReadJudgmentsFile("evals/testdata/icecat/judgments.csv")
//	st, err := evals.NewStack(ctx, pool, emb, search.Config{}) // over a loaded catalogue
//	rep, err := evals.Evaluate(ctx, j, []evals.Method{evals.SearchMethod(st.Searcher, search.Default)}, "hybrid")
//	ndcg := evals.NDCG(ranking, j.Ratings["usb stick"], 10) // one query's ranking of SKU ids
//
// Judgments (ReadJudgments) are CSV rows query,docid,rating with ratings 0..3; a bad row is
// reported with its line number and skipped, a bad header fails the read. Metrics (NDCG,
// CondensedNDCG, Recall, ReciprocalRank) follow the usual definitions: gain 2^rating - 1,
// unjudged products count as irrelevant, nDCG is averaged over queries that have a product
// rated 1 or more, recall@50 and MRR over queries with a product rated 2 or 3 (RelevantRating).
// Queries without any relevant product are scored apart by how much they return: the mean size
// of the first page and the share of full pages (Summary.NoAnswerMeanPage, NoAnswerFullPage).
//
// Evaluate runs Methods over the queries; Stack builds the real retrieval stack over a loaded
// catalogue (lexical index, in-memory vector index, tag index, search engine) and Scenario runs
// queries through the scenario path the service uses (deterministic planner, tag-index filter,
// search). RRF and ScoreFusion are the fusions the default was measured against, and
// CrossValidation picks weights on some folds of queries and scores them on the held-out one.
// README.md holds the current figures, the floors the tests enforce and how to rerun them.
package evals
