package app

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/kaiin-project/kaiin/internal/config"
	"github.com/kaiin-project/kaiin/internal/keys"
	"github.com/kaiin-project/kaiin/internal/store"
)

// NewSealer loads the key-encryption key (KEK) and returns the sealer
// that every secret at rest goes through.
func NewSealer(cfg config.Config) (*keys.Sealer, error) {
	kek, err := keys.LoadKEK(cfg)
	if err != nil {
		return nil, err
	}
	return keys.NewSealer(kek)
}

// ServerSecret returns the 32-byte server secret called name, shared by
// every node and created on first use. It is kept sealed under the KEK, so
// a copy of the database alone does not give it away (with it, recovery
// codes or client secrets could be searched offline).
func ServerSecret(ctx context.Context, s store.Store, sealer *keys.Sealer, name string) ([]byte, error) {
	aad := []byte("server-secret:" + name)
	sealed, err := s.GetOrCreateSecret(ctx, "sealed/"+name, func() ([]byte, error) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		return sealer.Seal(raw, aad)
	})
	if err != nil {
		return nil, fmt.Errorf("load server secret %s: %w", name, err)
	}
	raw, err := sealer.Open(sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("open server secret %s (is this the KEK the other nodes use?): %w", name, err)
	}
	return raw, nil
}

// Names of the server secrets.
const (
	secretRateLimit    = "ratelimit-key"
	secretClientSecret = "client-secret-key"
	secretRecovery     = "mfa-recovery-key"
	secretBlindIndex   = "member-blind-index-key"
)

// ClientSecretKey returns the server key that hashes client secrets.
func ClientSecretKey(ctx context.Context, s store.Store, sealer *keys.Sealer) ([]byte, error) {
	return ServerSecret(ctx, s, sealer, secretClientSecret)
}
