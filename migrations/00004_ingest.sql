-- +goose Up
-- Dead letters are written in the same transaction as the batch they came in with; a batch that
-- is redelivered after a crash (Kafka offsets are committed after the database commit) must not
-- record its dead letters twice. The source names the record exactly: kafka:<topic>/<partition>/
-- <offset> or file:<path>:<line>.
CREATE UNIQUE INDEX dead_letters_source ON dead_letters (source);
CREATE INDEX dead_letters_created ON dead_letters (created_at);

-- +goose Down
DROP INDEX dead_letters_created;
DROP INDEX dead_letters_source;
