// Package embedbench is `selection bench embed`: it embeds texts (the Icecat titles) with the
// configured model and times single queries. Its last line is
//
//	embed titles_per_sec=<n> gflops=<n> query_p50_ms=<n> cores=<n> kernel=<path> peak_pct=<n>
//
// The numbers behind the model's choices are in package embed's doc.
package embedbench
