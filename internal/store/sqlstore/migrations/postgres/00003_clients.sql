-- OpenID Connect: clients, signing keys and consents.
--
-- Lists ([]string) are JSON arrays of strings ('[]' when empty) in JSON
-- columns, which keep the text as written (JSONB would refuse \u0000).
-- Byte fields are BYTEA, kept exactly. Times are TIMESTAMPTZ (microseconds),
-- NULL where the zero time means "not set".

-- +goose Up
CREATE TABLE clients (
    id                        TEXT        NOT NULL PRIMARY KEY,
    name                      TEXT        NOT NULL DEFAULT '',
    secret_hash               TEXT        NOT NULL DEFAULT '',
    redirect_uris             JSON        NOT NULL DEFAULT '[]',
    post_logout_redirect_uris JSON        NOT NULL DEFAULT '[]',
    grant_types               JSON        NOT NULL DEFAULT '[]',
    scopes                    JSON        NOT NULL DEFAULT '[]',
    auth_method               TEXT        NOT NULL DEFAULT '',
    -- NULL for a client without keys (anything but private_key_jwt).
    jwks                      BYTEA,
    application_type          TEXT        NOT NULL DEFAULT '',
    signing_alg               TEXT        NOT NULL DEFAULT '',
    skip_consent              BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at                TIMESTAMPTZ NOT NULL,
    updated_at                TIMESTAMPTZ NOT NULL
);

CREATE TABLE signing_keys (
    id            TEXT        NOT NULL PRIMARY KEY,
    algorithm     TEXT        NOT NULL,
    sealed        BYTEA       NOT NULL,
    public_key    BYTEA       NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    sign_from     TIMESTAMPTZ NOT NULL,
    -- NULL until decided.
    sign_until    TIMESTAMPTZ,
    publish_until TIMESTAMPTZ
);

CREATE INDEX signing_keys_created_at ON signing_keys (created_at, id);

CREATE TABLE consents (
    user_id    TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     JSON        NOT NULL DEFAULT '[]',
    granted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- For the cascade from clients (the primary key serves the one from users).
CREATE INDEX consents_client_id ON consents (client_id);

-- +goose Down
DROP TABLE consents;
DROP TABLE signing_keys;
DROP TABLE clients;
