-- +goose Up
CREATE TABLE tags (
    id           bigserial   PRIMARY KEY,
    name         text        NOT NULL UNIQUE,
    kind         text        NOT NULL CHECK (kind IN ('rule', 'prototype', 'propagated', 'discovered')),
    description  text        NOT NULL DEFAULT '',
    definition   jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Serialized roaring64 bitmaps (portable format) of ordinals: one per tag and per indexed
-- categorical value or BSI column (key such as 'tag:12', 'brand:logitech', 'bsi:price').
CREATE TABLE tag_bitmaps (
    key          text        PRIMARY KEY,
    tag_id       bigint      REFERENCES tags (id) ON DELETE CASCADE,
    bitmap       bytea       NOT NULL,
    cardinality  bigint      NOT NULL,
    version      bigint      NOT NULL DEFAULT 1,
    event_seq    bigint      NOT NULL DEFAULT 0,   -- sku_events.seq the bitmap reflects
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pools (
    id               bigserial   PRIMARY KEY,
    name             text        NOT NULL,
    scenario         text        NOT NULL DEFAULT '',
    plan             jsonb       NOT NULL,
    pins             bigint[]    NOT NULL DEFAULT '{}',
    exclusions       bigint[]    NOT NULL DEFAULT '{}',
    valid_from       timestamptz,
    valid_until      timestamptz,
    current_version  integer     NOT NULL DEFAULT 0,
    created_by       text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_until IS NULL OR valid_from IS NULL OR valid_until > valid_from)
);

CREATE TABLE pool_versions (
    pool_id      bigint      NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    version      integer     NOT NULL,
    members      bytea       NOT NULL,             -- roaring64 of ordinals
    ranking      bigint[]    NOT NULL,             -- SKU ids in rank order
    scores       real[]      NOT NULL DEFAULT '{}',
    member_count integer     NOT NULL,
    plan         jsonb       NOT NULL,
    event_seq    bigint      NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pool_id, version)
);

-- +goose Down
DROP TABLE pool_versions;
DROP TABLE pools;
DROP TABLE tag_bitmaps;
DROP TABLE tags;
