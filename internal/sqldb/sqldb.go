// Package sqldb opens the SQL database behind the durable store and the
// embedded hot state: SQLite (pure Go, in the data directory) or PostgreSQL.
package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Dialect names the SQL flavour of a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is a connection pool with its dialect. Queries use $1, $2, … for
// parameters: both drivers accept them.
type DB struct {
	*sql.DB
	Dialect Dialect
}

// OpenSQLite opens (creating when missing) the SQLite database at path with
// WAL journaling, a busy timeout, foreign keys, and write transactions that
// take the lock when they begin (so two writers never deadlock on upgrade).
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("restrict permissions of %s: %w", path, err)
	}
	return &DB{DB: db, Dialect: SQLite}, nil
}

// OpenPostgres opens a pool to the PostgreSQL server at dsn
// ("postgres://user@host:port/db?sslmode=…").
func OpenPostgres(ctx context.Context, dsn string, maxConns int) (*DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %s", Redact(err.Error(), dsn))
	}
	if maxConns <= 0 {
		maxConns = 20
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres: %s", Redact(err.Error(), dsn))
	}
	return &DB{DB: db, Dialect: Postgres}, nil
}

// Redact removes the password of a URL-form dsn from msg, so that error
// messages and logs never carry it.
func Redact(msg, dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return msg
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return msg
}

// IsUniqueViolation reports whether err is a unique-constraint violation in
// either dialect.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || // sqlite
		strings.Contains(s, "SQLSTATE 23505") // postgres (pgconn.PgError)
}
