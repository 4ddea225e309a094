package sqlstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaiin-project/kaiin/internal/sqldb"
	"github.com/kaiin-project/kaiin/internal/store"
	"github.com/kaiin-project/kaiin/internal/store/storetest"
)

// connectFunc opens a new connection pool on one database, closed when t
// ends. Two pools on one database stand in for two nodes.
type connectFunc func(t *testing.T) *sqldb.DB

// newDatabaseFunc creates a fresh, empty (unmigrated) database and returns
// how to connect to it.
type newDatabaseFunc func(t *testing.T) connectFunc

func TestSQLite(t *testing.T) {
	testBackend(t, newSQLiteDatabase)
}

// TestPostgres needs a real server: it fails, never skips, when there is
// none, because CI provides one.
func TestPostgres(t *testing.T) {
	testBackend(t, postgresDatabases(t))
}

func testBackend(t *testing.T, newDatabase newDatabaseFunc) {
	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			return New(migrated(t, newDatabase(t)(t)))
		})
	})
	t.Run("MultiNode", func(t *testing.T) {
		storetest.RunMultiNode(t, func(t *testing.T, n int) []store.Store {
			connect := newDatabase(t)
			var nodes []store.Store
			for i := range n {
				db := connect(t)
				if i == 0 {
					migrated(t, db)
				}
				nodes = append(nodes, New(db))
			}
			return nodes
		})
	})
	t.Run("ListEncoding", func(t *testing.T) { testListEncoding(t, New(migrated(t, newDatabase(t)(t)))) })
	t.Run("Migrate", func(t *testing.T) { testMigrate(t, newDatabase(t)) })
	t.Run("ConcurrentMigrate", func(t *testing.T) { testConcurrentMigrate(t, newDatabase(t)) })
}

func migrated(t *testing.T, db *sqldb.DB) *sqldb.DB {
	t.Helper()
	if _, err := Migrate(t.Context(), db); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// migrationCount is the number of migration files for db's dialect.
func migrationCount(t *testing.T, db *sqldb.DB) int {
	t.Helper()
	files, err := fs.Glob(migrationsFS, "migrations/"+string(db.Dialect)+"/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations for %s: %v", db.Dialect, err)
	}
	return len(files)
}

func testMigrate(t *testing.T, connect connectFunc) {
	ctx := t.Context()
	db := connect(t)
	total := migrationCount(t, db)

	n, err := Pending(ctx, db)
	if err != nil || n != total {
		t.Fatalf("Pending on a new database = %d, %v; want %d", n, err, total)
	}
	// Pending only reads: the version table must not exist yet.
	var versionTables int
	q := `SELECT count(*) FROM sqlite_master WHERE name = 'kaiin_store_migrations'`
	if db.Dialect == sqldb.Postgres {
		q = `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'kaiin_store_migrations'`
	}
	if err := db.QueryRowContext(ctx, q).Scan(&versionTables); err != nil || versionTables != 0 {
		t.Errorf("after Pending, version tables = %d, %v; want 0", versionTables, err)
	}

	applied, err := Migrate(ctx, db)
	if err != nil || applied != total {
		t.Fatalf("first Migrate = %d, %v; want %d", applied, err, total)
	}
	if n, err := Pending(ctx, db); err != nil || n != 0 {
		t.Errorf("Pending after Migrate = %d, %v; want 0", n, err)
	}
	if applied, err := Migrate(ctx, db); err != nil || applied != 0 {
		t.Errorf("second Migrate = %d, %v; want 0", applied, err)
	}
	// The store's version table is its own, not goose's default.
	var tables int
	if err := db.QueryRowContext(ctx, tableCountQuery(db), "goose_db_version").Scan(&tables); err != nil || tables != 0 {
		t.Errorf("goose_db_version tables = %d, %v; want 0", tables, err)
	}
}

func tableCountQuery(db *sqldb.DB) string {
	if db.Dialect == sqldb.Postgres {
		return `SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1`
	}
	return `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1`
}

// testConcurrentMigrate starts two nodes migrating one new database at
// once: both succeed and the migrations are applied once.
func testConcurrentMigrate(t *testing.T, connect connectFunc) {
	ctx := t.Context()
	dbs := []*sqldb.DB{connect(t), connect(t)}
	total := migrationCount(t, dbs[0])

	start := make(chan struct{})
	applied := make([]int, len(dbs))
	errs := make([]error, len(dbs))
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() {
			<-start
			applied[i], errs[i] = Migrate(ctx, db)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate on node %d: %v", i, err)
		}
	}
	if applied[0]+applied[1] != total {
		t.Errorf("the nodes applied %v migrations, want %d in all", applied, total)
	}
	if n, err := Pending(ctx, dbs[1]); err != nil || n != 0 {
		t.Errorf("Pending after concurrent Migrate = %d, %v; want 0", n, err)
	}
	if err := New(dbs[1]).CreateUser(ctx, store.User{ID: "u1", Email: "u1@example.com"}); err != nil {
		t.Errorf("CreateUser after concurrent Migrate: %v", err)
	}
}

