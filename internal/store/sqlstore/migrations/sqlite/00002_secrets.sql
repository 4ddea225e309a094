-- +goose Up
CREATE TABLE secrets (
    name       TEXT    NOT NULL PRIMARY KEY,
    value      BLOB    NOT NULL,
    created_at INTEGER NOT NULL -- unix microseconds, UTC
) STRICT;

-- +goose Down
DROP TABLE secrets;
