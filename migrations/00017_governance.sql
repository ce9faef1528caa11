-- +goose Up
-- Governance: an approver role, pool states (draft -> in_review -> published -> archived) and
-- an audit log of who changed what and when. Pools that exist are published (as they were
-- served); the log keeps its entries after a pool is deleted (no foreign key).
ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check CHECK (role IN ('planner', 'reader', 'approver'));

ALTER TABLE pools ADD COLUMN state text NOT NULL DEFAULT 'published'
    CHECK (state IN ('draft', 'in_review', 'published', 'archived'));

CREATE TABLE pool_audit (
    id      bigserial   PRIMARY KEY,
    pool_id bigint      NOT NULL,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text        NOT NULL,
    action  text        NOT NULL,
    detail  text        NOT NULL DEFAULT ''
);
CREATE INDEX pool_audit_by_pool ON pool_audit (pool_id, id);

-- +goose Down
DROP TABLE pool_audit;
ALTER TABLE pools DROP COLUMN state;
DELETE FROM api_keys WHERE role = 'approver';
ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check CHECK (role IN ('planner', 'reader'));
