-- Gateway routes, and the version numbers gateway nodes poll to notice a
-- change (one row per versioned set).

-- +goose Up
CREATE TABLE gateway_routes (
    name       TEXT NOT NULL PRIMARY KEY,
    spec       TEXT    NOT NULL CHECK (json_valid(spec)),
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE kaiin_versions (
    name    TEXT NOT NULL PRIMARY KEY,
    version INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE kaiin_versions;
DROP TABLE gateway_routes;
