-- +goose Up
-- The pool refresher reads the events applied since a version's text position (skus rows the
-- text follower had read): a change to a SKU's text that was committed before the version's
-- event snapshot but not yet read by the text index then counts as a change, whatever events
-- follow it (selection.Service.changedSince).
CREATE INDEX sku_events_applied ON sku_events (applied_at);

-- +goose Down
DROP INDEX sku_events_applied;
