-- +goose Up
-- The vector extension is created by the setup as a superuser (scripts/setup.sh); this is a no-op
-- then, and creates it where the migrating role may.
-- +goose StatementBegin
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
    CREATE EXTENSION vector;
  END IF;
END
$$;
-- +goose StatementEnd

-- Dense internal ordinals: assigned once per SKU in arrival order and never reused. Every bitmap
-- in the system holds ordinals, never raw 64-bit SKU ids (see DESIGN.md).
CREATE SEQUENCE sku_ordinal_seq AS bigint MINVALUE 0 START 0;

CREATE TABLE skus (
    id            bigint      PRIMARY KEY,
    ordinal       bigint      NOT NULL UNIQUE DEFAULT nextval('sku_ordinal_seq'),
    market        text        NOT NULL DEFAULT 'ALL'
                  CHECK (market IN ('ALL', 'SG', 'MY', 'TH', 'ID', 'PH', 'VN')),
    title         text        NOT NULL DEFAULT '',
    description   text        NOT NULL DEFAULT '',
    brand         text        NOT NULL DEFAULT '',
    category      text        NOT NULL DEFAULT '',
    product_type  text        NOT NULL DEFAULT '',
    attributes    jsonb       NOT NULL DEFAULT '{}',
    -- md5 of the embeddable text: a changed hash queues the SKU for embedding
    content_hash  bytea       GENERATED ALWAYS AS (decode(md5(
                      title || E'\n' || brand || E'\n' || category || E'\n' || product_type
                      || E'\n' || description), 'hex')) STORED,
    -- money in minor units of currency
    currency      text        NOT NULL DEFAULT '',
    price         bigint      NOT NULL DEFAULT 0 CHECK (price >= 0),
    list_price    bigint      NOT NULL DEFAULT 0 CHECK (list_price >= 0),
    stock         bigint      NOT NULL DEFAULT 0,
    rating        real        NOT NULL DEFAULT 0,
    rating_count  bigint      NOT NULL DEFAULT 0,
    sales_1h      bigint      NOT NULL DEFAULT 0,
    sales_24h     bigint      NOT NULL DEFAULT 0,
    sales_7d      bigint      NOT NULL DEFAULT 0,
    gmv_1h        bigint      NOT NULL DEFAULT 0,
    gmv_24h       bigint      NOT NULL DEFAULT 0,
    gmv_7d        bigint      NOT NULL DEFAULT 0,
    views_1h      bigint      NOT NULL DEFAULT 0,
    views_24h     bigint      NOT NULL DEFAULT 0,
    views_7d      bigint      NOT NULL DEFAULT 0,
    released_at   timestamptz,
    -- per-field-group event times: an older event never overwrites a newer one
    content_at    timestamptz NOT NULL DEFAULT '-infinity',
    price_at      timestamptz NOT NULL DEFAULT '-infinity',
    stock_at      timestamptz NOT NULL DEFAULT '-infinity',
    metrics_at    timestamptz NOT NULL DEFAULT '-infinity',
    -- tombstone: the newest sku.delete's event time; the SKU is live while its content is newer
    deleted_at    timestamptz,
    live          boolean     GENERATED ALWAYS AS (deleted_at IS NULL OR content_at > deleted_at) STORED,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX skus_updated_at ON skus (updated_at);

-- The incremental table: every accepted event, in apply order. Replaying it from zero rebuilds skus.
CREATE TABLE sku_events (
    seq         bigserial   PRIMARY KEY,
    event_id    text        NOT NULL UNIQUE,
    kind        text        NOT NULL,
    sku_id      bigint      NOT NULL,
    market      text        NOT NULL DEFAULT 'ALL',
    payload     jsonb       NOT NULL,
    source      text        NOT NULL,
    tier        text        NOT NULL CHECK (tier IN ('batch', 'hourly', 'realtime')),
    event_time  timestamptz NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    -- the writing transaction, so tailers can read safely past in-flight transactions
    xid         xid8        NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX sku_events_sku ON sku_events (sku_id, seq);

CREATE TABLE dead_letters (
    id          bigserial   PRIMARY KEY,
    source      text        NOT NULL,
    topic       text        NOT NULL DEFAULT '',
    partition   integer     NOT NULL DEFAULT -1,
    "offset"    bigint      NOT NULL DEFAULT -1,
    key         bytea,
    value       bytea,
    reason      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE dead_letters;
DROP TABLE sku_events;
DROP TABLE skus;
DROP SEQUENCE sku_ordinal_seq;
