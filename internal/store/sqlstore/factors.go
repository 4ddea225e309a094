package sqlstore

// Second factors (migration 00004).
//
// Secret and Data are BLOB / BYTEA, NULL when empty: they round-trip
// exactly, except that nil and empty both read back as nil. LastUsedAt is
// NULL while zero. Times follow the users table (UTC, microseconds).

import (
	"context"
	"errors"
	"fmt"

	"github.com/kaiin-project/kaiin/internal/sqldb"
	"github.com/kaiin-project/kaiin/internal/store"
)

const factorColumns = `id, user_id, kind, name, secret, data, confirmed, created_at, last_used_at`

// factorArgs returns f's columns in the order of factorColumns.
func (s *Store) factorArgs(f store.Factor) []any {
	return []any{f.ID, f.UserID, f.Kind, f.Name, nullBytesArg(f.Secret), nullBytesArg(f.Data),
		f.Confirmed, s.timeArg(f.CreatedAt), s.nullTimeArg(f.LastUsedAt)}
}

func scanFactor(row rowScanner) (store.Factor, error) {
	var f store.Factor
	err := row.Scan(&f.ID, &f.UserID, &f.Kind, &f.Name, &f.Secret, &f.Data, &f.Confirmed,
		dbTime{&f.CreatedAt}, dbTime{&f.LastUsedAt})
	return normalizeFactor(f), err
}

// normalizeFactor puts f in the form a read returns.
func normalizeFactor(f store.Factor) store.Factor {
	f.Secret = normBytes(f.Secret)
	f.Data = normBytes(f.Data)
	f.CreatedAt = normTime(f.CreatedAt)
	f.LastUsedAt = normTime(f.LastUsedAt)
	return f
}

// CreateFactor implements store.FactorStore. The secret never appears in
// an error.
func (s *Store) CreateFactor(ctx context.Context, f store.Factor) error {
	if f.ID == "" {
		return errors.New("sqlstore: create factor: empty ID")
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO factors (`+factorColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, s.factorArgs(f)...)
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("sqlstore: create factor %s: ID taken: %w", f.ID, store.ErrAlreadyExists)
	}
	if isForeignKeyViolation(err) {
		return fmt.Errorf("sqlstore: create factor %s: no user %s: %w", f.ID, f.UserID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: create factor %s: %w", f.ID, err)
	}
	return nil
}

// GetFactor implements store.FactorStore.
func (s *Store) GetFactor(ctx context.Context, id string) (store.Factor, error) {
	f, err := scanFactor(s.db.QueryRowContext(ctx,
		`SELECT `+factorColumns+` FROM factors WHERE id = $1`, id))
	if err != nil {
		return store.Factor{}, fmt.Errorf("sqlstore: get factor %s: %w", id, notFound(err))
	}
	return f, nil
}

// ListFactors implements store.FactorStore: ordered by CreatedAt, then by
// ID (bytewise) for factors made in the same microsecond.
func (s *Store) ListFactors(ctx context.Context, userID string) ([]store.Factor, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+factorColumns+` FROM factors
		WHERE user_id = $1 ORDER BY created_at, id`+s.byteOrder(), userID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list factors of %s: %w", userID, err)
	}
	defer rows.Close()
	var out []store.Factor
	for rows.Next() {
		f, err := scanFactor(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list factors of %s: %w", userID, err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list factors of %s: %w", userID, err)
	}
	return out, nil
}

// UpdateFactor implements store.FactorStore; it locks the row as UpdateUser
// does, and the same rules apply to update. An updater that changes the ID
// or the UserID gets an error and nothing is written.
func (s *Store) UpdateFactor(ctx context.Context, id string, update func(store.Factor) (store.Factor, error)) (store.Factor, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.Factor{}, fmt.Errorf("sqlstore: update factor %s: begin: %w", id, err)
	}
	defer tx.Rollback() // no-op after Commit

	old, err := scanFactor(tx.QueryRowContext(ctx,
		`SELECT `+factorColumns+` FROM factors WHERE id = $1`+s.forUpdate(), id))
	if err != nil {
		return store.Factor{}, fmt.Errorf("sqlstore: update factor %s: %w", id, notFound(err))
	}
	f, err := update(old)
	if err != nil {
		return store.Factor{}, err
	}
	if f.ID != old.ID {
		return store.Factor{}, fmt.Errorf("sqlstore: update factor %s: the updater changed the ID", id)
	}
	if f.UserID != old.UserID {
		return store.Factor{}, fmt.Errorf("sqlstore: update factor %s: the updater changed the user", id)
	}
	_, err = tx.ExecContext(ctx, `UPDATE factors SET user_id = $2, kind = $3, name = $4,
		secret = $5, data = $6, confirmed = $7, created_at = $8, last_used_at = $9
		WHERE id = $1`, s.factorArgs(f)...)
	if err != nil {
		return store.Factor{}, fmt.Errorf("sqlstore: update factor %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return store.Factor{}, fmt.Errorf("sqlstore: update factor %s: commit: %w", id, err)
	}
	return normalizeFactor(f), nil
}

// DeleteFactor implements store.FactorStore.
func (s *Store) DeleteFactor(ctx context.Context, id string) error {
	return s.deleteOne(ctx, "factor "+id, `DELETE FROM factors WHERE id = $1`, id)
}
