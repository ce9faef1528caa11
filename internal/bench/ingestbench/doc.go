// Package ingestbench is `selection bench ingest`: Kafka (the in-process kfake broker) into
// Postgres for price and stock events, through ingest's exported consumer: the throughput of a
// backlog consumed by a warm consumer, the freshness of a live stream at a fixed rate, and a
// one-row-per-transaction consumer (naiveApply, kept here, not in package ingest) as the
// baseline in the same run. The figures are in package ingest's doc.
package ingestbench
