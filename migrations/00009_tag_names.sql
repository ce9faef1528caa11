-- +goose Up
-- Tag names are compared without case everywhere (filters, the index, the API): two tags that
-- differ only in case would share one entry of the index, so the database refuses them.
CREATE UNIQUE INDEX tags_name_lower ON tags (lower(name));

-- +goose Down
DROP INDEX tags_name_lower;
