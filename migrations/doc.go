// Package migrations holds the numbered SQL files that define the service's schema, embedded
// with //go:embed and applied with goose (github.com/pressly/goose/v3) through its Provider API.
//
// Each file is one step with an Up and a Down section. The schema:
//
//   - 00001 skus (64-bit id, dense ordinal from sku_ordinal_seq, market, money in minor units,
//     attributes jsonb, a generated content hash of the embeddable text, per-field-group event
//     times and a tombstone), sku_events (the replayable incremental table) and dead_letters;
//   - 00002 sku_vectors (vector(512), HNSW, cosine), embed_queue and embedding_cache;
//   - 00003 tags, tag_bitmaps (serialized roaring64 of ordinals), pools and pool_versions;
//   - 00004-00007 ingest, vector and tagger state, API keys;
//   - 00008 (Go, hnsw.go) the HNSW index rebuilt with ef_construction 128, concurrently on a
//     large table;
//   - 00009 tag names unique without case;
//   - 00011 a pool's edit revision (the API's ETag, If-Match) and the key that wrote it;
//   - 00012 type_models (the learned product-type vocabulary) and sku_types (the neighbours'
//     votes), shared by the replicas of a database;
//   - 00013 pool_versions.delta: versions before the current one stored as reverse deltas;
//   - 00014 pool_versions.checked_at: when a refresh last wrote or confirmed the version;
//   - 00015 event_retention: the newest sku_events seq retention pruned (a full replay refuses).
//
// The vector extension itself is created by scripts/setup.sh as the database superuser, because
// the service's role is not one; the first migration only checks for it. Migrating down to zero
// leaves the extension in place.
//
// Run them with `selection migrate up|down|status`; tests run them in a schema of their own
// (internal/testdb), so the goose version table lives beside the tables it describes.
package migrations
