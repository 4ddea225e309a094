package oidc

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"strconv"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// tokenAnswer writes what json.Encoder wrote for tokenResponse.
func TestTokenAnswerMatchesEncoder(t *testing.T) {
	for _, scope := range []string{"", "api:read", "a b", `odd"scope\<&>` + "\u2028\x01"} {
		var want bytes.Buffer
		_ = json.NewEncoder(&want).Encode(tokenResponse{AccessToken: "eyJ.eyJ.sig-_", TokenType: "Bearer", ExpiresIn: 3600, Scope: scope})
		if got := tokenAnswer("eyJ.eyJ.sig-_", 3600, scope); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("scope %q:\n got %s\nwant %s", scope, got, want.Bytes())
		}
	}
}

// The cache of verified tokens stays bounded and never returns an entry
// past its expiry.
func TestTokenCacheBounded(t *testing.T) {
	var c tokenCache
	const now = int64(1_000_000)
	for i := range tokenCacheSize * 2 {
		c.put(sha256.Sum256([]byte(strconv.Itoa(i))), &verifiedToken{expires: now + 10}, now)
	}
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].m)
	}
	if n > tokenCacheSize {
		t.Fatalf("%d entries kept; bound %d", n, tokenCacheSize)
	}
	k := sha256.Sum256([]byte("x"))
	c.put(k, &verifiedToken{expires: now + 10}, now)
	if c.get(k, now+9) == nil || c.get(k, now+10) != nil {
		t.Fatal("entry not live until, and only until, its expiry")
	}
}

type testKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key any
}

func (k testKey) ID() string                                  { return k.id }
func (k testKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k testKey) Key() any                                    { return k.key }

// opaque hides the concrete key type (a key in an HSM, say).
type opaque struct{ crypto.Signer }

// jwtSigner's tokens verify with go-jose, with the header go-jose wrote.
func TestJWTSigner(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	payload := []byte(`{"iss":"https://kaiin.example","scope":"a b"}`)
	for name, k := range map[string]testKey{
		"ES256":        {"k-ec", jose.ES256, ec},
		"ES256 opaque": {"k-ec2", jose.ES256, opaque{ec}},
		"RS256":        {"k-rsa", jose.RS256, rk},
	} {
		s, err := newJWTSigner(k)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		tok, err := s.sign(payload)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{k.alg})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		h := jws.Signatures[0].Protected
		if h.KeyID != k.id || h.Algorithm != string(k.alg) || h.ExtraHeaders["typ"] != "at+jwt" {
			t.Fatalf("%s: header %+v", name, h)
		}
		pub := k.key.(crypto.Signer).Public()
		got, err := jws.Verify(pub)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("%s: verify %v, payload %s", name, err, got)
		}
	}
	if _, err := newJWTSigner(testKey{"k", jose.RS256, ec}); err == nil {
		t.Fatal("an EC key accepted for RS256")
	}
}

func BenchmarkJWTSigner(b *testing.B) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k := testKey{"k-ec", jose.ES256, ec}
	payload := []byte(`{"iss":"https://kaiin.example","sub":"c","aud":["c"],"exp":1,"iat":1,"nbf":1,"jti":"at_x","client_id":"c","scope":"api:read"}`)
	b.Run("kaiin", func(b *testing.B) {
		s, _ := newJWTSigner(k)
		b.ReportAllocs()
		for b.Loop() {
			_, _ = s.sign(payload)
		}
	})
	b.Run("go-jose", func(b *testing.B) {
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: &jose.JSONWebKey{Key: ec, KeyID: "k-ec"}},
			(&jose.SignerOptions{}).WithType("at+jwt"))
		b.ReportAllocs()
		for b.Loop() {
			jws, _ := s.Sign(payload)
			_, _ = jws.CompactSerialize()
		}
	})
}
