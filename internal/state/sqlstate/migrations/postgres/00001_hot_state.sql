-- Hot state shared by several nodes. Times are unix milliseconds; a row
-- whose expires_at is not in the future is absent for every read and is
-- removed by GC. Keys use the "C" collation: they are ASCII identifiers,
-- compared byte-wise, never sorted for people. The tables are logged (not
-- UNLOGGED) on purpose: revocations live here and must survive a crash or
-- a failover to a standby.

-- +goose Up
CREATE TABLE kaiin_state_kv (
    key        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    value      BYTEA  NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX kaiin_state_kv_expires_at ON kaiin_state_kv (expires_at);

CREATE TABLE kaiin_state_counters (
    key        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    n          BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX kaiin_state_counters_expires_at ON kaiin_state_counters (expires_at);

CREATE TABLE kaiin_state_sets (
    key        TEXT COLLATE "C" NOT NULL,
    member     TEXT COLLATE "C" NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key, member)
);
CREATE INDEX kaiin_state_sets_expires_at ON kaiin_state_sets (expires_at);

-- +goose Down
DROP TABLE kaiin_state_sets;
DROP TABLE kaiin_state_counters;
DROP TABLE kaiin_state_kv;
