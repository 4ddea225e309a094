// Package sqlstore is the durable store (store.Store) on SQL: SQLite for a
// single machine, PostgreSQL for many nodes. One implementation serves both;
// the few dialect differences (column types, row locks) are local to the
// query or the migration that needs them.
//
// The schema is created by Migrate, with its own goose version table
// (kaiin_store_migrations), so other packages can migrate their own tables
// in the same database independently.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kaiin-project/kaiin/internal/sqldb"
	"github.com/kaiin-project/kaiin/internal/store"
)

// Store implements store.Store on a *sqldb.DB. Every method is safe for
// concurrent use, and several Stores (on one node or many) may share one
// database.
//
// Times are stored in UTC with microsecond precision (finer digits are
// dropped) and are returned in UTC. Store never sets a time itself, except
// a secret's creation time: UpdatedAt and the like are the caller's.
type Store struct {
	db *sqldb.DB
}

var _ store.Store = (*Store)(nil)

// New returns a Store on db, whose schema must be migrated (see Migrate and
// Pending). The caller keeps ownership of db.
func New(db *sqldb.DB) *Store {
	return &Store{db: db}
}

const userColumns = `id, email, email_verified, password_hash, admin, locale,
	created_at, updated_at, password_changed_at`

// CreateUser implements store.Store.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if u.ID == "" {
		return errors.New("sqlstore: create user: empty ID")
	}
	u = s.normalize(u)
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		u.ID, u.Email, u.EmailVerified, u.PasswordHash, u.Admin, u.Locale,
		s.timeArg(u.CreatedAt), s.timeArg(u.UpdatedAt), s.nullTimeArg(u.PasswordChangedAt))
	if sqldb.IsUniqueViolation(err) {
		// The driver error is left out: PostgreSQL's detail quotes the
		// email, which is personal data.
		return fmt.Errorf("sqlstore: create user %s: ID or email taken: %w", u.ID, store.ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: create user %s: %w", u.ID, err)
	}
	return nil
}

// GetUser implements store.Store.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return store.User{}, fmt.Errorf("sqlstore: get user %s: %w", id, notFound(err))
	}
	return u, nil
}

// GetUserByEmail implements store.Store. The email is left out of errors:
// it is personal data.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (store.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE email = $1`, email))
	if err != nil {
		return store.User{}, fmt.Errorf("sqlstore: get user by email: %w", notFound(err))
	}
	return u, nil
}

// UpdateUser implements store.Store. The row is locked from the read to the
// commit: on PostgreSQL by SELECT … FOR UPDATE; on SQLite by the write lock
// that BEGIN takes, because sqldb.OpenSQLite sets _txlock=immediate. So
// concurrent updates of one user run one after the other and none is lost.
//
// An updater that changes the ID gets an error and nothing is written.
// update runs inside the transaction: it must be quick and must not write
// through the store itself (on SQLite that would wait for its own lock).
func (s *Store) UpdateUser(ctx context.Context, id string, update func(store.User) (store.User, error)) (store.User, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.User{}, fmt.Errorf("sqlstore: update user %s: begin: %w", id, err)
	}
	defer tx.Rollback() // no-op after Commit

	q := `SELECT ` + userColumns + ` FROM users WHERE id = $1`
	if s.db.Dialect == sqldb.Postgres {
		q += ` FOR UPDATE`
	}
	old, err := scanUser(tx.QueryRowContext(ctx, q, id))
	if err != nil {
		return store.User{}, fmt.Errorf("sqlstore: update user %s: %w", id, notFound(err))
	}
	u, err := update(old)
	if err != nil {
		return store.User{}, err
	}
	if u.ID != old.ID {
		return store.User{}, fmt.Errorf("sqlstore: update user %s: the updater changed the ID", id)
	}
	u = s.normalize(u)
	_, err = tx.ExecContext(ctx, `UPDATE users SET email = $2, email_verified = $3,
		password_hash = $4, admin = $5, locale = $6, created_at = $7, updated_at = $8,
		password_changed_at = $9 WHERE id = $1`,
		u.ID, u.Email, u.EmailVerified, u.PasswordHash, u.Admin, u.Locale,
		s.timeArg(u.CreatedAt), s.timeArg(u.UpdatedAt), s.nullTimeArg(u.PasswordChangedAt))
	if sqldb.IsUniqueViolation(err) {
		return store.User{}, fmt.Errorf("sqlstore: update user %s: email taken: %w", id, store.ErrAlreadyExists)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("sqlstore: update user %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return store.User{}, fmt.Errorf("sqlstore: update user %s: commit: %w", id, err)
	}
	return u, nil
}

