// Package sqlstate keeps Kaiin's hot state in SQL tables: SQLite for the
// embedded single-node mode, PostgreSQL when several nodes share it.
//
// Expiry is a column (unix milliseconds): every read ignores rows whose
// time has come, and RunGC deletes them later in small batches. Each
// operation is one statement, or one short transaction, so that it is
// atomic on both dialects.
//
// Migrate must have run before a State is used.
package sqlstate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kaiin-project/kaiin/internal/sqldb"
	"github.com/kaiin-project/kaiin/internal/state"
)

var _ state.State = (*State)(nil)

// gcBatch bounds the rows one GC statement deletes, so GC never holds a
// long write lock (SQLite has one writer) or builds a huge transaction.
const gcBatch = 1000

// State is the SQL hot state. Its exported fields may be set after New and
// before first use.
type State struct {
	// Now returns the current time; nil means time.Now. Expiry is decided
	// by this clock rather than the database's so that tests can move time
	// without sleeping. Nodes sharing PostgreSQL must keep their clocks
	// in sync (NTP), as they must for tokens anyway.
	Now func() time.Time
	// Logger receives RunGC's errors; nil means slog.Default().
	Logger *slog.Logger

	db *sqldb.DB
	// prepared holds the hot statements, each prepared on first use (the
	// tables exist only once Migrate has run) and then reused: database/sql
	// keeps a prepared statement per pooled connection, so a query no
	// longer parses and plans its SQL on every call.
	prepared [numHot]atomic.Pointer[sql.Stmt]
	prepMu   sync.Mutex
}

// The hot statements: the ones every token, sign-in and rate limit uses.
const (
	hotSet = iota
	hotSetNX
	hotGet
	hotIncr
	numHot
)

var hotSQL = [numHot]string{
	hotSet: `
		INSERT INTO kaiin_state_kv (key, value, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
	hotSetNX: `
		INSERT INTO kaiin_state_kv (key, value, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
		WHERE kaiin_state_kv.expires_at <= $4
		RETURNING 1`,
	hotGet: `SELECT value FROM kaiin_state_kv WHERE key = $1 AND expires_at > $2`,
	hotIncr: `
		INSERT INTO kaiin_state_counters (key, n, expires_at) VALUES ($1, 1, $2)
		ON CONFLICT (key) DO UPDATE SET
			n = CASE WHEN kaiin_state_counters.expires_at <= $3 THEN 1
			         ELSE kaiin_state_counters.n + 1 END,
			expires_at = CASE WHEN kaiin_state_counters.expires_at <= $3 THEN excluded.expires_at
			                  ELSE kaiin_state_counters.expires_at END
		RETURNING n`,
}

// stmt returns hot statement i, preparing it the first time; nil when it
// cannot be prepared (the caller then runs the SQL unprepared, and the
// next call tries again).
func (s *State) stmt(ctx context.Context, i int) *sql.Stmt {
	if st := s.prepared[i].Load(); st != nil {
		return st
	}
	s.prepMu.Lock()
	defer s.prepMu.Unlock()
	if st := s.prepared[i].Load(); st != nil {
		return st
	}
	st, err := s.db.PrepareContext(context.WithoutCancel(ctx), hotSQL[i])
	if err != nil {
		return nil
	}
	s.prepared[i].Store(st)
	return st
}

// execHot runs hot statement i as an Exec.
func (s *State) execHot(ctx context.Context, i int, args ...any) (sql.Result, error) {
	if st := s.stmt(ctx, i); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return s.db.ExecContext(ctx, hotSQL[i], args...)
}

// queryRowHot runs hot statement i as a QueryRow.
func (s *State) queryRowHot(ctx context.Context, i int, args ...any) *sql.Row {
	if st := s.stmt(ctx, i); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, hotSQL[i], args...)
}

// New returns a hot state in db. The caller keeps ownership of db.
func New(db *sqldb.DB) *State {
	return &State{db: db}
}

func (s *State) now() int64 {
	if s.Now != nil {
		return s.Now().UnixMilli()
	}
	return time.Now().UnixMilli()
}

// expiry returns the unix millisecond at which a ttl starting now ends,
// rounding up so that a positive ttl never expires at once.
func (s *State) expiry(ttl time.Duration) (now, exp int64, err error) {
	if ttl <= 0 {
		return 0, 0, fmt.Errorf("sqlstate: ttl must be positive, got %v", ttl)
	}
	now = s.now()
	return now, now + int64((ttl+time.Millisecond-1)/time.Millisecond), nil
}

// Set implements state.State.
func (s *State) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	_, exp, err := s.expiry(ttl)
	if err != nil {
		return err
	}
	_, err = s.execHot(ctx, hotSet, key, nonNil(value), exp)
	if err != nil {
		return fmt.Errorf("sqlstate: set: %w", err)
	}
	return nil
}

// SetNX implements state.State. An expired row counts as absent: it is
// overwritten in the same statement, so no GC is needed first.
func (s *State) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	now, exp, err := s.expiry(ttl)
	if err != nil {
		return false, err
	}
	var one int
	err = s.queryRowHot(ctx, hotSetNX, key, nonNil(value), exp, now).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil // a live row is in the way
	case err != nil:
		return false, fmt.Errorf("sqlstate: setnx: %w", err)
	}
	return true, nil
}

// Get implements state.State.
func (s *State) Get(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.queryRowHot(ctx, hotGet, key, s.now()).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, state.ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("sqlstate: get: %w", err)
	}
	return nonNil(v), nil
}

// Take implements state.State with DELETE … RETURNING: the row lock (or
// SQLite's single writer) lets exactly one concurrent caller see the row.
// An expired row is deleted too and reported as not found.
func (s *State) Take(ctx context.Context, key string) ([]byte, error) {
	now := s.now()
	var (
		v   []byte
		exp int64
	)
	err := s.db.QueryRowContext(ctx,
		`DELETE FROM kaiin_state_kv WHERE key = $1 RETURNING value, expires_at`,
		key).Scan(&v, &exp)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, state.ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("sqlstate: take: %w", err)
	case exp <= now:
		return nil, state.ErrNotFound
	}
	return nonNil(v), nil
}

// Delete implements state.State. Like Redis DEL, it removes values,
// counters and sets alike.
func (s *State) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	// Chunks bound the advisory locks one transaction holds (PostgreSQL's
	// lock table is shared and finite).
	for chunk := range slices.Chunk(keys, 32) {
		in, args := inList(1, chunk)
		err := s.tx(ctx, chunk, func(tx *sql.Tx) error {
			for _, table := range tables {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE key IN (`+in+`)`, args...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("sqlstate: delete: %w", err)
		}
	}
	return nil
}

