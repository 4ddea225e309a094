package sqlstore

// The audit log (migration 00006).

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/kaiin-project/kaiin/internal/store"
)

// AppendAudit implements store.AuditStore.
func (s *Store) AppendAudit(ctx context.Context, events ...store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: append audit: begin: %w", err)
	}
	defer tx.Rollback()
	for _, e := range events {
		fields, err := json.Marshal(e.Fields)
		if err != nil {
			return fmt.Errorf("sqlstore: append audit: %w", err)
		}
		if e.Fields == nil {
			fields = []byte("[]")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_events (id, at, actor, actor_kind, subject, action, fields, reason)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			e.ID, s.timeArg(e.Time), e.Actor, e.ActorKind, e.Subject, e.Action, string(fields), e.Reason); err != nil {
			return fmt.Errorf("sqlstore: append audit: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: append audit: commit: %w", err)
	}
	return nil
}

// ListAudit implements store.AuditStore.
func (s *Store) ListAudit(ctx context.Context, subject string, limit int) ([]store.AuditEvent, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, at, actor, actor_kind, subject, action, fields, reason
		FROM audit_events WHERE subject = $1 ORDER BY at DESC, id DESC LIMIT $2`, subject, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list audit: %w", err)
	}
	defer rows.Close()
	var out []store.AuditEvent
	for rows.Next() {
		var e store.AuditEvent
		var fields string
		if err := rows.Scan(&e.ID, dbTime{&e.Time}, &e.Actor, &e.ActorKind, &e.Subject, &e.Action, &fields, &e.Reason); err != nil {
			return nil, fmt.Errorf("sqlstore: list audit: %w", err)
		}
		if err := json.Unmarshal([]byte(fields), &e.Fields); err != nil {
			return nil, fmt.Errorf("sqlstore: list audit: %w", err)
		}
		e.Time = normTime(e.Time)
		out = append(out, e)
	}
	return out, rows.Err()
}
