package sqlstate_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kaiin-project/kaiin/internal/sqldb"
	"github.com/kaiin-project/kaiin/internal/state"
	"github.com/kaiin-project/kaiin/internal/state/sqlstate"
	"github.com/kaiin-project/kaiin/internal/state/statetest"
)

func TestSQLite(t *testing.T) {
	statetest.Run(t, func(t *testing.T) (a, b state.State) {
		path := filepath.Join(t.TempDir(), "kaiin.db")
		db1 := openSQLite(t, path)
		migrate(t, db1)
		// A second pool on the same file, as a second process would open.
		db2 := openSQLite(t, path)
		return sqlstate.New(db1), sqlstate.New(db2)
	})
}

func TestPostgres(t *testing.T) {
	dsn := newPostgresDatabase(t)
	db1, db2 := openPostgres(t, dsn), openPostgres(t, dsn)
	migrate(t, db1)
	statetest.Run(t, func(t *testing.T) (a, b state.State) {
		// Subtests run one at a time, so emptying the tables gives each a
		// fresh state without creating a database per subtest.
		for _, table := range []string{"kaiin_state_kv", "kaiin_state_counters", "kaiin_state_sets"} {
			if _, err := db1.ExecContext(t.Context(), "TRUNCATE "+table); err != nil {
				t.Fatalf("empty %s: %v", table, err)
			}
		}
		return sqlstate.New(db1), sqlstate.New(db2)
	})
}

// backends opens a fresh, empty, unmigrated database of each dialect.
var backends = []struct {
	name string
	open func(t *testing.T) *sqldb.DB
}{
	{"SQLite", func(t *testing.T) *sqldb.DB {
		return openSQLite(t, filepath.Join(t.TempDir(), "kaiin.db"))
	}},
	{"Postgres", func(t *testing.T) *sqldb.DB {
		return openPostgres(t, newPostgresDatabase(t))
	}},
}

func TestMigrate(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := t.Context()
			db := be.open(t)
			if n, err := sqlstate.Pending(ctx, db); err != nil || n != 1 {
				t.Fatalf("Pending on a new database = %d, %v; want 1", n, err)
			}
			if n, err := sqlstate.Migrate(ctx, db); err != nil || n != 1 {
				t.Fatalf("Migrate = %d, %v; want 1", n, err)
			}
			if n, err := sqlstate.Migrate(ctx, db); err != nil || n != 0 {
				t.Fatalf("second Migrate = %d, %v; want 0 (idempotent)", n, err)
			}
			if n, err := sqlstate.Pending(ctx, db); err != nil || n != 0 {
				t.Fatalf("Pending after Migrate = %d, %v; want 0", n, err)
			}
			// Our own version table, so the durable store's is untouched.
			var versions int
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+sqlstate.VersionTable).Scan(&versions); err != nil {
				t.Fatalf("read %s: %v", sqlstate.VersionTable, err)
			}
			if versions < 2 { // goose's version 0 row and ours
				t.Errorf("%s has %d rows; want at least 2", sqlstate.VersionTable, versions)
			}
			if _, err := db.ExecContext(ctx, "SELECT 1 FROM goose_db_version"); err == nil {
				t.Errorf("goose's default table goose_db_version exists; want only %s", sqlstate.VersionTable)
			}
			// Close must leave the caller's pool open.
			if err := sqlstate.New(db).Close(); err != nil {
				t.Fatal(err)
			}
			if err := db.PingContext(ctx); err != nil {
				t.Fatalf("pool closed by State.Close: %v", err)
			}
		})
	}
}