// TestMigrationsMatch: both dialects must define the same versions, or
// Pending would mean different things on each.
func TestMigrationsMatch(t *testing.T) {
	names := func(dialect sqldb.Dialect) []string {
		files, err := fs.Glob(migrationsFS, "migrations/"+string(dialect)+"/*.sql")
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range files {
			files[i] = filepath.Base(f)
		}
		return files
	}
	sqlite, pg := names(sqldb.SQLite), names(sqldb.Postgres)
	if len(sqlite) == 0 || !slices.Equal(sqlite, pg) {
		t.Errorf("migrations differ:\n\tsqlite:   %v\n\tpostgres: %v", sqlite, pg)
	}
}

// TestSQLitePlaceholders pins what the queries rely on: modernc.org/sqlite
// binds $N by number, also out of order and when one $N appears twice.
func TestSQLitePlaceholders(t *testing.T) {
	db := newSQLiteDatabase(t)(t)
	var a, b, c string
	err := db.QueryRowContext(t.Context(), `SELECT $2, $1 || $1, $2`, "one", "two").Scan(&a, &b, &c)
	if err != nil || a != "two" || b != "oneone" || c != "two" {
		t.Errorf(`SELECT $2, $1 || $1, $2 = %q, %q, %q, %v; want "two", "oneone", "two"`, a, b, c, err)
	}
}

func newSQLiteDatabase(t *testing.T) connectFunc {
	path := filepath.Join(t.TempDir(), "kaiin.db")
	return func(t *testing.T) *sqldb.DB {
		t.Helper()
		db, err := sqldb.OpenSQLite(t.Context(), path)
		if err != nil {
			t.Fatalf("open SQLite: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
}

const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// postgresDatabases creates one database for this test run, dropped at the
// end, and returns a newDatabaseFunc that gives each caller a fresh schema
// in it: much cheaper than a database per subtest, and as isolated. Other
// packages' tests use the same server at the same time, so nothing outside
// our own database is touched.
func postgresDatabases(t *testing.T) newDatabaseFunc {
	t.Helper()
	serverURL := os.Getenv("KAIIN_TEST_POSTGRES_URL")
	if serverURL == "" {
		serverURL = defaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	admin, err := sqldb.OpenPostgres(ctx, serverURL, 2)
	if err != nil {
		t.Fatalf("TestPostgres needs a PostgreSQL server at KAIIN_TEST_POSTGRES_URL (default %s): %v",
			defaultPostgresURL, err)
	}
	t.Cleanup(func() { admin.Close() })

	name := "kaiin_store_test_" + strings.ToLower(rand.Text())
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create database %s: %s", name, sqldb.Redact(err.Error(), serverURL))
	}
	t.Cleanup(func() {
		// t.Context is done by now. FORCE ends any connection a failed
		// test left open.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %s", name, sqldb.Redact(err.Error(), serverURL))
		}
	})

	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatalf("KAIIN_TEST_POSTGRES_URL is not a URL")
	}
	u.Path = "/" + name
	dbURL := u.String()
	setup, err := sqldb.OpenPostgres(ctx, dbURL, 2)
	if err != nil {
		t.Fatalf("connect to %s: %v", name, err)
	}
	t.Cleanup(func() { setup.Close() }) // runs before the DROP above

	var schemas atomic.Int64
	return func(t *testing.T) connectFunc {
		t.Helper()
		schema := fmt.Sprintf("s%d", schemas.Add(1))
		if _, err := setup.ExecContext(t.Context(), `CREATE SCHEMA `+schema); err != nil {
			t.Fatalf("create schema %s: %v", schema, err)
		}
		su := *u
		q := su.Query()
		q.Set("search_path", schema) // pgx sends unknown parameters as run-time settings
		su.RawQuery = q.Encode()
		schemaURL := su.String()
		return func(t *testing.T) *sqldb.DB {
			t.Helper()
			db, err := sqldb.OpenPostgres(t.Context(), schemaURL, 5)
			if err != nil {
				t.Fatalf("connect to %s: %v", name, err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}
	}
}

// testListEncoding pins what this backend documents beyond the conformance
// suite: empty lists and byte slices read back as nil, and a list entry
// that is not valid UTF-8 (which JSON cannot carry exactly) is refused.
func testListEncoding(t *testing.T, s *Store) {
	ctx := t.Context()
	c := store.Client{ID: "c1", RedirectURIs: []string{}, JWKS: []byte{}}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	got, err := s.GetClient(ctx, "c1")
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	if got.RedirectURIs != nil || got.PostLogoutRedirectURIs != nil || got.GrantTypes != nil ||
		got.Scopes != nil || got.JWKS != nil {
		t.Errorf("empty lists and JWKS read back as %#v, want nil", got)
	}

	bad := store.Client{ID: "c2", Scopes: []string{"openid", "\xff"}}
	if err := s.CreateClient(ctx, bad); err == nil {
		t.Error("CreateClient with an invalid UTF-8 scope succeeded")
	}
	if _, err := s.GetClient(ctx, "c2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient(c2) error = %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateClient(ctx, "c1", func(c store.Client) (store.Client, error) {
		c.RedirectURIs = []string{"https://x.example/\xc0"}
		return c, nil
	}); err == nil {
		t.Error("UpdateClient with an invalid UTF-8 redirect URI succeeded")
	}
	if err := s.PutConsent(ctx, store.Consent{UserID: "u", ClientID: "c1", Scopes: []string{"\xfe"}}); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("PutConsent with an invalid UTF-8 scope: error = %v, want an encoding error", err)
	}
}
