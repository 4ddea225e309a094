package keys

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// BenchmarkSignES256 is the floor of token issuance: Current (a cached
// read) and one ES256 signature. "raw" signs a digest; "jwt" signs a JWT
// the way zitadel's op does (SignerFromKey, Sign, CompactSerialize), so
// the two show what go-jose adds. Compare the token endpoint against them.
func BenchmarkSignES256(b *testing.B) {
	benchmarkSign(b, ES256)
}

// BenchmarkSignRS256 is the same for RSA-2048, for relying parties that
// still need RS256.
func BenchmarkSignRS256(b *testing.B) {
	benchmarkSign(b, RS256)
}

func benchmarkSign(b *testing.B, alg string) {
	ctx := context.Background()
	c := newClock()
	m := &Manager{Store: newMemStore(), Sealer: mustSealer(b, newKEK(b)), Now: c.Now, Algorithms: []string{alg}, Logger: testLogger(b)}
	if err := m.Ensure(ctx); err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"iss":"https://id.example.com","sub":"member-1","aud":"client-1","exp":1798000000,"iat":1797996400}`)

	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			k, err := m.Current(ctx, alg)
			if err != nil {
				b.Fatal(err)
			}
			digest := sha256.Sum256(payload)
			if _, err := k.Signer().Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("jwt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			k, err := m.Current(ctx, alg)
			if err != nil {
				b.Fatal(err)
			}
			signer, err := op.SignerFromKey(k)
			if err != nil {
				b.Fatal(err)
			}
			jws, err := signer.Sign(payload)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := jws.CompactSerialize(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("current", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Current(ctx, alg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
