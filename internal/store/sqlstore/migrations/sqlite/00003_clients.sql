-- OpenID Connect: clients, signing keys and consents.
--
-- Lists ([]string) are JSON arrays of strings in TEXT ('[]' when empty).
-- Byte fields are BLOBs, kept exactly. Times are INTEGER unix microseconds
-- in UTC, NULL where the zero time means "not set".

-- +goose Up
CREATE TABLE clients (
    id                        TEXT    NOT NULL PRIMARY KEY,
    name                      TEXT    NOT NULL DEFAULT '',
    secret_hash               TEXT    NOT NULL DEFAULT '',
    redirect_uris             TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(redirect_uris)),
    post_logout_redirect_uris TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(post_logout_redirect_uris)),
    grant_types               TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(grant_types)),
    scopes                    TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(scopes)),
    auth_method               TEXT    NOT NULL DEFAULT '',
    -- NULL for a client without keys (anything but private_key_jwt).
    jwks                      BLOB,
    application_type          TEXT    NOT NULL DEFAULT '',
    signing_alg               TEXT    NOT NULL DEFAULT '',
    skip_consent              INTEGER NOT NULL DEFAULT 0 CHECK (skip_consent IN (0, 1)),
    created_at                INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL
) STRICT;

CREATE TABLE signing_keys (
    id            TEXT    NOT NULL PRIMARY KEY,
    algorithm     TEXT    NOT NULL,
    sealed        BLOB    NOT NULL,
    public_key    BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    sign_from     INTEGER NOT NULL,
    -- NULL until decided.
    sign_until    INTEGER,
    publish_until INTEGER
) STRICT;

CREATE INDEX signing_keys_created_at ON signing_keys (created_at, id);

CREATE TABLE consents (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(scopes)),
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT;

-- For the cascade from clients (the primary key serves the one from users).
CREATE INDEX consents_client_id ON consents (client_id);

-- +goose Down
DROP TABLE consents;
DROP TABLE signing_keys;
DROP TABLE clients;
