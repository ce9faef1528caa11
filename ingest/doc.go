// Package ingest brings product data in: the versioned event schema, the Kafka consumer
// (franz-go), batch files, dead letters, and replay of the sku_events table.
package ingest