// Expire implements state.State. Like Redis PEXPIRE, it applies to values,
// counters and sets alike.
func (s *State) Expire(ctx context.Context, key string, ttl time.Duration) error {
	now, exp, err := s.expiry(ttl)
	if err != nil {
		return err
	}
	var n int64
	err = s.tx(ctx, []string{key}, func(tx *sql.Tx) error {
		n = 0
		for _, table := range tables {
			res, err := tx.ExecContext(ctx,
				`UPDATE `+table+` SET expires_at = $2 WHERE key = $1 AND expires_at > $3`,
				key, exp, now)
			if err != nil {
				return err
			}
			m, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += m
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstate: expire: %w", err)
	}
	if n == 0 {
		return state.ErrNotFound
	}
	return nil
}

// Incr implements state.State in one statement. The window is fixed: the
// expiry is set when the counter starts (or restarts after expiring) and
// never moved by later increments.
func (s *State) Incr(ctx context.Context, key string, window time.Duration) (int64, error) {
	now, exp, err := s.expiry(window)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.queryRowHot(ctx, hotIncr, key, exp, now).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlstate: incr: %w", err)
	}
	return n, nil
}

// SAdd implements state.State. Members of a set that has expired (and not
// yet been collected) are dropped first, so they do not come back to life
// with the new ttl; then every member gets the new expiry, as with Redis
// SADD + PEXPIRE on the whole set.
func (s *State) SAdd(ctx context.Context, key, member string, ttl time.Duration) error {
	now, exp, err := s.expiry(ttl)
	if err != nil {
		return err
	}
	err = s.tx(ctx, []string{key}, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM kaiin_state_sets WHERE key = $1 AND expires_at <= $2`, key, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO kaiin_state_sets (key, member, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (key, member) DO NOTHING`, key, member, exp); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`UPDATE kaiin_state_sets SET expires_at = $2 WHERE key = $1`, key, exp)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstate: sadd: %w", err)
	}
	return nil
}