// DeleteUser implements store.Store.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("sqlstore: delete user %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: delete user %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: delete user %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// CountUsers implements store.Store.
func (s *Store) CountUsers(ctx context.Context) (users, admins int64, err error) {
	// "WHERE admin" reads a BOOLEAN on PostgreSQL and a 0/1 INTEGER on SQLite.
	err = s.db.QueryRowContext(ctx,
		`SELECT COUNT(*), COUNT(*) FILTER (WHERE admin) FROM users`).Scan(&users, &admins)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlstore: count users: %w", err)
	}
	return users, admins, nil
}

// GetOrCreateSecret implements store.Store. generate runs only when the
// secret is missing; when several callers race, every one of them inserts
// with ON CONFLICT DO NOTHING and then reads back whichever value won, so
// all receive the same bytes. generate's error is returned as is. The value
// never appears in an error.
func (s *Store) GetOrCreateSecret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	v, err := s.getSecret(ctx, name)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: get secret %s: %w", name, err)
	}
	gen, err := generate()
	if err != nil {
		return nil, err
	}
	if len(gen) == 0 {
		return nil, fmt.Errorf("sqlstore: create secret %s: the generator returned no bytes", name)
	}
	_, err = s.db.ExecContext(ctx,
		`INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING`,
		name, gen, s.timeArg(time.Now()))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: create secret %s: %w", name, err)
	}
	// On PostgreSQL a conflicting INSERT waits for the winner to commit, so
	// this read sees the winner's row (READ COMMITTED: a fresh snapshot).
	v, err = s.getSecret(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get secret %s: %w", name, err)
	}
	return v, nil
}

func (s *Store) getSecret(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&v)
	return v, err
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlstore: ping: %w", err)
	}
	return nil
}

// Close does nothing and returns nil: the *sqldb.DB belongs to the caller,
// who shares it with other packages and closes it once they are all done.
func (s *Store) Close() error {
	return nil
}

// normalize puts u's times in the form they are stored in (UTC,
// microseconds), so that what UpdateUser returns equals what a later read
// returns.
func (s *Store) normalize(u store.User) store.User {
	u.CreatedAt = normTime(u.CreatedAt)
	u.UpdatedAt = normTime(u.UpdatedAt)
	u.PasswordChangedAt = normTime(u.PasswordChangedAt)
	return u
}

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// timeArg encodes t for a timestamp column: unix microseconds on SQLite,
// which has no time type, and TIMESTAMPTZ on PostgreSQL.
func (s *Store) timeArg(t time.Time) any {
	t = normTime(t)
	if s.db.Dialect == sqldb.SQLite {
		return t.UnixMicro()
	}
	return t
}

// nullTimeArg is timeArg for a nullable column: the zero time is NULL.
func (s *Store) nullTimeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.timeArg(t)
}

// dbTime scans a column written by timeArg or nullTimeArg, in either
// dialect, into a UTC time (NULL is the zero time).
type dbTime struct{ t *time.Time }

func (d dbTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.t = time.Time{}
	case int64:
		*d.t = time.UnixMicro(v).UTC()
	case time.Time:
		*d.t = v.UTC()
	default:
		return fmt.Errorf("timestamp column holds a %T", src)
	}
	return nil
}

func scanUser(row *sql.Row) (store.User, error) {
	var u store.User
	err := row.Scan(&u.ID, &u.Email, &u.EmailVerified, &u.PasswordHash, &u.Admin, &u.Locale,
		dbTime{&u.CreatedAt}, dbTime{&u.UpdatedAt}, dbTime{&u.PasswordChangedAt})
	return u, err
}

// notFound maps sql.ErrNoRows to store.ErrNotFound and leaves other errors.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}
