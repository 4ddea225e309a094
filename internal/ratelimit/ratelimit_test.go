package ratelimit_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kaiin-project/kaiin/internal/ratelimit"
	"github.com/kaiin-project/kaiin/internal/sqldb"
	"github.com/kaiin-project/kaiin/internal/state/sqlstate"
)

func TestAllowCountsPerSubject(t *testing.T) {
	db, err := sqldb.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := sqlstate.Migrate(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	st := sqlstate.New(db)
	l := ratelimit.New(st, []byte("key"))
	r := ratelimit.Rate{N: 2, Per: time.Minute}
	for i, want := range []bool{true, true, false, false} {
		ok, retry, err := l.Allow(t.Context(), "signin", r, "alice@example.com")
		if err != nil || ok != want || (!ok && retry <= 0) {
			t.Fatalf("attempt %d: ok=%v retry=%v err=%v", i, ok, retry, err)
		}
	}
	if ok, _, _ := l.Allow(t.Context(), "signin", r, "bob@example.com"); !ok {
		t.Fatal("another subject was limited")
	}
	if ok, _, _ := l.Allow(t.Context(), "reset", r, "alice@example.com"); !ok {
		t.Fatal("another kind was limited")
	}
	if err := l.Reset(t.Context(), "signin", "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := l.Allow(t.Context(), "signin", r, "alice@example.com"); !ok {
		t.Fatal("reset did not clear the count")
	}
	if ok, _, _ := l.Allow(t.Context(), "x", ratelimit.Rate{}, "a"); !ok {
		t.Fatal("the zero rate limited")
	}
	// Subjects (emails, IPs) are stored only as keyed hashes.
	rows, err := db.QueryContext(t.Context(), "SELECT key FROM kaiin_state_counters")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var k string
		rows.Scan(&k)
		if strings.Contains(k, "alice") || strings.Contains(k, "example.com") {
			t.Fatalf("subject in clear in key %q", k)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no counters stored")
	}
}
