// Package ingest brings product data in: the versioned event schema, the Kafka consumer
// (franz-go), batch files, dead letters, and replay of the sku_events table.
//
// A Consumer applies a topic's events to the catalogue in batches; a batch file goes through
// the same apply path:
//
//	c, err := ingest.NewConsumer(pool, ingest.ConsumerConfig{Brokers: []string{"127.0.0.1:9092"}, Topic: "sku-events"})
//	err = c.Start(ctx) // consumes in the background until c.Stop(ctx)
//
//	w, err := ingest.NewWriter(pool, ingest.WriterConfig{})
//	res, err := ingest.LoadFile(ctx, w, "products.jsonl", ingest.LoadConfig{Tier: ingest.TierBatch})
//
// # Events
//
// Every change is an event in a versioned JSON envelope ({"v":1, "event_id", "kind", "sku_id",
// "market", "event_time", "data"}; schema/events.schema.json, embedded as EventSchema). The kinds
// are sku.upsert (any non-empty subset of a SKU's fields), sku.delete, price.update,
// stock.update (absolute levels, never deltas, so redelivery and replay are harmless) and
// metrics.update (a full snapshot of sales, GMV and views over 1 h, 24 h and 7 d, and the
// rating). DecodeEvent validates strictly (unknown fields and kinds, wrong types, negative money,
// unknown markets, event times more than 5 minutes in the future are errors that name the field)
// and maps each event to a catalog.Patch. Each kind's payload is one struct (UpsertData,
// PriceData, StockData, MetricsData, DeleteData) that producers fill and the kind's decoder
// (payload.go) reads back and maps onto the patch. TestSchemaAgreesWithDecoder keeps the JSON Schema and
// the decoder in step on 58 valid and invalid samples. Events are small flat objects, so a
// validating scanner decodes the common shape without encoding/json's maps and reflection
// (BenchmarkDecodeEvent; FuzzFastPathAgrees checks both paths give the same answer on every
// input).
//
// # One apply path
//
// Kafka, batch files and (for the catalogue half) replay all go through ApplyBatch, inside one
// transaction per batch: COPY the valid events into a temporary stage, one INSERT into sku_events
// with ON CONFLICT (event_id) DO NOTHING (a seen event id is a no-op; when the row count shows
// some were seen, the rows this transaction wrote are found by xid), catalog.Apply of the new
// events' patches in order (event-time guards per field group; text changes queue embeddings,
// price, stock and metrics never do), and the rejected records into dead_letters (unique by
// source, so a redelivered batch does not record them twice: migration 00004; outside Kafka the
// source carries a digest of the rejected bytes, "file:<path>:<line>#<16 hex>", because a
// corrected file of the same name puts other bytes on that line). Writer retries
// what may pass (lost connections, a restarting server, deadlocks) with jittered exponential
// backoff from 100 ms to 5 s, and when the database refuses a batch for its data (SQLSTATE 22 or
// 23) applies it record by record under savepoints so that the refused records become dead
// letters and the rest goes in.
//
// # Kafka
//
// Consumer is a consumer-group member (franz-go) that polls at most MaxPollRecords (20,000)
// records, applies each partition's share in a transaction of its own, the partitions
// concurrently (records are keyed by SKU id, so one SKU's events stay in order in one
// partition), and commits the offsets only after the database commit; rebalances wait for that
// (kgo.BlockRebalanceOnPoll). Delivery is at least once and the apply idempotent, so every event
// takes effect exactly once: a batch abandoned before its commit is redelivered whole, a batch
// committed but not acknowledged to Kafka is redelivered and skipped. Bad records go to
// dead_letters in the batch's transaction and to <topic>.dlq (reason, source topic, partition,
// offset and size in dlq.* headers), produced while the batch is written; a poison record, one
// that decodes but that the database refuses (the Writer's record-by-record path), keeps its
// bytes as received in dead_letters and goes to <topic>.dlq once the batch is committed, while
// the rest of its batch lands (TestFinding17PoisonRecordAfterDecoding). A record over
// MaxRecordBytes (256 KiB; the largest Icecat product as an event is 15 KB) is not decoded: it
// is dead-lettered by reference, keeping its first 1 KiB (dlq.by-reference), so a record near
// Kafka's 1 MB limit, whose full copy plus its reason would not fit the topic, cannot jam the
// partition. A dead letter the topic refuses as too large goes again by reference; other
// failures are retried with backoff, at most DLQAttempts (5) attempts of DLQAttemptTimeout
// (10 s) each, then the dead letters stay in dead_letters only (logged and counted as
// selection_ingest_dlq_failures_total) and the offset moves on; while the topic keeps failing,
// each batch tries once. Only the database failing beyond retrying stops the consumer (and turns
// /readyz red). Metrics counts events, duplicates, dead letters, batches, retries, the last
// commit, the lag and the freshness (event time to commit); after a commit whose answer was
// lost, its retry counts the events as duplicates, so applied + duplicates is the exact total.
//
// When no brokers are configured, the service runs franz-go's kfake in-process as a single
// broker on 127.0.0.1 (StartEmbeddedBroker) with a data directory, so topics, records and
// committed offsets survive a restart; a lock file keeps a second process out. It keeps each
// partition's newest EmbeddedRetentionBytes (256 MiB): kfake holds an index entry in memory per
// batch of its log, so an unbounded log would grow the heap with every event. With brokers
// configured, the same consumer talks to a real cluster.
//
// # Files
//
// LoadFile reads Icecat JSON arrays (plain or zipped), JSONL events and CSV files (a header row;
// see CSVColumns) in batches of 2,000 through the same path, recording the tier (batch, hourly or
// realtime). Rows of files without event ids get ids derived from their content and event time
// (by default the file's modification time, when the snapshot was taken), so loading a file twice
// records nothing new while a changed row is a new event. Sources name the record exactly
// (file:<path>:<line>; for Icecat, the product's index in the array).
//
// # Replay
//
// Replay rebuilds skus from sku_events in one transaction that locks skus against writers (ingest
// waits) while readers keep the old state. From seq 0 it resets every SKU that has events to its
// empty state, keeping the row, id and ordinal (ordinals are never reassigned, so every bitmap
// stays valid), and re-applies all events in seq order with the live code; from a later seq it
// re-applies over the current state (a restored backup), the guards skipping what is already
// there. Re-applied text queues embeddings again; the queue then keeps only SKUs whose stored
// vector does not match their text. TestReplayEqualsLive shows the rebuilt table equals the
// live-applied one, column for column.
//
// # Simulator
//
// Simulator produces a live stream for a loaded catalogue: price moves and flash discounts,
// orders (stock down, sales and GMV up, windows decaying with their length), restocks, views and
// ratings, title edits (which queue embeddings), new SKUs, deletions and about 1.5% malformed
// records, over Zipf-popular SKUs, reproducible by seed.
//
// # Figures
//
// `selection bench ingest` (internal/bench/ingestbench) measures Kafka (kfake) -> Postgres for
// price and stock events, with a one-row-per-transaction consumer as the baseline in the same
// run. The package README and the top-level README's figures table have the results; most of
// the time is Postgres's, in the guarded UPDATE of skus and the sku_events insert.
//
// # Icecat
//
// ReadIcecat and ReadIcecatDir stream the Icecat open catalogue (19,406 real products in four
// zipped JSON arrays) one product at a time with a token-level json.Decoder, so memory stays at
// one product however large the file. A product that cannot be decoded (a non-numeric id, a
// price given as a string, no title) is reported as a ProductError with its file and index, and
// the others are read regardless.
//
// Icecat has products, brands, descriptions, attributes and US prices, but no markets, stock,
// list prices, ratings or sales. IcecatProduct.Patch keeps the price in US cents with currency
// USD and adds deterministic generated facts (IcecatProduct.Facts) from a SplitMix64 hash of the
// product id, so every run gives the same values: the market (uniform over SG MY TH ID PH VN),
// the list price (30% of products discounted 5-50%), the stock (8% out of stock, the rest 1-500,
// mostly under 60) and heavy-tailed sales, GMV, views and ratings (15% unrated). The SKU's
// attributes say so: "_generated" lists the generated fields and "_source" is "icecat". The SKU
// id is the Icecat id, which the relevance judgments reference.
package ingest
