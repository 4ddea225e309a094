package sqlstate

import (
	"context"
	"embed"
	"io/fs"

	"github.com/kaiin-project/kaiin/internal/sqldb"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationsFS embed.FS

// VersionTable records which hot-state migrations have run. The durable
// store keeps its own table (kaiin_store_migrations) in the same database,
// so the two sets of migrations are versioned independently.
const VersionTable = "kaiin_state_migrations"

var migrations = func() sqldb.Migrations {
	sub, err := fs.Sub(migrationsFS, "migrations")
	if err != nil {
		panic(err)
	}
	return sqldb.Migrations{FS: sub, Table: VersionTable}
}()

// Migrate applies the pending hot-state migrations and reports how many it
// applied; see sqldb.Migrations.Up.
func Migrate(ctx context.Context, db *sqldb.DB) (applied int, err error) {
	return migrations.Up(ctx, db)
}

// Pending reports how many hot-state migrations have not run yet, writing
// nothing.
func Pending(ctx context.Context, db *sqldb.DB) (int, error) {
	return migrations.Pending(ctx, db)
}
