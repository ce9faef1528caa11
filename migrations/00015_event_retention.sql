-- +goose Up
-- What retention pruned from sku_events (ingest.PruneEvents): every event up to
-- pruned_through is gone, so a full replay would lose what they set and refuses; a replay
-- --from a later seq over a restored skus still works.
CREATE TABLE event_retention (
    one            boolean     PRIMARY KEY DEFAULT true CHECK (one),
    pruned_through bigint      NOT NULL,
    pruned_at      timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE event_retention;
