-- +goose Up
CREATE TABLE users (
    id                  TEXT        NOT NULL PRIMARY KEY,
    email               TEXT        NOT NULL UNIQUE,
    email_verified      BOOLEAN     NOT NULL DEFAULT FALSE,
    password_hash       TEXT        NOT NULL DEFAULT '',
    admin               BOOLEAN     NOT NULL DEFAULT FALSE,
    locale              TEXT        NOT NULL DEFAULT '',
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    -- NULL for an account that never had a password.
    password_changed_at TIMESTAMPTZ
);

-- +goose Down
DROP TABLE users;
