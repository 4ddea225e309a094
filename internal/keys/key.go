package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kaiin-project/kaiin/internal/store"
)

// The JWS algorithms a Manager can keep keys for.
const (
	ES256 = "ES256" // ECDSA P-256 with SHA-256: the default
	RS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256, for old relying parties
)

// Key is a private signing key. It implements zitadel/oidc's
// op.SigningKey, so the OIDC provider can return it as is.
type Key struct {
	id     string
	alg    jose.SignatureAlgorithm
	signer crypto.Signer
}

// ID is the key ID, the JWS "kid" header.
func (k Key) ID() string { return k.id }

// SignatureAlgorithm is the JWS algorithm, "ES256" or "RS256".
func (k Key) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }

// Key is the private key as go-jose takes it: *ecdsa.PrivateKey or
// *rsa.PrivateKey.
func (k Key) Key() any { return k.signer }

// Signer is the private key: *ecdsa.PrivateKey (P-256) or *rsa.PrivateKey.
func (k Key) Signer() crypto.Signer { return k.signer }

// String names the key without its private half, so that logging a Key
// cannot leak it.
func (k Key) String() string { return string(k.alg) + " key " + k.id }

// PublicKey is a published verification key. It implements zitadel/oidc's
// op.Key, so the OIDC provider's KeySet can return it as is.
type PublicKey struct {
	jwk jose.JSONWebKey
}

// ID is the key ID ("kid").
func (k PublicKey) ID() string { return k.jwk.KeyID }

// Algorithm is the JWS algorithm the key verifies.
func (k PublicKey) Algorithm() jose.SignatureAlgorithm {
	return jose.SignatureAlgorithm(k.jwk.Algorithm)
}

// Use is always "sig".
func (k PublicKey) Use() string { return "sig" }

// Key is the public key: *ecdsa.PublicKey or *rsa.PublicKey.
func (k PublicKey) Key() any { return k.jwk.Key }

// JWK is the key as a JSON Web Key, with kid, alg and use set.
func (k PublicKey) JWK() jose.JSONWebKey { return k.jwk }

// newSigningKey makes a key for alg, sealed, that starts signing at
// signFrom.
func newSigningKey(sealer *Sealer, alg string, rsaBits int, now, signFrom time.Time) (store.SigningKey, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	default:
		err = fmt.Errorf("unsupported algorithm %q", alg)
	}
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("keys: generate %s key: %w", alg, err)
	}
	var id [12]byte
	rand.Read(id[:])
	kid := base64.RawURLEncoding.EncodeToString(id[:])

	pub, err := json.Marshal(jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: "sig"})
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("keys: encode %s public key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("keys: encode %s private key: %w", alg, err)
	}
	sealed, err := sealer.Seal(der, sealAAD(kid, alg))
	clear(der)
	if err != nil {
		return store.SigningKey{}, err
	}
	return store.SigningKey{
		ID:        kid,
		Algorithm: alg,
		Sealed:    sealed,
		Public:    pub,
		CreatedAt: now,
		SignFrom:  signFrom,
	}, nil
}

// sealAAD binds a sealed private key to its key ID and algorithm, so that
// no sealed key can be moved to another row.
func sealAAD(kid, alg string) []byte {
	return []byte("signing-key:" + kid + ":" + alg)
}

// parsePublic reads a stored public JWK and checks it against its row.
func parsePublic(k store.SigningKey) (jose.JSONWebKey, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(k.Public); err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("public key is not a JSON Web Key: %w", err)
	}
	if !jwk.IsPublic() || !jwk.Valid() || jwk.KeyID != k.ID || jwk.Algorithm != k.Algorithm {
		return jose.JSONWebKey{}, errors.New("public key does not match its row (kid, alg) or is not a valid public key")
	}
	jwk.Use = "sig"
	return jwk, nil
}

// openPrivate unseals a stored private key and checks that it is the
// private half of pub, of the key type alg needs.
func openPrivate(sealer *Sealer, k store.SigningKey, pub jose.JSONWebKey) (crypto.Signer, error) {
	der, err := sealer.Open(k.Sealed, sealAAD(k.ID, k.Algorithm))
	if err != nil {
		return nil, err
	}
	defer clear(der)
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("sealed private key does not parse")
	}
	var ok bool
	switch p := parsed.(type) {
	case *ecdsa.PrivateKey:
		ok = k.Algorithm == ES256 && p.Curve == elliptic.P256() && p.PublicKey.Equal(pub.Key)
	case *rsa.PrivateKey:
		ok = k.Algorithm == RS256 && p.N.BitLen() >= 2048 && p.PublicKey.Equal(pub.Key)
	}
	if !ok {
		return nil, errors.New("sealed private key does not match the published public key or algorithm")
	}
	return parsed.(crypto.Signer), nil
}
