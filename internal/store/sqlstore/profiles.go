package sqlstore

// Sealed member profiles and blind-index lookups (migration 00005).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/kaiin-project/kaiin/internal/sqldb"
	"github.com/kaiin-project/kaiin/internal/store"
)

// GetProfile implements store.ProfileStore.
func (s *Store) GetProfile(ctx context.Context, userID string) (store.SealedProfile, error) {
	p := store.SealedProfile{UserID: userID}
	var blobs string
	err := s.db.QueryRowContext(ctx, `SELECT wrapped_key, blobs, updated_at FROM member_profiles WHERE user_id = $1`, userID).
		Scan(&p.WrappedKey, &blobs, dbTime{&p.UpdatedAt})
	if err != nil {
		return store.SealedProfile{}, fmt.Errorf("sqlstore: get profile: %w", notFound(err))
	}
	if err := json.Unmarshal([]byte(blobs), &p.Blobs); err != nil {
		return store.SealedProfile{}, fmt.Errorf("sqlstore: get profile: decode blobs: %w", err)
	}
	p.UpdatedAt = normTime(p.UpdatedAt)
	return p, nil
}

// PutProfile implements store.ProfileStore.
func (s *Store) PutProfile(ctx context.Context, p store.SealedProfile, lookups map[string]string) error {
	if len(p.WrappedKey) == 0 {
		return errors.New("sqlstore: put profile: no wrapped key")
	}
	blobs, err := json.Marshal(p.Blobs)
	if err != nil {
		return fmt.Errorf("sqlstore: put profile: %w", err)
	}
	if p.Blobs == nil {
		blobs = []byte("{}")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: put profile: begin: %w", err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO member_profiles (user_id, wrapped_key, blobs, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id) DO UPDATE SET wrapped_key = excluded.wrapped_key, blobs = excluded.blobs, updated_at = excluded.updated_at`,
		p.UserID, p.WrappedKey, string(blobs), s.timeArg(p.UpdatedAt))
	if isForeignKeyViolation(err) {
		return fmt.Errorf("sqlstore: put profile: no user %s: %w", p.UserID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: put profile: %w", err)
	}
	kinds := make([]string, 0, len(lookups))
	for k := range lookups {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds) // a stable order: no deadlock between two writers
	for _, kind := range kinds {
		if _, err := tx.ExecContext(ctx, `DELETE FROM member_lookups WHERE user_id = $1 AND kind = $2`, p.UserID, kind); err != nil {
			return fmt.Errorf("sqlstore: put profile: lookups: %w", err)
		}
		v := lookups[kind]
		if v == "" {
			continue
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO member_lookups (kind, value, user_id) VALUES ($1, $2, $3)`, kind, v, p.UserID)
		if sqldb.IsUniqueViolation(err) {
			// The detail of a PostgreSQL error quotes the value: not kept.
			return fmt.Errorf("sqlstore: put profile: %s lookup taken: %w", kind, store.ErrAlreadyExists)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: put profile: lookups: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: put profile: commit: %w", err)
	}
	return nil
}

// LookupMember implements store.ProfileStore.
func (s *Store) LookupMember(ctx context.Context, kind, value string) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT user_id FROM member_lookups WHERE kind = $1 AND value = $2`, kind, value).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("sqlstore: lookup member by %s: %w", kind, notFound(err))
	}
	return id, nil
}

// DeleteProfile implements store.ProfileStore.
func (s *Store) DeleteProfile(ctx context.Context, userID string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: delete profile: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM member_lookups WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("sqlstore: delete profile: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM member_profiles WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("sqlstore: delete profile: %w", err)
	}
	return tx.Commit()
}
