-- +goose Up
-- What a version's SKUs had sold in the 24 hours before it was written (GMV in minor units,
-- units), so the pool's page can chart size and GMV through its versions. NULL: written
-- before this was recorded.
ALTER TABLE pool_versions ADD COLUMN gmv_24h bigint, ADD COLUMN units_24h bigint;

-- +goose Down
ALTER TABLE pool_versions DROP COLUMN gmv_24h, DROP COLUMN units_24h;
