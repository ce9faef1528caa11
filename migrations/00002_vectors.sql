-- +goose Up
CREATE TABLE sku_vectors (
    sku_id       bigint      PRIMARY KEY REFERENCES skus (id) ON DELETE CASCADE,
    model        text        NOT NULL,
    content_hash bytea       NOT NULL,
    embedding    vector(512) NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sku_vectors_hnsw ON sku_vectors USING hnsw (embedding vector_cosine_ops)
    WITH (m = 16, ef_construction = 64);

-- SKUs whose embeddable text changed and wait for the model (price, stock and metrics never do).
CREATE TABLE embed_queue (
    sku_id       bigint      PRIMARY KEY,
    content_hash bytea       NOT NULL,
    enqueued_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX embed_queue_age ON embed_queue (enqueued_at);

-- Embeddings by (model, sha256 of the text), so unchanged text is never embedded twice.
CREATE TABLE embedding_cache (
    model        text        NOT NULL,
    text_sha256  bytea       NOT NULL,
    embedding    vector      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, text_sha256)
);

-- +goose Down
DROP TABLE embedding_cache;
DROP TABLE embed_queue;
DROP TABLE sku_vectors;
