package sqlstore

// Gateway routes and their version (migration 00008).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kaiin-project/kaiin/internal/sqldb"
	"github.com/kaiin-project/kaiin/internal/store"
)

const routesVersion = "gateway_routes"

// bumpVersion increases a version number inside tx.
func bumpVersion(ctx context.Context, tx *sql.Tx, name string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO kaiin_versions (name, version) VALUES ($1, 1)
		ON CONFLICT (name) DO UPDATE SET version = kaiin_versions.version + 1`, name)
	return err
}

// PutRoute implements store.RouteStore.
func (s *Store) PutRoute(ctx context.Context, r store.StoredRoute) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: put route: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO gateway_routes (name, spec, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at`,
		r.Name, string(r.Spec), s.timeArg(r.UpdatedAt)); err != nil {
		return fmt.Errorf("sqlstore: put route %s: %w", r.Name, err)
	}
	if err := bumpVersion(ctx, tx, routesVersion); err != nil {
		return fmt.Errorf("sqlstore: put route %s: %w", r.Name, err)
	}
	return tx.Commit()
}

// DeleteRoute implements store.RouteStore.
func (s *Store) DeleteRoute(ctx context.Context, name string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: delete route: begin: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM gateway_routes WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("sqlstore: delete route %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlstore: delete route %s: %w", name, store.ErrNotFound)
	}
	if err := bumpVersion(ctx, tx, routesVersion); err != nil {
		return fmt.Errorf("sqlstore: delete route %s: %w", name, err)
	}
	return tx.Commit()
}

// ListRoutes implements store.RouteStore.
func (s *Store) ListRoutes(ctx context.Context) ([]store.StoredRoute, int64, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: s.db.Dialect != sqldb.SQLite})
	if err != nil {
		return nil, 0, fmt.Errorf("sqlstore: list routes: begin: %w", err)
	}
	defer tx.Rollback()
	v, err := version(ctx, tx.QueryRowContext, routesVersion)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlstore: list routes: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT name, spec, updated_at FROM gateway_routes ORDER BY name`)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlstore: list routes: %w", err)
	}
	defer rows.Close()
	var out []store.StoredRoute
	for rows.Next() {
		var r store.StoredRoute
		var spec string
		if err := rows.Scan(&r.Name, &spec, dbTime{&r.UpdatedAt}); err != nil {
			return nil, 0, fmt.Errorf("sqlstore: list routes: %w", err)
		}
		r.Spec, r.UpdatedAt = []byte(spec), normTime(r.UpdatedAt)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlstore: list routes: %w", err)
	}
	return out, v, tx.Commit()
}

// RoutesVersion implements store.RouteStore.
func (s *Store) RoutesVersion(ctx context.Context) (int64, error) {
	v, err := version(ctx, s.db.QueryRowContext, routesVersion)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: routes version: %w", err)
	}
	return v, nil
}

func version(ctx context.Context, query func(context.Context, string, ...any) *sql.Row, name string) (int64, error) {
	var v int64
	err := query(ctx, `SELECT version FROM kaiin_versions WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}
