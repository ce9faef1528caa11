// Package selection turns a campaign scenario into a plan (filters, semantic query, ranking),
// executes it against the tag index and the vector index, and keeps the resulting pools with
// their versions and diffs.
package selection
