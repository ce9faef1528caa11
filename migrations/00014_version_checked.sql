-- +goose Up
-- When a refresh last found a pool's version still right (or wrote it): the pool's freshness,
-- shown by GET /v1/pools/{id} and the page as refreshed_at.
ALTER TABLE pool_versions ADD COLUMN checked_at timestamptz;
UPDATE pool_versions SET checked_at = created_at;
ALTER TABLE pool_versions ALTER COLUMN checked_at SET DEFAULT now(), ALTER COLUMN checked_at SET NOT NULL;

-- +goose Down
ALTER TABLE pool_versions DROP COLUMN checked_at;
