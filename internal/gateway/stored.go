package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"time"

	"github.com/kaiin-project/kaiin/internal/store"
)

// Routes kept in the durable store (managed with `kaiin admin route`):
// every gateway node polls their version number and reloads them when it
// moves, so a change made on any node is in force on every gateway within
// the poll interval, and a node that missed a change heals by itself.

// RouteStore is the part of the durable store the gateway reads.
type RouteStore interface {
	ListRoutes(ctx context.Context) ([]store.StoredRoute, int64, error)
	RoutesVersion(ctx context.Context) (int64, error)
}

// ParseStoredRoutes turns stored route definitions into routes, checking
// them all (every problem at once).
func ParseStoredRoutes(rs []store.StoredRoute) ([]Route, error) {
	var doc bytes.Buffer
	doc.WriteString(`{"routes":[`)
	for i, r := range rs {
		if i > 0 {
			doc.WriteByte(',')
		}
		doc.Write(r.Spec)
	}
	doc.WriteString(`]}`)
	return ParseRoutes(doc.Bytes())
}

// LoadStoredRoutes reads the stored routes and their version.
func LoadStoredRoutes(ctx context.Context, s RouteStore) ([]Route, int64, error) {
	rs, v, err := s.ListRoutes(ctx)
	if err != nil {
		return nil, 0, err
	}
	routes, err := ParseStoredRoutes(rs)
	return routes, v, err
}

// WatchStoredRoutes polls the routes' version every interval until ctx
// ends, and applies the routes when it changes. A route set that fails to
// apply keeps the routes in force (and is logged).
func (g *Gateway) WatchStoredRoutes(ctx context.Context, s RouteStore, version int64, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := s.RoutesVersion(ctx)
		if err != nil || v == version {
			if err != nil && ctx.Err() == nil {
				log.Warn("gateway routes: version not read", "err", err)
			}
			continue
		}
		routes, v2, err := LoadStoredRoutes(ctx, s)
		if err == nil {
			err = g.SetRoutes(routes)
		}
		if err != nil {
			log.Error("gateway routes: the new routes were not applied; the previous ones stay in force", "err", err)
			version = v // do not retry a bad set every tick; the next change moves the version
			continue
		}
		version = v2
		log.Info("gateway routes reloaded", "routes", len(routes), "version", v2)
	}
}
