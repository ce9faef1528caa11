-- +goose Up
-- A pool's edit revision: 1 when created, one more on every successful edit (PUT /v1/pools/{id}),
-- not moved by refreshes, which add versions without touching what a planner edits. The API's
-- ETag of a pool is its revision, and an edit names the revision it started from (If-Match).
-- updated_by is the API key (by name) that wrote the current revision: '' for pools written
-- before this column existed or without a key; an edit by any other key must be conditional.
ALTER TABLE pools ADD COLUMN revision integer NOT NULL DEFAULT 1,
    ADD COLUMN updated_by text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE pools DROP COLUMN revision, DROP COLUMN updated_by;
