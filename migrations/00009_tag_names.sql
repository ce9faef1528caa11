-- +goose Up
-- Tag names are compared without case everywhere (filters, the index, the API): two tags that
-- differ only in case would share one entry of the index, so the database refuses them.
-- +goose StatementBegin
DO $$
DECLARE
    clash text;
BEGIN
    SELECT string_agg(format('%L', name), ', ' ORDER BY name COLLATE "C") INTO clash
    FROM tags t WHERE EXISTS (SELECT 1 FROM tags u WHERE lower(u.name) = lower(t.name) AND u.id <> t.id);
    IF clash IS NOT NULL THEN
        RAISE EXCEPTION 'tags whose names differ only in case: %; rename or delete all but one of each (selection tag delete NAME), then migrate again', clash;
    END IF;
END
$$;
-- +goose StatementEnd
CREATE UNIQUE INDEX tags_name_lower ON tags (lower(name));

-- +goose Down
DROP INDEX tags_name_lower;
