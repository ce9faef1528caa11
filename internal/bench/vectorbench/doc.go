// Package vectorbench is `selection bench vectors`: the vector search paths (in-memory exact
// and quantised, pgvector exact and HNSW) by candidate-set size, on the stored vectors or on a
// synthetic index built from them: latency, recall@10 against exact scoring, and the
// crossovers the planner's defaults come from (package vectorindex's doc has the table).
package vectorbench
