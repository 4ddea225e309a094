package oidc

import (
	"context"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/kaiin-project/kaiin/internal/keys"
)

// ManagedKeys serves the provider's keys from a keys.Manager.
type ManagedKeys struct {
	Manager *keys.Manager
}

func (k ManagedKeys) SigningKey(ctx context.Context, alg string) (op.SigningKey, error) {
	return k.Manager.Current(ctx, alg)
}

func (k ManagedKeys) KeySet(ctx context.Context) ([]op.Key, error) {
	pub, err := k.Manager.PublicKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]op.Key, len(pub))
	for i, p := range pub {
		out[i] = p
	}
	return out, nil
}

func (k ManagedKeys) SignatureAlgorithms(ctx context.Context) ([]jose.SignatureAlgorithm, error) {
	return k.Manager.SignatureAlgorithms(ctx)
}
