package storetest

// The audit-log part of the suite.

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/kaiin-project/kaiin/internal/store"
)

var auditTests = []struct {
	name string
	run  func(ctx context.Context, t *testing.T, s store.Store)
}{
	{"AuditAppendList", testAuditAppendList},
}

func testAuditAppendList(ctx context.Context, t *testing.T, s store.Store) {
	if got, err := s.ListAudit(ctx, "m1", 10); err != nil || len(got) != 0 {
		t.Fatalf("empty log: %v, %v", got, err)
	}
	e1 := store.AuditEvent{ID: "e1", Time: base, Actor: "client-1", ActorKind: "client", Subject: "m1", Action: "read", Fields: []string{"name", "phone"}}
	e2 := store.AuditEvent{ID: "e2", Time: base.Add(time.Second), Actor: "admin-9", ActorKind: "admin", Subject: "m1", Action: "reveal",
		Fields: []string{"address"}, Reason: "サポート対応 #123"}
	e3 := store.AuditEvent{ID: "e3", Time: base, Actor: "client-1", ActorKind: "client", Subject: "m2", Action: "read"}
	if err := s.AppendAudit(ctx, e1, e2, e3); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListAudit(ctx, "m1", 10)
	if err != nil || len(got) != 2 || got[0].ID != "e2" || got[1].ID != "e1" {
		t.Fatalf("ListAudit(m1) = %+v, %v; want e2, e1", got, err)
	}
	if g := got[0]; g.Reason != e2.Reason || g.ActorKind != "admin" || !slices.Equal(g.Fields, e2.Fields) || !g.Time.Equal(e2.Time) {
		t.Fatalf("round trip: %+v", g)
	}
	if got, _ := s.ListAudit(ctx, "m1", 1); len(got) != 1 || got[0].ID != "e2" {
		t.Fatalf("limit: %+v", got)
	}
	if got, _ := s.ListAudit(ctx, "m2", 10); len(got) != 1 || len(got[0].Fields) != 0 {
		t.Fatalf("m2: %+v", got)
	}
	// Events outlive their member.
	mustCreate(ctx, t, s, newUser("m1"))
	if err := s.DeleteUser(ctx, "m1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ListAudit(ctx, "m1", 10); len(got) != 2 {
		t.Fatal("audit events deleted with the member")
	}
}
