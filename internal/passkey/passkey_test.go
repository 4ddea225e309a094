package passkey

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/i18n"
	"github.com/kaiin-project/kaiin/internal/ratelimit"
	"github.com/kaiin-project/kaiin/internal/sqldb"
	"github.com/kaiin-project/kaiin/internal/state/sqlstate"
	"github.com/kaiin-project/kaiin/internal/store"
	"github.com/kaiin-project/kaiin/internal/store/sqlstore"
)

const origin = "https://id.example.jp"

// env is a Service on real stores (SQLite durable store and hot state).
type env struct {
	svc   *Service
	store *sqlstore.Store
	hot   *sqlstate.State
	// signedIn records the web pages' SignedIn calls.
	signedIn []signIn
	notices  []string
	pending  map[string]string // 2FA: cookie value → user
}

type signIn struct {
	user            string
	amr             []string
	next, authReqID string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	db, err := sqldb.OpenSQLite(ctx, filepath.Join(t.TempDir(), "kaiin.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := sqlstore.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlstate.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	e := &env{store: sqlstore.New(db), hot: sqlstate.New(db), pending: map[string]string{}}
	for _, id := range []string{"u1", "u2"} {
		if err := e.store.CreateUser(ctx, store.User{ID: id, Email: id + "@example.com", Locale: "en"}); err != nil {
			t.Fatal(err)
		}
	}
	e.svc, err = New(Options{PublicURL: origin, Store: e.store, State: e.hot,
		Limiter: ratelimit.New(e.hot, []byte("rate key")), Rate: ratelimit.Rate{N: 1000, Per: time.Minute},
		SessionUser: func(r *http.Request) (string, bool) {
			id := r.Header.Get("X-Test-User")
			return id, id != ""
		},
		CheckPassword: func(_ context.Context, userID, pw string) error {
			if pw != "right" {
				return errcode.New(errcode.PasswordCurrentWrong, "current_password")
			}
			return nil
		},
		Notify: func(u store.User, _ i18n.Lang, change string) { e.notices = append(e.notices, u.ID+" "+change) },
		SignedIn: func(w http.ResponseWriter, r *http.Request, u *store.User, amr []string, next, authReqID string) {
			e.signedIn = append(e.signedIn, signIn{u.ID, amr, next, authReqID})
			http.Redirect(w, r, next, http.StatusSeeOther)
		},
		PendingSecondFactor: func(r *http.Request) (string, bool) {
			c, err := r.Cookie("pending")
			if err != nil {
				return "", false
			}
			u, ok := e.pending[c.Value]
			return u, ok
		},
		TakeSecondFactor: func(w http.ResponseWriter, r *http.Request) (string, string, string, bool) {
			c, err := r.Cookie("pending")
			if err != nil {
				return "", "", "", false
			}
			u, ok := e.pending[c.Value]
			delete(e.pending, c.Value)
			return u, "/after-2fa", "", ok
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// authenticator is a software authenticator: an ES256 key, a "none"
// attestation, client data as a browser at origin would make it.
type authenticator struct {
	key        *ecdsa.PrivateKey
	credID     []byte
	userHandle []byte
	rpID       string
	origin     string
	count      uint32
	backup     bool // backup eligible and backed up (a synced passkey)
}

func newAuthenticator(t *testing.T) *authenticator {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	return &authenticator{key: key, credID: id, rpID: "id.example.jp", origin: origin}
}

var b64 = base64.RawURLEncoding

func (a *authenticator) flags(extra byte) byte {
	f := byte(0x01 | 0x04) // UP, UV
	if a.backup {
		f |= 0x08 | 0x10
	}
	return f | extra
}

func (a *authenticator) authData(extra byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(a.rpID))
	b := append([]byte{}, h[:]...)
	b = append(b, a.flags(extra))
	b = binary.BigEndian.AppendUint32(b, a.count)
	return append(b, attested...)
}

func clientData(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

// create answers navigator.credentials.create.
func (a *authenticator) create(t *testing.T, opts *protocol.CredentialCreation) []byte {
	t.Helper()
	switch id := opts.Response.User.ID.(type) {
	case protocol.URLEncodedBase64:
		a.userHandle = id
	case string: // as the browser receives it: base64url
		uid, err := b64.DecodeString(id)
		if err != nil {
			t.Fatal(err)
		}
		a.userHandle = uid
	default:
		t.Fatalf("user id is %T", opts.Response.User.ID)
	}
	pub := a.key.PublicKey
	x, y := make([]byte, 32), make([]byte, 32)
	pub.X.FillBytes(x)
	pub.Y.FillBytes(y)
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, XCoord: x, YCoord: y})
	if err != nil {
		t.Fatal(err)
	}
	attested := make([]byte, 16) // AAGUID: zero
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(a.credID)))
	attested = append(attested, a.credID...)
	attested = append(attested, cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(0x40, attested)})
	if err != nil {
		t.Fatal(err)
	}
	cd := clientData("webauthn.create", opts.Response.Challenge.String(), a.origin)
	b, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(a.credID), "rawId": b64.EncodeToString(a.credID), "type": "public-key",
		"response":               map[string]any{"clientDataJSON": b64.EncodeToString(cd), "attestationObject": b64.EncodeToString(att), "transports": []string{"internal"}},
		"clientExtensionResults": map[string]any{}})
	return b
}

