package gateway

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/kaiin-project/kaiin/internal/ratelimit"
	"github.com/kaiin-project/kaiin/internal/sqldb"
	"github.com/kaiin-project/kaiin/internal/state"
	"github.com/kaiin-project/kaiin/internal/state/redisstate"
	"github.com/kaiin-project/kaiin/internal/state/sqlstate"
)

// issuer is a stand-in for Kaiin's key publication: a JWKS server whose
// keys sign the test's tokens. It counts the fetches.
type issuer struct {
	t       testing.TB
	url     string
	srv     *httptest.Server
	fetches atomic.Int64

	mu        sync.Mutex
	keys      map[string]signingKey // by kid
	published []string              // kids served at /keys
}

type signingKey struct {
	alg jose.SignatureAlgorithm
	key crypto.Signer
}

func newIssuer(t testing.TB) *issuer {
	is := &issuer{t: t, keys: map[string]signingKey{}}
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/keys" {
			http.NotFound(w, r)
			return
		}
		is.fetches.Add(1)
		is.mu.Lock()
		set := jose.JSONWebKeySet{}
		for _, kid := range is.published {
			k := is.keys[kid]
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.key.Public(), KeyID: kid, Algorithm: string(k.alg), Use: "sig"})
		}
		is.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(is.srv.Close)
	is.url = is.srv.URL
	is.addKey("es1", jose.ES256, true)
	is.addKey("rs1", jose.RS256, true)
	return is
}

// addKey makes a key; published keys are served at /keys.
func (is *issuer) addKey(kid string, alg jose.SignatureAlgorithm, publish bool) {
	var k crypto.Signer
	var err error
	if alg == jose.RS256 {
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		is.t.Fatal(err)
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys[kid] = signingKey{alg: alg, key: k}
	if publish {
		is.published = append(is.published, kid)
	}
}

func (is *issuer) publish(kid string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.published = append(is.published, kid)
}

// tok describes a token to sign; zero fields get working defaults.
type tok struct {
	kid      string
	iss      string
	sub      string
	clientID string
	scope    string
	jti      string
	exp      time.Time
	nbf      time.Time
	noJTI    bool
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// sign returns a signed access token and its jti.
func (is *issuer) sign(o tok) (string, string) {
	is.t.Helper()
	if o.kid == "" {
		o.kid = "es1"
	}
	if o.iss == "" {
		o.iss = is.url
	}
	if o.sub == "" {
		o.sub = "user-1"
	}
	if o.clientID == "" {
		o.clientID = "client-a"
	}
	if o.jti == "" && !o.noJTI {
		o.jti = "at_" + randomHex(16)
	}
	if o.exp.IsZero() {
		o.exp = time.Now().Add(15 * time.Minute)
	}
	is.mu.Lock()
	k, ok := is.keys[o.kid]
	is.mu.Unlock()
	if !ok {
		is.t.Fatalf("no key %s", o.kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.key, KeyID: o.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		is.t.Fatal(err)
	}
	claims := map[string]any{"iss": o.iss, "sub": o.sub, "aud": []string{o.clientID}, "exp": o.exp.Unix(),
		"iat": time.Now().Unix(), "client_id": o.clientID, "scope": o.scope}
	if o.jti != "" {
		claims["jti"] = o.jti
	}
	if !o.nbf.IsZero() {
		claims["nbf"] = o.nbf.Unix()
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		is.t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		is.t.Fatal(err)
	}
	return s, o.jti
}

// upstreamServer answers with what it received, and counts requests.
type upstreamServer struct {
	*httptest.Server
	name string
	hits atomic.Int64
}

type echo struct {
	Upstream string              `json:"upstream"`
	Method   string              `json:"method"`
	Path     string              `json:"path"`
	RawPath  string              `json:"raw_path"`
	Header   map[string][]string `json:"header"`
	Host     string              `json:"host"`
}

func newUpstream(t testing.TB, name string) *upstreamServer {
	u := &upstreamServer{name: name}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(echo{Upstream: name, Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath,
			Header: r.Header, Host: r.Host})
	}))
	t.Cleanup(u.Close)
	return u
}

