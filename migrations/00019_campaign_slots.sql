-- +goose Up
-- The campaign calendar: a slot is a place pools are shown (a homepage banner in one market);
-- its schedules say which pool is live there when, never overlapping (the store checks under
-- the slot's row lock); outside them the slot's base pool answers.
CREATE TABLE campaign_slots (
    name       text        PRIMARY KEY,
    market     text        NOT NULL DEFAULT '',
    base_pool  bigint      REFERENCES pools (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE slot_schedules (
    id         bigserial   PRIMARY KEY,
    slot       text        NOT NULL REFERENCES campaign_slots (name) ON DELETE CASCADE,
    pool_id    bigint      NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL CHECK (ends_at > starts_at),
    created_by text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX slot_schedules_by_slot ON slot_schedules (slot, starts_at);

-- +goose Down
DROP TABLE slot_schedules;
DROP TABLE campaign_slots;
