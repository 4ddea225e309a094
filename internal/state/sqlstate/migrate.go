package sqlstate

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/kaiin-project/kaiin/internal/sqldb"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// VersionTable records which hot-state migrations have run. The durable
// store keeps its own table (kaiin_store_migrations) in the same database,
// so the two sets of migrations are versioned independently.
const VersionTable = "kaiin_state_migrations"

// lockID is the PostgreSQL advisory lock held while migrating. It differs
// from goose's default (which the durable store may use) so that the two
// migrations never wait for each other. crc32("kaiin_state_migrations").
const lockID int64 = 0x41bf8559

// Migrate applies the pending hot-state migrations and reports how many it
// applied. On PostgreSQL it holds a session advisory lock, so nodes that
// start together migrate one at a time and the later ones find nothing
// left to do.
func Migrate(ctx context.Context, db *sqldb.DB) (applied int, err error) {
	p, err := provider(db)
	if err != nil {
		return 0, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return len(res), fmt.Errorf("sqlstate: migrate: %w", err)
	}
	return len(res), nil
}

// Pending reports how many hot-state migrations have not run yet. It
// creates the (empty) version table when missing, as goose does.
func Pending(ctx context.Context, db *sqldb.DB) (int, error) {
	p, err := provider(db)
	if err != nil {
		return 0, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlstate: migration status: %w", err)
	}
	n := 0
	for _, s := range st {
		if s.State == goose.StatePending {
			n++
		}
	}
	return n, nil
}

// provider builds a goose provider for db's dialect. Providers are cheap
// and never closed: Provider.Close would close the caller's *sql.DB.
func provider(db *sqldb.DB) (*goose.Provider, error) {
	var (
		dialect goose.Dialect
		dir     string
		opts    = []goose.ProviderOption{
			goose.WithTableName(VersionTable),
			// The global registry holds Go migrations other packages
			// may register; hot state has SQL migrations only.
			goose.WithDisableGlobalRegistry(true),
		}
	)
	switch db.Dialect {
	case sqldb.SQLite:
		dialect, dir = goose.DialectSQLite3, "migrations/sqlite"
	case sqldb.Postgres:
		dialect, dir = goose.DialectPostgres, "migrations/postgres"
		// Retry every second (goose's default is every 5 s) for up to
		// five minutes, so a node waiting for another is not slowed
		// needlessly.
		l, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID), lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, fmt.Errorf("sqlstate: migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(l))
	default:
		return nil, fmt.Errorf("sqlstate: unsupported SQL dialect %q", db.Dialect)
	}
	sub, err := fs.Sub(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstate: migrations: %w", err)
	}
	p, err := goose.NewProvider(dialect, db.DB, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("sqlstate: migrations: %w", err)
	}
	return p, nil
}
