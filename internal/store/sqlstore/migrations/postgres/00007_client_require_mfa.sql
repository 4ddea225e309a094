-- A client may require two-step verification of the members it signs in.

-- +goose Up
ALTER TABLE clients ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE clients DROP COLUMN require_mfa;
