package sqldb

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"sync"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Migrations is one package's set of goose SQL migrations, versioned in a
// table of its own so that several packages can keep theirs in the same
// database independently.
type Migrations struct {
	// FS holds one directory per dialect, "sqlite" and "postgres", each
	// defining the same versions.
	FS fs.FS
	// Table records which of these migrations are applied.
	Table string
}

// sqliteMigrateMu serialises migrations on SQLite within this process, which
// has no advisory lock. Two processes migrating one SQLite file at once are
// not guarded: the loser's migration fails and rolls back, and running it
// again succeeds.
var sqliteMigrateMu sync.Mutex

// Up applies every pending migration and returns how many it applied. On
// PostgreSQL it holds a session advisory lock (its id derived from Table),
// so several nodes may call it at once: one applies, the others wait (up
// to five minutes) and then find nothing left to do. When a migration
// fails, applied counts the ones before it, which stay applied.
func (m Migrations) Up(ctx context.Context, db *DB) (applied int, err error) {
	p, err := m.provider(db)
	if err != nil {
		return 0, err
	}
	if db.Dialect == SQLite {
		sqliteMigrateMu.Lock()
		defer sqliteMigrateMu.Unlock()
	}
	res, err := p.Up(ctx)
	if err != nil {
		var partial *goose.PartialError
		if errors.As(err, &partial) {
			applied = len(partial.Applied)
		}
		return applied, fmt.Errorf("migrate %s: %w", m.Table, err)
	}
	return len(res), nil
}

// Pending returns how many migrations are not applied yet. It writes
// nothing: on a database that has never seen these migrations, all are
// pending and the version table is not created.
func (m Migrations) Pending(ctx context.Context, db *DB) (int, error) {
	p, err := m.provider(db)
	if err != nil {
		return 0, err
	}
	q := `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)`
	if db.Dialect == Postgres {
		q = `SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1)`
	}
	var exists bool
	if err := db.QueryRowContext(ctx, q, m.Table).Scan(&exists); err != nil {
		return 0, fmt.Errorf("pending migrations of %s: %w", m.Table, err)
	}
	if !exists {
		return len(p.ListSources()), nil
	}
	status, err := p.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("pending migrations of %s: %w", m.Table, err)
	}
	n := 0
	for _, st := range status {
		if st.State == goose.StatePending {
			n++
		}
	}
	return n, nil
}

// provider returns a goose provider for db's dialect. It is never closed:
// Provider.Close would close db, which the caller owns.
func (m Migrations) provider(db *DB) (*goose.Provider, error) {
	opts := []goose.ProviderOption{
		goose.WithTableName(m.Table),
		// Go migrations registered globally (goose.AddMigration) by any
		// other package must not leak into ours.
		goose.WithDisableGlobalRegistry(true),
		// Callers report the applied count; goose's per-file lines would go
		// to the standard logger, outside our slog output.
		goose.WithLogger(goose.NopLogger()),
	}
	var dialect goose.Dialect
	switch db.Dialect {
	case SQLite:
		dialect = goose.DialectSQLite3
	case Postgres:
		dialect = goose.DialectPostgres
		// Retry every second (goose's default is 5 s) for up to five
		// minutes: a peer's migration can take a while, and a long retry
		// period slows every start.
		id := int64(crc32.ChecksumIEEE([]byte(m.Table)))
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(id), lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	default:
		return nil, fmt.Errorf("unsupported SQL dialect %q", db.Dialect)
	}
	fsys, err := fs.Sub(m.FS, string(db.Dialect))
	if err != nil {
		return nil, fmt.Errorf("migrations of %s: %w", m.Table, err)
	}
	return goose.NewProvider(dialect, db.DB, fsys, opts...)
}
