-- Second factors for signing in (TOTP, recovery codes, later passkeys).
--
-- secret is sealed by the caller (NULL when the kind has none); data is the
-- kind's JSON, kept as opaque bytes (NULL when empty). Times are
-- TIMESTAMPTZ (microseconds); last_used_at is NULL until first use.

-- +goose Up
CREATE TABLE factors (
    id           TEXT        NOT NULL PRIMARY KEY,
    user_id      TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT        NOT NULL,
    name         TEXT        NOT NULL DEFAULT '',
    secret       BYTEA,
    data         BYTEA,
    confirmed    BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ
);

-- ListFactors, and the cascade from users.
CREATE INDEX factors_user_id ON factors (user_id, created_at, id);

-- +goose Down
DROP TABLE factors;
