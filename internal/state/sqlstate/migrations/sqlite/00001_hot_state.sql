-- Hot state for the embedded (single-node) mode. Times are unix
-- milliseconds; a row whose expires_at is not in the future is absent
-- for every read and is removed by GC. WITHOUT ROWID: every lookup is by
-- the primary key, so the table is the index.

-- +goose Up
CREATE TABLE kaiin_state_kv (
    key        TEXT    NOT NULL PRIMARY KEY,
    value      BLOB    NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX kaiin_state_kv_expires_at ON kaiin_state_kv (expires_at);

CREATE TABLE kaiin_state_counters (
    key        TEXT    NOT NULL PRIMARY KEY,
    n          INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX kaiin_state_counters_expires_at ON kaiin_state_counters (expires_at);

CREATE TABLE kaiin_state_sets (
    key        TEXT    NOT NULL,
    member     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key, member)
) WITHOUT ROWID;
CREATE INDEX kaiin_state_sets_expires_at ON kaiin_state_sets (expires_at);

-- +goose Down
DROP TABLE kaiin_state_sets;
DROP TABLE kaiin_state_counters;
DROP TABLE kaiin_state_kv;
