// Package tagbench is `selection bench tags`: a synthetic catalogue (1M SKUs, 200 tags with
// Zipf popularity) loaded once into a schema of its own, and the tag index's bitmap queries
// timed against Postgres answering the same filters with int4[] + GIN and with a sku_tags
// table.
package tagbench
