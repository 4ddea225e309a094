-- Sealed member profiles and blind-index lookups.
--
-- blobs is a JSON object of field group -> base64 of a sealed blob; the
-- store never holds a plaintext personal value. Deleting a member's row
-- (or the member) deletes the wrapped data key: crypto-shredding.

-- +goose Up
CREATE TABLE member_profiles (
    user_id     TEXT        NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    wrapped_key BYTEA       NOT NULL,
    blobs       JSON        NOT NULL DEFAULT '{}',
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE member_lookups (
    kind    TEXT NOT NULL,
    value   TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (kind, value)
);

CREATE UNIQUE INDEX member_lookups_user_kind ON member_lookups (user_id, kind);

-- +goose Down
DROP TABLE member_lookups;
DROP TABLE member_profiles;
