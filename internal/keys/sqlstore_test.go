package keys

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kaiin-project/kaiin/internal/sqldb"
	"github.com/kaiin-project/kaiin/internal/store/sqlstore"
)

// openSQLite returns the durable store on a fresh, migrated SQLite
// database, and a second store on the same file (a second node).
func openSQLite(t *testing.T) (*sqlstore.Store, *sqlstore.Store) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kaiin.db")
	open := func() *sqldb.DB {
		db, err := sqldb.OpenSQLite(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	db := open()
	if _, err := sqlstore.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	return sqlstore.New(db), sqlstore.New(open())
}

func TestLifecycleSQLite(t *testing.T) {
	st, _ := openSQLite(t)
	testLifecycle(t, st)
}

func TestConcurrentEnsureSQLite(t *testing.T) {
	ctx := context.Background()
	a, b := openSQLite(t)
	c := newClock()
	kek := newKEK(t)
	nodes := []*Manager{newManager(t, a, c, mustSealer(t, kek)), newManager(t, b, c, mustSealer(t, kek))}
	for range 2 {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(func() {
				if err := n.Ensure(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		checkOneSigner(t, a, c.Now(), ES256)
		c.Advance(DefaultRotateEvery)
	}
}
