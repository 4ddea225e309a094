-- Times are INTEGER unix microseconds in UTC: exact, and compared as numbers.
-- STRICT makes SQLite reject a value of the wrong type instead of storing it.

-- +goose Up
CREATE TABLE users (
    id                  TEXT    NOT NULL PRIMARY KEY,
    email               TEXT    NOT NULL UNIQUE,
    email_verified      INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    password_hash       TEXT    NOT NULL DEFAULT '',
    admin               INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1)),
    locale              TEXT    NOT NULL DEFAULT '',
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    -- NULL for an account that never had a password.
    password_changed_at INTEGER
) STRICT;

-- +goose Down
DROP TABLE users;
