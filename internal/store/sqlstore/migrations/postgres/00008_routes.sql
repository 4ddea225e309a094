-- Gateway routes, and the version numbers gateway nodes poll to notice a
-- change (one row per versioned set).

-- +goose Up
CREATE TABLE gateway_routes (
    name       TEXT NOT NULL PRIMARY KEY,
    spec       JSON NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE kaiin_versions (
    name    TEXT NOT NULL PRIMARY KEY,
    version BIGINT NOT NULL
);

-- +goose Down
DROP TABLE kaiin_versions;
DROP TABLE gateway_routes;
