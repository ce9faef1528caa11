// Package evals is the offline evaluation harness: retrieval quality on judged queries
// (nDCG@10, recall@50, MRR) and tagging quality. Production code never imports it.
package evals
