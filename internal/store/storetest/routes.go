package storetest

// The gateway-routes part of the suite.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kaiin-project/kaiin/internal/store"
)

var routeTests = []struct {
	name string
	run  func(ctx context.Context, t *testing.T, s store.Store)
}{
	{"RoutesPutListDelete", testRoutesPutListDelete},
}

func testRoutesPutListDelete(ctx context.Context, t *testing.T, s store.Store) {
	if v, err := s.RoutesVersion(ctx); err != nil || v != 0 {
		t.Fatalf("initial version %d, %v", v, err)
	}
	if rs, v, err := s.ListRoutes(ctx); err != nil || len(rs) != 0 || v != 0 {
		t.Fatalf("initial list %v %d %v", rs, v, err)
	}
	b := store.StoredRoute{Name: "b", Spec: []byte(`{"name":"b","path_prefix":"/b/","upstreams":["http://127.0.0.1:1"]}`), UpdatedAt: base}
	a := store.StoredRoute{Name: "a", Spec: []byte(`{"name":"a","path_prefix":"/a/","upstreams":["http://127.0.0.1:2"]}`), UpdatedAt: base}
	for _, r := range []store.StoredRoute{b, a} {
		if err := s.PutRoute(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	rs, v, err := s.ListRoutes(ctx)
	if err != nil || len(rs) != 2 || rs[0].Name != "a" || rs[1].Name != "b" || v != 2 || string(rs[0].Spec) != string(a.Spec) || !rs[0].UpdatedAt.Equal(base) {
		t.Fatalf("list %+v v=%d %v", rs, v, err)
	}
	a.Spec, a.UpdatedAt = []byte(`{"name":"a","path_prefix":"/a2/","upstreams":["http://127.0.0.1:2"]}`), base.Add(time.Hour)
	if err := s.PutRoute(ctx, a); err != nil {
		t.Fatal(err)
	}
	if rs, v, _ := s.ListRoutes(ctx); len(rs) != 2 || string(rs[0].Spec) != string(a.Spec) || v != 3 {
		t.Fatalf("after replace: %+v v=%d", rs, v)
	}
	if err := s.DeleteRoute(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRoute(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	if v, _ := s.RoutesVersion(ctx); v != 4 {
		t.Fatalf("version after delete %d; want 4 (a failed delete does not count)", v)
	}
}
