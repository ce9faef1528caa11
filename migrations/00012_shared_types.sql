-- +goose Up
-- Product types shared by every replica of a database. type_models holds the learned
-- vocabulary (package prodtype's Model as JSON), one row per learning; every replica classifies
-- with the newest. sku_types holds the types the neighbours' vote gave SKUs whose text names
-- none (or only a weak type), under the model they were voted with: one replica votes (the
-- holder of the service's lease), every replica applies the votes in seq order, so the same
-- SKU has the same type on each.
CREATE TABLE type_models (
    id         bigserial PRIMARY KEY,
    learned_at timestamptz NOT NULL DEFAULT now(),
    skus       bigint NOT NULL,
    model      jsonb NOT NULL
);

CREATE SEQUENCE sku_types_seq;

CREATE TABLE sku_types (
    model_id bigint NOT NULL REFERENCES type_models (id) ON DELETE CASCADE,
    ordinal  bigint NOT NULL,
    -- was: the type the SKU's text gave it when it was voted on ('' for none): the vote applies
    -- while the text still says the same.
    was      text NOT NULL,
    type     text NOT NULL,
    why      text NOT NULL,
    seq      bigint NOT NULL DEFAULT nextval('sku_types_seq'),
    voted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_id, ordinal)
);
CREATE INDEX sku_types_by_seq ON sku_types (seq);

-- The model the saved index snapshot's product types were made with: a load whose model
-- differs builds from skus instead.
ALTER TABLE tag_index_state ADD COLUMN type_model bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE tag_index_state DROP COLUMN type_model;
DROP TABLE sku_types;
DROP SEQUENCE sku_types_seq;
DROP TABLE type_models;
