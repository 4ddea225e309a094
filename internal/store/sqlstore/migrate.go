package sqlstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"sync"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/kaiin-project/kaiin/internal/sqldb"
)

// migrationsFS holds one directory of goose SQL migrations per dialect.
// Both must define the same versions.
//
//go:embed migrations
var migrationsFS embed.FS

// versionTable records which store migrations are applied. It is ours alone,
// so other packages can keep their own goose tables in the same database.
const versionTable = "kaiin_store_migrations"

// lockID is the PostgreSQL advisory lock held while migrating. It is derived
// from versionTable rather than goose's default so that our migrations do
// not queue behind another package's.
var lockID = int64(crc32.ChecksumIEEE([]byte(versionTable)))

// sqliteMigrateMu serialises Migrate on SQLite within this process, which
// has no advisory lock. Two processes migrating one SQLite file at once are
// not guarded: the loser's migration fails (its table already exists) and
// rolls back, and running it again succeeds.
var sqliteMigrateMu sync.Mutex

// Migrate applies every pending migration and returns how many it applied.
// On PostgreSQL it holds a session-level advisory lock, so several nodes may
// call it at once: one applies, the others wait (up to five minutes) and
// then find nothing left to do. When a migration fails, applied counts the
// ones before it, which stay applied.
func Migrate(ctx context.Context, db *sqldb.DB) (applied int, err error) {
	p, err := newProvider(db)
	if err != nil {
		return 0, err
	}
	if db.Dialect == sqldb.SQLite {
		sqliteMigrateMu.Lock()
		defer sqliteMigrateMu.Unlock()
	}
	res, err := p.Up(ctx)
	if err != nil {
		var partial *goose.PartialError
		if errors.As(err, &partial) {
			applied = len(partial.Applied)
		}
		return applied, fmt.Errorf("sqlstore: migrate: %w", err)
	}
	return len(res), nil
}

// Pending returns how many migrations are not applied yet. It writes
// nothing: on a database the store has never seen, every migration is
// pending and the version table is not created.
func Pending(ctx context.Context, db *sqldb.DB) (int, error) {
	p, err := newProvider(db)
	if err != nil {
		return 0, err
	}
	exists, err := versionTableExists(ctx, db)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: pending migrations: %w", err)
	}
	if !exists {
		return len(p.ListSources()), nil
	}
	status, err := p.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: pending migrations: %w", err)
	}
	n := 0
	for _, st := range status {
		if st.State == goose.StatePending {
			n++
		}
	}
	return n, nil
}

// newProvider returns a goose provider for db's dialect. The provider is
// never closed: Provider.Close would close db, which the caller owns.
func newProvider(db *sqldb.DB) (*goose.Provider, error) {
	opts := []goose.ProviderOption{
		goose.WithTableName(versionTable),
		// Go migrations registered globally (goose.AddMigration) by any
		// other package must not leak into ours.
		goose.WithDisableGlobalRegistry(true),
		// The caller reports the applied count; goose's per-file lines
		// would go to the standard logger, outside our slog output.
		goose.WithLogger(goose.NopLogger()),
	}
	var dialect goose.Dialect
	switch db.Dialect {
	case sqldb.SQLite:
		dialect = goose.DialectSQLite3
	case sqldb.Postgres:
		dialect = goose.DialectPostgres
		// Retry every second for up to five minutes: a peer's migration
		// can take a while, and the default 5 s period slows every start.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID), lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	default:
		return nil, fmt.Errorf("sqlstore: unsupported SQL dialect %q", db.Dialect)
	}
	fsys, err := fs.Sub(migrationsFS, "migrations/"+string(db.Dialect))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	p, err := goose.NewProvider(dialect, db.DB, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	return p, nil
}

// versionTableExists reports whether versionTable exists where goose would
// look for it (on PostgreSQL: the current schema).
func versionTableExists(ctx context.Context, db *sqldb.DB) (bool, error) {
	q := `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)`
	if db.Dialect == sqldb.Postgres {
		q = `SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1)`
	}
	var exists bool
	if err := db.QueryRowContext(ctx, q, versionTable).Scan(&exists); err != nil {
		return false, err
	}
	return exists, nil
}
