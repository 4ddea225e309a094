package sqlstore

import (
	"context"
	"embed"
	"io/fs"

	"github.com/kaiin-project/kaiin/internal/sqldb"
)

//go:embed migrations
var migrationsFS embed.FS

// migrations are the durable store's, versioned in kaiin_store_migrations.
var migrations = func() sqldb.Migrations {
	sub, err := fs.Sub(migrationsFS, "migrations")
	if err != nil {
		panic(err)
	}
	return sqldb.Migrations{FS: sub, Table: "kaiin_store_migrations"}
}()

// Migrate applies every pending migration of the durable store and returns
// how many it applied; see sqldb.Migrations.Up.
func Migrate(ctx context.Context, db *sqldb.DB) (applied int, err error) {
	return migrations.Up(ctx, db)
}

// Pending returns how many durable-store migrations are not applied yet,
// writing nothing.
func Pending(ctx context.Context, db *sqldb.DB) (int, error) {
	return migrations.Pending(ctx, db)
}