// fakeClock is a settable clock.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// testLogger writes to the test log only with -v.
func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// fixture is a gateway in front of test upstreams, with its own issuer.
type fixture struct {
	t        *testing.T
	is       *issuer
	verifier *JWTVerifier
	gw       *Gateway
	srv      *httptest.Server
	reg      *prometheus.Registry
	clock    *fakeClock
}

type fixtureOpts struct {
	routes      []Route
	revocations Revocations
	revMaxAge   time.Duration
	limiter     *ratelimit.Limiter
	badTokens   InvalidTokenLimit
	clientIP    func(*http.Request) string
	clock       *fakeClock
}

func newFixture(t *testing.T, o fixtureOpts) *fixture {
	t.Helper()
	f := &fixture{t: t, is: newIssuer(t), reg: prometheus.NewRegistry(), clock: o.clock}
	now := time.Now
	if o.clock != nil {
		now = o.clock.Now
	}
	var err error
	f.verifier, err = NewJWTVerifier(JWTVerifierOptions{Issuer: f.is.url, Revocations: o.revocations,
		RevocationMaxAge: o.revMaxAge, Registry: f.reg, Logger: testLogger(t), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	f.gw, err = New(Options{Routes: o.routes, Verifier: f.verifier, Limiter: o.limiter, Registry: f.reg,
		InvalidTokens: o.badTokens, ClientIP: o.clientIP, Logger: testLogger(t), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.gw)
	t.Cleanup(f.srv.Close)
	t.Cleanup(f.gw.Close)
	return f
}

type result struct {
	status int
	header http.Header
	body   []byte
	echo   echo
	errObj map[string]string
}

// do sends a request to srv. Extra headers go as "Name: value".
func do(t testing.TB, srv string, method, path, host, token string, headers ...string) result {
	t.Helper()
	req, err := http.NewRequest(method, srv+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Add(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, header: resp.Header, body: body}
	if resp.StatusCode < 400 {
		json.Unmarshal(body, &r.echo)
	} else {
		json.Unmarshal(body, &r.errObj)
	}
	return r
}

func (f *fixture) get(path, token string, headers ...string) result {
	f.t.Helper()
	return do(f.t, f.srv.URL, "GET", path, "", token, headers...)
}

// counterValue reads a counter (with labels "k=v") from reg.
func counterValue(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, l := range labels {
				k, v, _ := strings.Cut(l, "=")
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			if c := m.GetCounter(); c != nil {
				total += c.GetValue()
			}
		}
	}
	return total
}

// sqliteStates returns two hot states over one SQLite file, as two
// gateway processes on one machine would open it.
func sqliteStates(t testing.TB) (state.State, state.State) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kaiin.db")
	open := func() *sqldb.DB {
		db, err := sqldb.OpenSQLite(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	db1 := open()
	if _, err := sqlstate.Migrate(context.Background(), db1); err != nil {
		t.Fatal(err)
	}
	return sqlstate.New(db1), sqlstate.New(open())
}

func redisURL() string {
	if u := os.Getenv("KAIIN_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// redisStates returns two connections to the test Redis under a fresh key
// prefix, whose keys are deleted when the test ends. A missing server
// fails the test.
func redisStates(t testing.TB) (state.State, state.State) {
	t.Helper()
	opts, err := redisstate.ParseURL(redisURL())
	if err != nil {
		t.Fatalf("KAIIN_TEST_REDIS_URL: %v", err)
	}
	opts.KeyPrefix = "kaiin-gw-test-" + randomHex(6) + ":"
	opts.PoolSize = 64
	var out [2]state.State
	for i := range out {
		s, err := redisstate.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = s.Ping(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Redis is required and not reachable at %s (set KAIIN_TEST_REDIS_URL): %v", opts, err)
		}
		t.Cleanup(func() { s.Close() })
		out[i] = s
	}
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: opts.Addrs[0], Username: opts.Username, Password: opts.Password, DB: opts.DB})
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, opts.KeyPrefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return out[0], out[1]
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var _ = fmt.Sprintf