// get answers navigator.credentials.get, counting one more use.
func (a *authenticator) get(t *testing.T, opts *protocol.CredentialAssertion) []byte {
	t.Helper()
	a.count++
	return a.sign(t, opts.Response.Challenge.String())
}

func (a *authenticator) sign(t *testing.T, challenge string) []byte {
	t.Helper()
	ad := a.authData(0, nil)
	cd := clientData("webauthn.get", challenge, a.origin)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(a.credID), "rawId": b64.EncodeToString(a.credID), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(a.userHandle)},
		"clientExtensionResults": map[string]any{}})
	return b
}

func wantCode(t *testing.T, err error, c *errcode.Code) {
	t.Helper()
	e, ok := errcode.As(err)
	if !ok || e.Code != c {
		t.Fatalf("err = %v, want %s", err, c.ID)
	}
}

// register adds a passkey for userID with a.
func (e *env) register(t *testing.T, userID, name string, a *authenticator) Info {
	t.Helper()
	opts, token, err := e.svc.BeginRegistration(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	info, err := e.svc.FinishRegistration(t.Context(), token, userID, name, a.create(t, opts))
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	return info
}

func (e *env) login(t *testing.T, a *authenticator) (Result, error) {
	t.Helper()
	opts, token, err := e.svc.BeginLogin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return e.svc.FinishLogin(t.Context(), token, a.get(t, opts))
}

func TestRegisterAndSignIn(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	a := newAuthenticator(t)
	opts, token, err := e.svc.BeginRegistration(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	sel := opts.Response.AuthenticatorSelection
	if sel.ResidentKey != protocol.ResidentKeyRequirementRequired || sel.UserVerification != protocol.VerificationPreferred {
		t.Fatalf("authenticator selection %+v", sel)
	}
	if opts.Response.RelyingParty.ID != "id.example.jp" || len(opts.Response.CredentialExcludeList) != 0 {
		t.Fatalf("rp %+v, exclude %v", opts.Response.RelyingParty, opts.Response.CredentialExcludeList)
	}
	if _, err := e.svc.FinishRegistration(ctx, token, "u1", "Laptop", a.create(t, opts)); err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	list, err := e.svc.List(ctx, "u1")
	if err != nil || len(list) != 1 || list[0].Name != "Laptop" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	f, err := e.store.GetFactor(ctx, list[0].ID)
	if err != nil || f.Kind != "webauthn" || !f.Confirmed {
		t.Fatalf("factor %+v, %v", f, err)
	}
	var rec record
	if err := json.Unmarshal(f.Data, &rec); err != nil || !bytes.Equal(rec.ID, a.credID) || len(rec.PublicKey) == 0 ||
		!slices.Equal(rec.Transports, []string{"internal"}) || len(rec.AAGUID) != 16 {
		t.Fatalf("record %+v, %v", rec, err)
	}

	// A second registration excludes the first passkey; the same
	// authenticator again is refused.
	opts, token, err = e.svc.BeginRegistration(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.Response.CredentialExcludeList) != 1 || !bytes.Equal(opts.Response.CredentialExcludeList[0].CredentialID, a.credID) {
		t.Fatalf("exclude list %+v", opts.Response.CredentialExcludeList)
	}
	_, err = e.svc.FinishRegistration(ctx, token, "u1", "again", a.create(t, opts))
	wantCode(t, err, errcode.PasskeyExists)
	e.register(t, "u1", "", newAuthenticator(t)) // a default name
	if list, _ := e.svc.List(ctx, "u1"); len(list) != 2 || list[1].Name != "Passkey 2" {
		t.Fatalf("List = %+v", list)
	}

	// Passwordless sign-in: empty allowCredentials, user verification
	// required; the user handle names the member.
	lopts, ltoken, err := e.svc.BeginLogin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(lopts.Response.AllowedCredentials) != 0 || lopts.Response.UserVerification != protocol.VerificationRequired {
		t.Fatalf("assertion options %+v", lopts.Response)
	}
	res, err := e.svc.FinishLogin(ctx, ltoken, a.get(t, lopts))
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	if res.User.ID != "u1" || !slices.Equal(res.AMR(), []string{"hwk", "user", "mfa"}) {
		t.Fatalf("result %+v amr %v", res, res.AMR())
	}
	f, _ = e.store.GetFactor(ctx, list[0].ID)
	_ = json.Unmarshal(f.Data, &rec)
	if rec.SignCount != 1 || f.LastUsedAt.IsZero() {
		t.Fatalf("after use: count %d, last used %v", rec.SignCount, f.LastUsedAt)
	}
	if _, err := e.login(t, a); err != nil {
		t.Fatalf("second sign-in: %v", err)
	}
}

func TestSyncedPasskeyIsSoftwareKey(t *testing.T) {
	e := newEnv(t)
	a := newAuthenticator(t)
	a.backup = true
	e.register(t, "u2", "Phone", a)
	res, err := e.login(t, a)
	if err != nil {
		t.Fatal(err)
	}
	if res.User.ID != "u2" || !slices.Equal(res.AMR(), []string{"swk", "user", "mfa"}) {
		t.Fatalf("amr %v", res.AMR())
	}
}

func TestCloneDetected(t *testing.T) {
	e := newEnv(t)
	a := newAuthenticator(t)
	e.register(t, "u1", "Key", a)
	a.count = 5
	if _, err := e.login(t, a); err != nil { // count 6
		t.Fatal(err)
	}
	a.count = 2 // a copy that was left behind
	_, err := e.login(t, a)
	wantCode(t, err, errcode.PasskeyCloned)
	a.count = 5 // the same count again is refused too
	_, err = e.login(t, a)
	wantCode(t, err, errcode.PasskeyCloned)
	a.count = 6
	if _, err := e.login(t, a); err != nil {
		t.Fatalf("a higher count: %v", err)
	}

	// An authenticator that keeps no count (always zero) is fine.
	z := newAuthenticator(t)
	e.register(t, "u2", "No counter", z)
	for range 2 {
		opts, token, _ := e.svc.BeginLogin(t.Context())
		if _, err := e.svc.FinishLogin(t.Context(), token, z.sign(t, opts.Response.Challenge.String())); err != nil {
			t.Fatalf("zero count: %v", err)
		}
	}
}

func TestWrongOriginRefused(t *testing.T) {
	e := newEnv(t)
	a := newAuthenticator(t)
	e.register(t, "u1", "Key", a)
	a.origin = "https://id.example.jp.evil.example"
	_, err := e.login(t, a)
	wantCode(t, err, errcode.PasskeyFailed)

	// At registration too, and for another RP ID.
	b := newAuthenticator(t)
	b.origin = "http://id.example.jp"
	opts, token, _ := e.svc.BeginRegistration(t.Context(), "u1")
	_, err = e.svc.FinishRegistration(t.Context(), token, "u1", "x", b.create(t, opts))
	wantCode(t, err, errcode.PasskeyFailed)
	a.origin, a.rpID = origin, "example.jp"
	_, err = e.login(t, a)
	wantCode(t, err, errcode.PasskeyFailed)
}

func TestReplayedChallengeRefused(t *testing.T) {
	e := newEnv(t)
	a := newAuthenticator(t)
	e.register(t, "u1", "Key", a)
	opts, token, err := e.svc.BeginLogin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	resp := a.get(t, opts)
	if _, err := e.svc.FinishLogin(t.Context(), token, resp); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.FinishLogin(t.Context(), token, resp)
	wantCode(t, err, errcode.PasskeyExpired)
	// A fresh ceremony with a response to the old challenge fails too.
	_, token2, _ := e.svc.BeginLogin(t.Context())
	a.count++
	_, err = e.svc.FinishLogin(t.Context(), token2, a.sign(t, opts.Response.Challenge.String()))
	wantCode(t, err, errcode.PasskeyFailed)
	// A registration ceremony cannot finish a sign-in.
	_, rtoken, _ := e.svc.BeginRegistration(t.Context(), "u1")
	_, err = e.svc.FinishLogin(t.Context(), rtoken, resp)
	wantCode(t, err, errcode.PasskeyExpired)
	// Nor can another member finish u1's registration.
	ropts, rtoken, _ := e.svc.BeginRegistration(t.Context(), "u1")
	_, err = e.svc.FinishRegistration(t.Context(), rtoken, "u2", "x", newAuthenticator(t).create(t, ropts))
	wantCode(t, err, errcode.PasskeyExpired)
}

func TestUnknownOrRemovedPasskey(t *testing.T) {
	e := newEnv(t)
	a := newAuthenticator(t)
	info := e.register(t, "u1", "Key", a)
	wantCode(t, e.svc.Remove(t.Context(), "u2", info.ID), errcode.MFAFactorUnknown)
	if err := e.svc.Remove(t.Context(), "u1", info.ID); err != nil {
		t.Fatal(err)
	}
	_, err := e.login(t, a)
	wantCode(t, err, errcode.PasskeyUnknown)
	a.userHandle = []byte("nobody")
	_, err = e.login(t, a)
	wantCode(t, err, errcode.PasskeyUnknown)
}

func TestSecondFactor(t *testing.T) {
	e := newEnv(t)
	_, _, err := e.svc.BeginSecondFactor(t.Context(), "u1")
	wantCode(t, err, errcode.PasskeyNone)
	a := newAuthenticator(t)
	e.register(t, "u1", "Key", a)
	opts, token, err := e.svc.BeginSecondFactor(t.Context(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.Response.AllowedCredentials) != 1 {
		t.Fatalf("allow %+v", opts.Response.AllowedCredentials)
	}
	resp := a.get(t, opts)
	_, err = e.svc.FinishSecondFactor(t.Context(), token, "u2", resp)
	wantCode(t, err, errcode.PasskeyExpired) // begun for u1; and used up now
	opts, token, _ = e.svc.BeginSecondFactor(t.Context(), "u1")
	if _, err := e.svc.FinishSecondFactor(t.Context(), token, "u1", a.get(t, opts)); err != nil {
		t.Fatal(err)
	}
}

func TestIPAddressHostDisables(t *testing.T) {
	e := newEnv(t)
	s, err := New(Options{PublicURL: "http://127.0.0.1:8080", Store: e.store, State: e.hot, Limiter: ratelimit.New(e.hot, []byte("k"))})
	if !errors.Is(err, ErrDisabled) || s == nil || s.Enabled() {
		t.Fatalf("New = %v, %v", s, err)
	}
	mux := http.NewServeMux()
	s.Mount(mux)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", PathScript, nil))
	if w.Code != 200 || strings.Contains(w.Body.String(), "navigator") {
		t.Fatalf("script %d %q", w.Code, w.Body.String())
	}
	if l, err := New(Options{PublicURL: "http://localhost:1234", Store: e.store, State: e.hot, Limiter: ratelimit.New(e.hot, []byte("k"))}); err != nil || l.RPID() != "localhost" {
		t.Fatalf("localhost: %v", err)
	}
}

// client drives the HTTP endpoints as the script does, with a cookie jar.
type client struct {
	t   *testing.T
	mux *http.ServeMux
	jar map[string]string
}

func (c *client) do(method, path, user string, body any, form url.Values) *httptest.ResponseRecorder {
	c.t.Helper()
	var r *http.Request
	if form != nil {
		r = httptest.NewRequest(method, origin+path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		b, _ := json.Marshal(body)
		r = httptest.NewRequest(method, origin+path, bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		r.Header.Set("X-Test-User", user)
	}
	for k, v := range c.jar {
		r.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	w := httptest.NewRecorder()
	c.mux.ServeHTTP(w, r)
	for _, ck := range w.Result().Cookies() {
		if ck.MaxAge < 0 {
			delete(c.jar, ck.Name)
		} else {
			c.jar[ck.Name] = ck.Value
		}
	}
	return w
}

func TestHTTPFlow(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	e.svc.Mount(mux)
	c := &client{t: t, mux: mux, jar: map[string]string{}}
	a := newAuthenticator(t)

	// Register, signed in.
	w := c.do("POST", PathRegisterBegin, "", map[string]string{"lang": "ja"}, nil)
	if w.Code != 401 || !strings.Contains(w.Body.String(), `"code":"KAI-LOGIN-004"`) || !strings.Contains(w.Body.String(), "ログイン") {
		t.Fatalf("register without a session: %d %s", w.Code, w.Body)
	}
	w = c.do("POST", PathRegisterBegin, "u1", map[string]string{}, nil)
	var creation protocol.CredentialCreation
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &creation) != nil {
		t.Fatalf("register begin: %d %s", w.Code, w.Body)
	}
	cookie := c.jar["__Host-kaiin_passkey"]
	if cookie == "" || !strings.Contains(w.Header().Get("Set-Cookie"), "HttpOnly") {
		t.Fatalf("no ceremony cookie: %v", w.Header())
	}
	w = c.do("POST", PathRegisterFinish, "u1", map[string]any{"name": "Laptop", "credential": json.RawMessage(a.create(t, &creation))}, nil)
	if w.Code != 200 {
		t.Fatalf("register finish: %d %s", w.Code, w.Body)
	}
	if !slices.Equal(e.notices, []string{"u1 mfa.change.passkey_added"}) {
		t.Fatalf("notices %v", e.notices)
	}

	// Sign in: begin, finish (a ticket), complete (SignedIn).
	w = c.do("POST", PathLoginBegin, "", map[string]string{}, nil)
	var assertion protocol.CredentialAssertion
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &assertion) != nil {
		t.Fatalf("login begin: %d %s", w.Code, w.Body)
	}
	resp := a.get(t, &assertion)
	w = c.do("POST", PathLoginFinish, "", map[string]any{"credential": json.RawMessage(resp), "next": "/somewhere", "authRequestID": "ar1"}, nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), PathComplete) {
		t.Fatalf("login finish: %d %s", w.Code, w.Body)
	}
	w = c.do("POST", PathComplete, "", nil, url.Values{})
	if w.Code != http.StatusSeeOther || len(e.signedIn) != 1 {
		t.Fatalf("complete: %d, %v", w.Code, e.signedIn)
	}
	if s := e.signedIn[0]; s.user != "u1" || s.next != "/somewhere" || s.authReqID != "ar1" || !slices.Equal(s.amr, []string{"hwk", "user", "mfa"}) {
		t.Fatalf("signed in %+v", s)
	}
	// The ticket is single use; the replayed assertion finds no ceremony.
	if w = c.do("POST", PathComplete, "", nil, url.Values{}); w.Code != 401 || len(e.signedIn) != 1 {
		t.Fatalf("second complete: %d", w.Code)
	}
	c.jar["__Host-kaiin_passkey"] = cookie
	w = c.do("POST", PathLoginFinish, "", map[string]any{"credential": json.RawMessage(resp), "lang": "en"}, nil)
	if w.Code != 400 || !strings.Contains(w.Body.String(), `"code":"KAI-PASSKEY-002"`) {
		t.Fatalf("replay: %d %s", w.Code, w.Body)
	}

	// Second factor, with the pending sign-in of the password step.
	e.pending["p1"] = "u1"
	c.jar["pending"] = "p1"
	w = c.do("POST", PathSecondBegin, "", map[string]string{}, nil)
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &assertion) != nil {
		t.Fatalf("2fa begin: %d %s", w.Code, w.Body)
	}
	w = c.do("POST", PathSecondFinish, "", map[string]any{"credential": json.RawMessage(a.get(t, &assertion))}, nil)
	if w.Code != 200 {
		t.Fatalf("2fa finish: %d %s", w.Code, w.Body)
	}
	if w = c.do("POST", PathComplete, "", nil, url.Values{}); w.Code != http.StatusSeeOther {
		t.Fatalf("2fa complete: %d", w.Code)
	}
	if s := e.signedIn[1]; s.user != "u1" || s.next != "/after-2fa" || !slices.Equal(s.amr, []string{"pwd", "hwk", "mfa"}) || len(e.pending) != 0 {
		t.Fatalf("2fa signed in %+v", s)
	}

	// Remove: the password is checked.
	list, _ := e.svc.List(t.Context(), "u1")
	if w = c.do("POST", PathRemove, "u1", nil, url.Values{"factor_id": {list[0].ID}, "current_password": {"wrong"}}); w.Code != 400 {
		t.Fatalf("remove with a wrong password: %d", w.Code)
	}
	if w = c.do("POST", PathRemove, "u1", nil, url.Values{"factor_id": {list[0].ID}, "current_password": {"right"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("remove: %d %s", w.Code, w.Body)
	}
	if list, _ := e.svc.List(t.Context(), "u1"); len(list) != 0 || e.notices[len(e.notices)-1] != "u1 mfa.change.passkey_removed" {
		t.Fatalf("after remove: %v %v", list, e.notices)
	}
}