// Nodes that start together all migrate; the advisory lock lets one apply
// the migration and the others find it done.
func TestPostgresConcurrentMigrate(t *testing.T) {
	dsn := newPostgresDatabase(t)
	const nodes = 4
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
		errs  []error
	)
	for range nodes {
		db := openPostgres(t, dsn)
		wg.Go(func() {
			n, err := sqlstate.Migrate(t.Context(), db)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 || total != 1 {
		t.Fatalf("%d concurrent Migrates applied %d migrations in all, errors %v; want 1 and none", nodes, total, errs)
	}
}

func TestGC(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := t.Context()
			db := be.open(t)
			migrate(t, db)
			clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			s := sqlstate.New(db)
			s.Now = clock.Now

			// More expired values than one GC batch holds, inserted in one
			// statement: 1100 round trips would slow the test.
			const short = 1100
			expires := clock.Now().Add(time.Second).UnixMilli()
			if _, err := db.ExecContext(ctx, `
				WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
				INSERT INTO kaiin_state_kv (key, value, expires_at)
				SELECT 'short:' || i, $2, $3 FROM n`, short, []byte("v"), expires); err != nil {
				t.Fatal(err)
			}
			must(t, s.Set(ctx, "long", []byte("v"), time.Hour))
			if _, err := s.Incr(ctx, "ctr-short", time.Second); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Incr(ctx, "ctr-long", time.Hour); err != nil {
				t.Fatal(err)
			}
			must(t, s.SAdd(ctx, "set-short", "a", time.Second))
			must(t, s.SAdd(ctx, "set-short", "b", time.Second))
			must(t, s.SAdd(ctx, "set-long", "a", time.Hour))

			if n, err := s.GC(ctx); err != nil || n != 0 {
				t.Fatalf("GC before expiry = %d, %v; want 0", n, err)
			}
			clock.Add(time.Second) // expires_at == now counts as expired
			if n, err := s.GC(ctx); err != nil || n != short+1+2 {
				t.Fatalf("GC = %d, %v; want %d", n, err, short+1+2)
			}
			if n, err := s.GC(ctx); err != nil || n != 0 {
				t.Fatalf("second GC = %d, %v; want 0", n, err)
			}
			if v, err := s.Get(ctx, "long"); err != nil || string(v) != "v" {
				t.Errorf("Get(long) after GC = %q, %v", v, err)
			}
			if n, err := s.Incr(ctx, "ctr-long", time.Hour); err != nil || n != 2 {
				t.Errorf("Incr(ctr-long) after GC = %d, %v; want 2", n, err)
			}
			if m, err := s.SMembers(ctx, "set-long"); err != nil || len(m) != 1 {
				t.Errorf("SMembers(set-long) after GC = %q, %v", m, err)
			}
			var rows int
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM kaiin_state_kv").Scan(&rows); err != nil || rows != 1 {
				t.Errorf("kaiin_state_kv holds %d rows (%v); want 1", rows, err)
			}

			// RunGC collects in the background and stops with its context.
			must(t, s.Set(ctx, "short:again", []byte("v"), time.Second))
			clock.Add(time.Second)
			gcCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { s.RunGC(gcCtx, 10*time.Millisecond); close(done) }()
			deadline := time.Now().Add(5 * time.Second)
			for rows != 0 {
				if time.Now().After(deadline) {
					t.Fatal("RunGC did not collect an expired row within 5s")
				}
				time.Sleep(10 * time.Millisecond)
				must(t, db.QueryRowContext(ctx, "SELECT count(*) FROM kaiin_state_kv WHERE key = 'short:again'").Scan(&rows))
			}
			stop()
			<-done
		})
	}
}

// The injected clock decides expiry, so windows can be tested without
// sleeping.
func TestClock(t *testing.T) {
	ctx := t.Context()
	db := openSQLite(t, filepath.Join(t.TempDir(), "kaiin.db"))
	migrate(t, db)
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	s := sqlstate.New(db)
	s.Now = clock.Now

	incr := func(want int64) {
		t.Helper()
		if n, err := s.Incr(ctx, "ctr", time.Minute); err != nil || n != want {
			t.Fatalf("Incr = %d, %v; want %d", n, err, want)
		}
	}
	incr(1)
	clock.Add(59 * time.Second)
	incr(2)
	clock.Add(time.Second) // the window opened by the first Incr is over
	incr(1)

	must(t, s.Set(ctx, "k", []byte("v"), time.Millisecond/2)) // rounds up to 1 ms
	if _, err := s.Get(ctx, "k"); err != nil {
		t.Errorf("Get of a sub-millisecond ttl at once = %v; want the value", err)
	}
	clock.Add(time.Millisecond)
	if _, err := s.Get(ctx, "k"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("Get after 1 ms = %v; want ErrNotFound", err)
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openSQLite(t *testing.T, path string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func migrate(t *testing.T, db *sqldb.DB) {
	t.Helper()
	if _, err := sqlstate.Migrate(t.Context(), db); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// postgresURL is the server the tests use; it must be reachable (the test
// fails otherwise: a backend not tested against a real server is not done).
func postgresURL() string {
	if u := os.Getenv("KAIIN_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// newPostgresDatabase creates a database with a unique name on the test
// server, drops it when t ends, and returns its URL. Other packages' tests
// share the server, so the tests touch only databases they created.
func newPostgresDatabase(t *testing.T) string {
	t.Helper()
	admin := postgresURL()
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("KAIIN_TEST_POSTGRES_URL must be a postgres:// URL, got %q", sqldb.Redact(admin, admin))
	}
	db, err := sqldb.OpenPostgres(t.Context(), admin, 2)
	if err != nil {
		t.Fatalf("PostgreSQL is required for this test and is not reachable at %s (set KAIIN_TEST_POSTGRES_URL): %v",
			sqldb.Redact(u.Redacted(), admin), err)
	}
	t.Cleanup(func() { db.Close() })

	b := make([]byte, 8)
	rand.Read(b)
	name := "kaiin_state_test_" + hex.EncodeToString(b)
	if _, err := db.ExecContext(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database %s: %v", name, err)
	}
	// Registered before the caller opens pools on the database, so it runs
	// after they are closed (t.Cleanup is last-in, first-out).
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE ends sessions a failed test may have left behind.
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

func openPostgres(t *testing.T, dsn string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.OpenPostgres(t.Context(), dsn, 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