// SMembers implements state.State.
func (s *State) SMembers(ctx context.Context, key string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT member FROM kaiin_state_sets WHERE key = $1 AND expires_at > $2`, key, s.now())
	if err != nil {
		return nil, fmt.Errorf("sqlstate: smembers: %w", err)
	}
	defer rows.Close()
	members := []string{}
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, fmt.Errorf("sqlstate: smembers: %w", err)
		}
		members = append(members, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstate: smembers: %w", err)
	}
	return members, nil
}

// SRem implements state.State.
func (s *State) SRem(ctx context.Context, key string, members ...string) error {
	if len(members) == 0 {
		return nil
	}
	in, args := inList(2, members)
	args = append([]any{key}, args...)
	err := s.tx(ctx, []string{key}, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`DELETE FROM kaiin_state_sets WHERE key = $1 AND member IN (`+in+`)`, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstate: srem: %w", err)
	}
	return nil
}

// Ping implements state.State.
func (s *State) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlstate: ping: %w", err)
	}
	return nil
}

// Close implements state.State. It does nothing: the *sql.DB is shared
// with the durable store and belongs to the caller, who closes it (which
// also frees the prepared statements).
func (s *State) Close() error { return nil }

// GC deletes expired rows, at most gcBatch per statement, until none are
// left or ctx is done, and reports how many it deleted.
func (s *State) GC(ctx context.Context) (deleted int, err error) {
	now := s.now()
	// The outer "expires_at <= $1" re-checks each row: on PostgreSQL a row
	// refreshed by a concurrent Set after the subquery saw it is skipped.
	// On PostgreSQL, SKIP LOCKED leaves rows that a writer holds to a
	// later pass, so GC never waits for a lock and so never deadlocks.
	skipLocked := ""
	if s.db.Dialect == sqldb.Postgres {
		skipLocked = " FOR UPDATE SKIP LOCKED"
	}
	stmts := []string{
		`DELETE FROM kaiin_state_kv WHERE key IN
			(SELECT key FROM kaiin_state_kv WHERE expires_at <= $1 LIMIT $2` + skipLocked + `) AND expires_at <= $1`,
		`DELETE FROM kaiin_state_counters WHERE key IN
			(SELECT key FROM kaiin_state_counters WHERE expires_at <= $1 LIMIT $2` + skipLocked + `) AND expires_at <= $1`,
		`DELETE FROM kaiin_state_sets WHERE (key, member) IN
			(SELECT key, member FROM kaiin_state_sets WHERE expires_at <= $1 LIMIT $2` + skipLocked + `) AND expires_at <= $1`,
	}
	for _, q := range stmts {
		for {
			if err := ctx.Err(); err != nil {
				return deleted, err
			}
			res, err := s.db.ExecContext(ctx, q, now, gcBatch)
			if err != nil {
				return deleted, fmt.Errorf("sqlstate: gc: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return deleted, fmt.Errorf("sqlstate: gc: %w", err)
			}
			deleted += int(n)
			if n < gcBatch {
				break
			}
		}
	}
	return deleted, nil
}

// RunGC calls GC every interval until ctx is done. Errors are logged and
// the next pass retries: expired rows are invisible anyway, so a failed
// pass only costs space.
func (s *State) RunGC(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.GC(ctx); err != nil && ctx.Err() == nil {
			s.logger().Error("hot state garbage collection failed", "err", err)
		}
	}
}

func (s *State) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// tables lists every table a key can live in.
var tables = []string{"kaiin_state_kv", "kaiin_state_counters", "kaiin_state_sets"}

// tx runs fn in a transaction that, on PostgreSQL, first takes an
// advisory lock per key. Statements that write several rows of one key (a
// set's members) would otherwise lock those rows in whatever order each
// scan finds them, and two of them could deadlock; the locks are taken in
// sorted order, so they cannot. SQLite needs none: BEGIN IMMEDIATE lets
// one writer in at a time.
func (s *State) tx(ctx context.Context, keys []string, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := s.lockKeys(ctx, tx, keys); err != nil {
		tx.Rollback()
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (s *State) lockKeys(ctx context.Context, tx *sql.Tx, keys []string) error {
	if s.db.Dialect != sqldb.Postgres {
		return nil
	}
	ids := make([]int64, len(keys))
	for i, k := range keys {
		// Two keys with one hash only wait for each other needlessly.
		h := fnv.New64a()
		h.Write([]byte("kaiin_state:" + k))
		ids[i] = int64(h.Sum64())
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, id); err != nil {
			return err
		}
	}
	return nil
}

// inList returns "$first, $first+1, …" for the values, and the values as
// arguments.
func inList(first int, values []string) (string, []any) {
	var b strings.Builder
	args := make([]any, len(values))
	for i, v := range values {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(first+i))
		args[i] = v
	}
	return b.String(), args
}

// nonNil maps a nil slice to an empty one: drivers store nil as NULL, and
// callers comparing with bytes.Equal should not care either way.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
