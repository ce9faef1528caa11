-- +goose Up
-- Where the engine's in-memory indexes stood when a pool version was ranked: every sku_events
-- row of a transaction visible in event_snapshot, every sku_vectors row stamped before
-- vectors_from and every skus row stamped before skus_from (the text index follows skus) was
-- reflected. An incremental refresh re-runs a pool when a SKU changed after
-- that (not after the newest event seq in the table when the version was written: the indexes
-- follow the tables a poll behind, and seqs are taken at insert, not in commit order). Versions
-- written before this column existed have NULL and are compared by event_seq as before.
ALTER TABLE pool_versions ADD COLUMN event_snapshot pg_snapshot, ADD COLUMN vectors_from timestamptz,
    ADD COLUMN skus_from timestamptz;

-- +goose Down
ALTER TABLE pool_versions DROP COLUMN event_snapshot, DROP COLUMN vectors_from, DROP COLUMN skus_from;
