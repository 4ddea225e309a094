package oidc

import (
	"context"
	"errors"
	"sync"
	"time"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kaiin-project/kaiin/internal/store"
)

// clientCache keeps client records in memory for a short while: the token
// endpoint reads one per request. Changes made through this node are seen
// at once (Forget); those made elsewhere within ttl.
type clientCache struct {
	store       store.ClientStore
	ttl         time.Duration
	loginURL    string
	idTokenLife time.Duration
	now         func() time.Time

	mu      sync.Mutex
	entries map[string]cachedClient
}

type cachedClient struct {
	c       *client
	err     error
	expires time.Time
}

// maxCachedClients bounds the cache; past it, the cache starts over.
const maxCachedClients = 10000

func (cc *clientCache) get(ctx context.Context, id string) (*client, error) {
	if id == "" || len(id) > 128 {
		return nil, notFound{"client"}
	}
	now := cc.now()
	cc.mu.Lock()
	e, ok := cc.entries[id]
	cc.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.c, e.err
	}
	sc, err := cc.store.GetClient(ctx, id)
	var c *client
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Unknown IDs are cached too, briefly, so a flood of them costs
		// no database reads; an unknown client is the caller's mistake.
		err = notFound{"client"}
	case err != nil:
		return nil, zoidc.ErrServerError().WithParent(err)
	default:
		c = &client{c: sc, loginURL: cc.loginURL, idTokenLife: cc.idTokenLife, accessTokenTy: op.AccessTokenTypeJWT}
	}
	cc.mu.Lock()
	if len(cc.entries) >= maxCachedClients {
		cc.entries = map[string]cachedClient{}
	}
	cc.entries[id] = cachedClient{c: c, err: err, expires: now.Add(cc.ttl)}
	cc.mu.Unlock()
	return c, err
}

// forget drops a client so that the next request reads it again.
func (cc *clientCache) forget(id string) {
	cc.mu.Lock()
	delete(cc.entries, id)
	cc.mu.Unlock()
}
