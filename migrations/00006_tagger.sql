-- +goose Up
-- The tagger tails sku_events by writing transaction: each poll reads, in a repeatable-read
-- snapshot S, the events whose transaction was not yet visible in the previous poll's snapshot
-- P (xid >= xmin(P) AND NOT pg_visible_in_snapshot(xid, P)), then remembers S. Each event is read
-- exactly once, even when a transaction that took a lower seq commits after one with a higher
-- seq (seqs are taken at insert, not at commit), and a long transaction elsewhere delays only
-- its own events. This index makes the xid range read cheap.
CREATE INDEX sku_events_xid ON sku_events (xid);

-- What the tagger computes for auto-tags beside their members: the prototype vectors of a
-- prototype tag with its calibrated similarity threshold, or the centroid of a discovered tag.
CREATE TABLE tag_models (
    tag_id       bigint      PRIMARY KEY REFERENCES tags (id) ON DELETE CASCADE,
    model        text        NOT NULL,             -- embedding model name
    dim          integer     NOT NULL,
    vectors      bytea       NOT NULL,             -- n x dim float32, little-endian
    threshold    real        NOT NULL DEFAULT 0,   -- cosine similarity a member reaches
    calibration  jsonb       NOT NULL DEFAULT '{}',
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Where the persisted index (tag_bitmaps) stands in sku_events: every event of a transaction
-- visible in event_snapshot is reflected in it.
CREATE TABLE tag_index_state (
    id             boolean     PRIMARY KEY DEFAULT true CHECK (id),
    event_snapshot pg_snapshot NOT NULL,
    event_seq    bigint      NOT NULL DEFAULT 0,
    skus         bigint      NOT NULL DEFAULT 0,
    bytes        bigint      NOT NULL DEFAULT 0,
    saved_at     timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE tag_index_state;
DROP TABLE tag_models;
DROP INDEX sku_events_xid;
