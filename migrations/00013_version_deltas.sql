-- +goose Up
-- A pool's older versions as reverse deltas (package selection, versiondelta.go): the current
-- version is a full row; when a newer one is written, the one before it keeps its metadata and
-- plan but its members, ranking and scores become delta, the edit that turns the next version
-- back into it (NULL: a full row). Retention drops the oldest versions; each delta leans on the
-- version after it only.
ALTER TABLE pool_versions ADD COLUMN delta bytea;

-- +goose Down
-- Deltas cannot be turned back into full rows in SQL: the versions stored as deltas are
-- dropped (the current versions are full rows and stay).
DELETE FROM pool_versions WHERE delta IS NOT NULL;
ALTER TABLE pool_versions DROP COLUMN delta;
