-- +goose Up
-- The in-memory vector index (vectorindex.Index) holds vectors by ordinal and polls for changes;
-- the filtered HNSW path checks bitmap membership on the ordinal. Ordinals never change once
-- assigned, so a copy of skus.ordinal here is safe and saves a join on every load and search.
ALTER TABLE sku_vectors ADD COLUMN ordinal bigint;
UPDATE sku_vectors v SET ordinal = s.ordinal FROM skus s WHERE s.id = v.sku_id;
ALTER TABLE sku_vectors ALTER COLUMN ordinal SET NOT NULL;
CREATE UNIQUE INDEX sku_vectors_ordinal ON sku_vectors (ordinal);
-- What the in-memory index polls (updated_at > watermark - overlap).
CREATE INDEX sku_vectors_updated_at ON sku_vectors (updated_at);

-- A SKU that stops being live (a delete newer than its content) is queued for the embedding
-- worker like a text change, so the worker removes its vector in the same batch machinery
-- (catalog.Apply queues text changes only). Deletions are rare: a row trigger with a WHEN clause
-- costs nothing on price, stock and metrics updates.
-- +goose StatementBegin
CREATE FUNCTION queue_unlived_sku() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO embed_queue (sku_id, content_hash) VALUES (NEW.id, NEW.content_hash)
    ON CONFLICT (sku_id) DO UPDATE SET content_hash = excluded.content_hash, enqueued_at = now();
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER skus_queue_unlived AFTER UPDATE ON skus
    FOR EACH ROW WHEN (OLD.live AND NOT NEW.live) EXECUTE FUNCTION queue_unlived_sku();

-- +goose Down
DROP TRIGGER skus_queue_unlived ON skus;
DROP FUNCTION queue_unlived_sku();
DROP INDEX sku_vectors_updated_at;
DROP INDEX sku_vectors_ordinal;
ALTER TABLE sku_vectors DROP COLUMN ordinal;
