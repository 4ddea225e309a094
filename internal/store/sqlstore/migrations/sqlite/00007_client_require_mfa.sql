-- A client may require two-step verification of the members it signs in.

-- +goose Up
ALTER TABLE clients ADD COLUMN require_mfa INTEGER NOT NULL DEFAULT 0 CHECK (require_mfa IN (0, 1));

-- +goose Down
ALTER TABLE clients DROP COLUMN require_mfa;
