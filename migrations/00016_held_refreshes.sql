-- +goose Up
-- A refresh that breaks a pool's guard (a floor on its size, a largest drop per refresh) is
-- held here, not published: REST clients keep reading the current version until a planner
-- accepts it (it becomes the next version) or rejects it. One per pool: a later held refresh
-- replaces it.
CREATE TABLE pool_pending (
    pool_id        bigint      PRIMARY KEY REFERENCES pools (id) ON DELETE CASCADE,
    based_on       int         NOT NULL,
    reason         text        NOT NULL,
    members        bytea       NOT NULL,
    ranking        bigint[]    NOT NULL,
    scores         real[]      NOT NULL,
    plan           jsonb       NOT NULL,
    event_seq      bigint      NOT NULL,
    event_snapshot pg_snapshot,
    vectors_from   timestamptz,
    skus_from      timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE pool_pending;
