-- The audit log of personal-data access. Rows are appended, never
-- changed; they outlive the member (no foreign key), naming them by ID only.

-- +goose Up
CREATE TABLE audit_events (
    id         TEXT    NOT NULL PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    actor_kind TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    fields     TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(fields)),
    reason     TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX audit_events_subject ON audit_events (subject, at);

-- +goose Down
DROP TABLE audit_events;
