// Package passkey lets members register passkeys (WebAuthn credentials)
// and use them to sign in without a password, or as the second step after
// the password.
//
// Passkeys are factors of Kind "webauthn" in the durable store: the
// credential record (ID, public key, sign count, transports, AAGUID and
// backup flags) is JSON in Factor.Data. Every credential is made
// discoverable (resident key required) with the member's opaque ID as the
// user handle, so a sign-in finds the member from the assertion alone.
//
// A ceremony (register, sign in, second step) has two halves. Begin makes
// a challenge and keeps the library's session data in the hot state under
// a random token, for a few minutes; the token goes to the browser in an
// HttpOnly cookie, so the challenge is bound to that browser. Finish takes
// the record (single use: a replayed response finds nothing) and verifies
// the response against it.
//
// A verified sign-in does not start the session in the fetch that carried
// the assertion: it leaves a one-time ticket (hot state, same cookie) and
// the page then posts a plain form to /passkey/complete, which signs the
// member in through the web pages' SignedIn. The session, the device
// notice, the OpenID authorization and the redirects that follow are then
// an ordinary navigation, exactly as after the password form.
//
// WebAuthn needs a registrable domain as relying party ID: the host of the
// public URL. An IP address cannot be one, so a node whose public URL is
// an IP address has passkeys off (its script does nothing).
package passkey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/i18n"
	"github.com/kaiin-project/kaiin/internal/ratelimit"
	"github.com/kaiin-project/kaiin/internal/store"
)

// Kind is the factor kind of a passkey (store.Factor.Kind).
const Kind = "webauthn"

// MaxNameLength bounds a passkey's name, in characters.
const MaxNameLength = 64

// CeremonyTTL is how long a begun ceremony waits for its answer.
const CeremonyTTL = 5 * time.Minute

// ticketTTL is how long a verified sign-in waits for /passkey/complete.
const ticketTTL = 2 * time.Minute

// DefaultRate bounds begin and finish requests per client IP (each kind
// counted apart) when Options.Rate is zero. The sign-in page asks for a
// challenge on every load (for autofill), so it is not tiny.
var DefaultRate = ratelimit.Rate{N: 30, Per: time.Minute}

// ErrDisabled is returned by New when the public URL's host cannot be a
// WebAuthn relying party ID (an IP address).
var ErrDisabled = errors.New("passkey: the public URL's host is an IP address; WebAuthn needs a domain name (use localhost for a local node)")

// Store is what the service needs of the durable store.
type Store interface {
	GetUser(ctx context.Context, id string) (store.User, error)
	store.FactorStore
}

// State is what the service needs of the hot state (state.State).
type State interface {
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Take(ctx context.Context, key string) ([]byte, error)
}

// Limiter counts requests across nodes (*ratelimit.Limiter).
type Limiter interface {
	Allow(ctx context.Context, name string, r ratelimit.Rate, subject string) (ok bool, retryAfter time.Duration, err error)
}

// Options configures a Service. Store, State, Limiter and PublicURL are
// required; the hooks into the web pages are required by Mount.
type Options struct {
	// PublicURL is where members reach Kaiin: its host is the relying
	// party ID and its origin the only origin accepted.
	PublicURL string
	// RPName is shown by authenticators; "" means "Kaiin".
	RPName  string
	Store   Store
	State   State
	Limiter Limiter
	// Rate bounds begin and finish requests per client IP; zero means
	// DefaultRate.
	Rate   ratelimit.Rate
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	// SessionUser returns the member signed in on the request's browser
	// (web.Handler.SessionUser).
	SessionUser func(r *http.Request) (userID string, ok bool)
	// CheckPassword re-checks the member's password before a removal
	// (account.Service.CheckPassword).
	CheckPassword func(ctx context.Context, userID, password string) error
	// Notify mails the member about a change of their sign-in methods
	// (account.Service.NotifyMFAChange).
	Notify func(u store.User, lang i18n.Lang, change string)
	// SignedIn ends a sign-in that passed every step (web.Handler.SignedIn).
	SignedIn func(w http.ResponseWriter, r *http.Request, u *store.User, amr []string, next, authReqID string)
	// PendingSecondFactor returns the member whose password step is done
	// and whose second step is pending on the request's browser;
	// TakeSecondFactor uses that pending sign-in up (single use) and
	// returns where it was headed. Both nil: no second step by passkey.
	PendingSecondFactor func(r *http.Request) (userID string, ok bool)
	TakeSecondFactor    func(w http.ResponseWriter, r *http.Request) (userID, next, authReqID string, ok bool)
	// RemoveFactor removes a factor with the two-step verification rules
	// (mfa.Service.RemoveFactor: the recovery codes go with the last
	// factor); nil deletes the factor directly.
	RemoveFactor func(ctx context.Context, userID, factorID string) error
	// ClientIP returns the client's address, for rate limits; nil means
	// the peer address.
	ClientIP func(r *http.Request) string
	// ErrorPage shows a page with only a coded error, for the plain form
	// posts (web.Handler.ErrorPage); nil answers plain text.
	ErrorPage func(w http.ResponseWriter, r *http.Request, c *errcode.Code)
}

// Service registers and checks passkeys. Build it with New; it is safe for
// concurrent use.
type Service struct {
	o      Options
	wa     *webauthn.WebAuthn
	origin string
	rpID   string
	secure bool
}

// New checks o and builds the service. It returns ErrDisabled (with a
// usable Service whose Mount serves only an inert script) when the public
// URL's host is an IP address.
func New(o Options) (*Service, error) {
	var errs []error
	if o.Store == nil {
		errs = append(errs, errors.New("passkey: Store is required"))
	}
	if o.State == nil {
		errs = append(errs, errors.New("passkey: State is required"))
	}
	if o.Limiter == nil {
		errs = append(errs, errors.New("passkey: Limiter is required"))
	}
	u, err := url.Parse(o.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("passkey: PublicURL %q is not an absolute http(s) URL", o.PublicURL))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.RPName == "" {
		o.RPName = "Kaiin"
	}
	if o.Rate.Off() {
		o.Rate = DefaultRate
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{o: o, origin: u.Scheme + "://" + u.Host, rpID: strings.ToLower(u.Hostname()), secure: u.Scheme == "https"}
	if net.ParseIP(s.rpID) != nil {
		return s, ErrDisabled
	}
	s.wa, err = webauthn.New(&webauthn.Config{
		RPID:          s.rpID,
		RPDisplayName: o.RPName,
		RPOrigins:     []string{s.origin},
		// "none": Kaiin keeps no attestation policy, so it asks for none
		// (no authenticator model is revealed).
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return s, nil
}

// Enabled reports whether passkeys work on this node.
func (s *Service) Enabled() bool { return s.wa != nil }

// RPID is the relying party ID: the public URL's host.
func (s *Service) RPID() string { return s.rpID }

func (s *Service) now() time.Time {
	if s.o.Now != nil {
		return s.o.Now()
	}
	return time.Now()
}

// record is a passkey as kept in Factor.Data: the WebAuthn credential
// record, in Kaiin's own stable JSON (not the library's).
type record struct {
	ID             []byte   `json:"id"`
	PublicKey      []byte   `json:"publicKey"`
	SignCount      uint32   `json:"signCount"`
	Transports     []string `json:"transports,omitempty"`
	AAGUID         []byte   `json:"aaguid,omitempty"`
	Attachment     string   `json:"attachment,omitempty"`
	UserPresent    bool     `json:"userPresent"`
	UserVerified   bool     `json:"userVerified"`
	BackupEligible bool     `json:"backupEligible"`
	BackupState    bool     `json:"backupState"`
	AttestationFmt string   `json:"attestationFormat,omitempty"`
	AttestationTyp string   `json:"attestationType,omitempty"`
}

func recordOf(c *webauthn.Credential) record {
	r := record{ID: c.ID, PublicKey: c.PublicKey, SignCount: c.Authenticator.SignCount, AAGUID: c.Authenticator.AAGUID,
		Attachment: string(c.Authenticator.Attachment), UserPresent: c.Flags.UserPresent, UserVerified: c.Flags.UserVerified,
		BackupEligible: c.Flags.BackupEligible, BackupState: c.Flags.BackupState,
		AttestationFmt: c.AttestationFormat, AttestationTyp: c.AttestationType}
	for _, t := range c.Transport {
		r.Transports = append(r.Transports, string(t))
	}
	return r
}

func (r record) credential() webauthn.Credential {
	c := webauthn.Credential{ID: r.ID, PublicKey: r.PublicKey, AttestationFormat: r.AttestationFmt, AttestationType: r.AttestationTyp,
		Flags: webauthn.CredentialFlags{UserPresent: r.UserPresent, UserVerified: r.UserVerified,
			BackupEligible: r.BackupEligible, BackupState: r.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: r.AAGUID, SignCount: r.SignCount,
			Attachment: protocol.AuthenticatorAttachment(r.Attachment)}}
	for _, t := range r.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	return c
}

// passkey is one stored passkey.
type passkey struct {
	factor store.Factor
	rec    record
}

// member is a store.User with its passkeys, as the library sees it.
type member struct {
	user     store.User
	passkeys []passkey
}

func (m *member) WebAuthnID() []byte          { return []byte(m.user.ID) }
func (m *member) WebAuthnName() string        { return m.user.Email }
func (m *member) WebAuthnDisplayName() string { return m.user.Email }
func (m *member) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, len(m.passkeys))
	for i, p := range m.passkeys {
		out[i] = p.rec.credential()
	}
	return out
}

func (m *member) find(credID []byte) (passkey, bool) {
	for _, p := range m.passkeys {
		if string(p.rec.ID) == string(credID) {
			return p, true
		}
	}
	return passkey{}, false
}

// load returns the member with their confirmed passkeys.
func (s *Service) load(ctx context.Context, userID string) (*member, error) {
	u, err := s.o.Store.GetUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	fs, err := s.o.Store.ListFactors(ctx, userID)
	if err != nil {
		return nil, err
	}
	m := &member{user: u}
	for _, f := range fs {
		if f.Kind != Kind || !f.Confirmed {
			continue
		}
		var rec record
		if err := json.Unmarshal(f.Data, &rec); err != nil {
			return nil, fmt.Errorf("passkey: factor %s: %w", f.ID, err)
		}
		m.passkeys = append(m.passkeys, passkey{factor: f, rec: rec})
	}
	return m, nil
}

// Info is what the account page shows of a passkey.
type Info struct {
	ID, Name              string
	CreatedAt, LastUsedAt time.Time
	// Synced reports a passkey that may be copied to the member's other
	// devices (backup eligible).
	Synced bool
}

// List returns the member's passkeys, oldest first.
func (s *Service) List(ctx context.Context, userID string) ([]Info, error) {
	m, err := s.load(ctx, userID)
	if err != nil {
		return nil, errcode.Wrap(errcode.Internal, err)
	}
	var out []Info
	for _, p := range m.passkeys {
		out = append(out, Info{ID: p.factor.ID, Name: p.factor.Name, CreatedAt: p.factor.CreatedAt,
			LastUsedAt: p.factor.LastUsedAt, Synced: p.rec.BackupEligible})
	}
	return out, nil
}

// Ceremony purposes.
const (
	purposeRegister = "register"
	purposeLogin    = "login"
	purpose2FA      = "2fa"
)

// ceremony is a begun ceremony, kept in the hot state.
type ceremony struct {
	Purpose string               `json:"p"`
	UserID  string               `json:"u,omitempty"`
	Session webauthn.SessionData `json:"s"`
}

func ceremonyKey(token string) string { return "passkey:c:" + hashToken(token) }
func ticketKey(token string) string   { return "passkey:t:" + hashToken(token) }

func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func newToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

func (s *Service) save(ctx context.Context, c ceremony) (string, error) {
	v, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	token := newToken()
	if err := s.o.State.Set(ctx, ceremonyKey(token), v, CeremonyTTL); err != nil {
		return "", errcode.Wrap(errcode.Internal, err)
	}
	return token, nil
}

// take uses up the ceremony under token; it must be of purpose.
func (s *Service) take(ctx context.Context, token, purpose string) (*ceremony, error) {
	if token == "" {
		return nil, errcode.New(errcode.PasskeyExpired, "")
	}
	v, err := s.o.State.Take(ctx, ceremonyKey(token))
	if err != nil {
		// Expired, already used, or never made: all the same to the member.
		return nil, errcode.Wrap(errcode.PasskeyExpired, err)
	}
	var c ceremony
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, errcode.Wrap(errcode.Internal, err)
	}
	if c.Purpose != purpose {
		return nil, errcode.Wrap(errcode.PasskeyExpired, fmt.Errorf("passkey: ceremony for %s used for %s", c.Purpose, purpose))
	}
	return &c, nil
}

// BeginRegistration starts adding a passkey for userID: the options for
// navigator.credentials.create and the ceremony's token.
func (s *Service) BeginRegistration(ctx context.Context, userID string) (*protocol.CredentialCreation, string, error) {
	if !s.Enabled() {
		return nil, "", errcode.New(errcode.NotFound, "")
	}
	m, err := s.load(ctx, userID)
	if err != nil {
		return nil, "", errcode.Wrap(errcode.Internal, err)
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range m.WebAuthnCredentials() {
		exclude = append(exclude, c.Descriptor())
	}
	rk := true
	opts, sd, err := s.wa.BeginRegistration(m,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			RequireResidentKey: &rk,
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			UserVerification:   protocol.VerificationPreferred,
		}),
		webauthn.WithExclusions(exclude),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
	)
	if err != nil {
		return nil, "", errcode.Wrap(errcode.Internal, err)
	}
	token, err := s.save(ctx, ceremony{Purpose: purposeRegister, UserID: userID, Session: *sd})
	if err != nil {
		return nil, "", err
	}
	return opts, token, nil
}

// FinishRegistration checks the authenticator's answer (the JSON of the
// PublicKeyCredential) to the ceremony token, begun by the same member,
// and stores the passkey under name.
func (s *Service) FinishRegistration(ctx context.Context, token, userID, name string, response []byte) (Info, error) {
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > MaxNameLength || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return Info{}, errcode.New(errcode.PasskeyNameInvalid, "name", MaxNameLength)
	}
	c, err := s.take(ctx, token, purposeRegister)
	if err != nil {
		return Info{}, err
	}
	if c.UserID != userID {
		return Info{}, errcode.Wrap(errcode.PasskeyExpired, errors.New("passkey: registration begun by another member"))
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Info{}, errcode.Wrap(errcode.PasskeyFailed, err)
	}
	m, err := s.load(ctx, userID)
	if err != nil {
		return Info{}, errcode.Wrap(errcode.Internal, err)
	}
	cred, err := s.wa.CreateCredential(m, c.Session, parsed)
	if err != nil {
		return Info{}, errcode.Wrap(errcode.PasskeyFailed, err)
	}
	if _, dup := m.find(cred.ID); dup {
		return Info{}, errcode.New(errcode.PasskeyExists, "")
	}
	data, err := json.Marshal(recordOf(cred))
	if err != nil {
		return Info{}, errcode.Wrap(errcode.Internal, err)
	}
	if name == "" {
		name = i18n.T(i18n.Lang(m.user.Locale), "passkey.default_name")
		if n := len(m.passkeys); n > 0 {
			name = fmt.Sprintf("%s %d", name, n+1)
		}
	}
	f := store.Factor{ID: newID(), UserID: userID, Kind: Kind, Name: name, Data: data,
		CreatedAt: s.now().UTC(), Confirmed: true}
	if err := s.o.Store.CreateFactor(ctx, f); err != nil {
		return Info{}, errcode.Wrap(errcode.Internal, err)
	}
	return Info{ID: f.ID, Name: f.Name, CreatedAt: f.CreatedAt, Synced: cred.Flags.BackupEligible}, nil
}

// BeginLogin starts a passwordless sign-in with a discoverable credential:
// no allowCredentials, user verification required (the passkey is then
// two factors on its own: the device, and the PIN or biometric that
// unlocks it).
func (s *Service) BeginLogin(ctx context.Context) (*protocol.CredentialAssertion, string, error) {
	if !s.Enabled() {
		return nil, "", errcode.New(errcode.NotFound, "")
	}
	opts, sd, err := s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, "", errcode.Wrap(errcode.Internal, err)
	}
	token, err := s.save(ctx, ceremony{Purpose: purposeLogin, Session: *sd})
	if err != nil {
		return nil, "", err
	}
	return opts, token, nil
}

// Result is a verified assertion.
type Result struct {
	User store.User
	// FactorID is the passkey used.
	FactorID string
	// Synced reports a backup-eligible (synced) passkey.
	Synced bool
	// UserVerified reports that the authenticator verified the member
	// (PIN or biometric), not only their presence.
	UserVerified bool
}

// AMR returns the authentication methods (RFC 8176) of a sign-in with
// this passkey: "hwk" for a device-bound key, "swk" for a synced one
// (its private key leaves the device's hardware to be copied), "user"
// when the authenticator verified the member. Passwordless sign-in
// requires user verification, so it adds "mfa": possession of the key
// plus the PIN or biometric that unlocks it.
func (r Result) AMR() []string {
	amr := []string{"hwk"}
	if r.Synced {
		amr = []string{"swk"}
	}
	if r.UserVerified {
		amr = append(amr, "user", "mfa")
	}
	return amr
}

// FinishLogin checks the answer to a passwordless sign-in ceremony and
// returns the member it signs in.
func (s *Service) FinishLogin(ctx context.Context, token string, response []byte) (Result, error) {
	c, err := s.take(ctx, token, purposeLogin)
	if err != nil {
		return Result{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return Result{}, errcode.Wrap(errcode.PasskeyFailed, err)
	}
	var m *member
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		var err error
		m, err = s.load(ctx, string(userHandle))
		if errors.Is(err, store.ErrNotFound) {
			return nil, errUnknown
		}
		if err != nil {
			return nil, err
		}
		if _, ok := m.find(rawID); !ok {
			return nil, errUnknown
		}
		return m, nil
	}
	_, cred, err := s.wa.ValidatePasskeyLogin(handler, c.Session, parsed)
	if err != nil {
		return Result{}, loginErr(err)
	}
	return s.used(ctx, m, cred)
}

var errUnknown = errors.New("passkey: no such credential")

func loginErr(err error) error {
	if errors.Is(err, errUnknown) {
		return errcode.Wrap(errcode.PasskeyUnknown, err)
	}
	var unknown *protocol.ErrorUnknownCredential
	if errors.As(err, &unknown) {
		return errcode.Wrap(errcode.PasskeyUnknown, err)
	}
	return errcode.Wrap(errcode.PasskeyFailed, err)
}

// BeginSecondFactor starts the second step of userID's sign-in with one of
// their passkeys.
func (s *Service) BeginSecondFactor(ctx context.Context, userID string) (*protocol.CredentialAssertion, string, error) {
	if !s.Enabled() {
		return nil, "", errcode.New(errcode.NotFound, "")
	}
	m, err := s.load(ctx, userID)
	if err != nil {
		return nil, "", errcode.Wrap(errcode.Internal, err)
	}
	if len(m.passkeys) == 0 {
		return nil, "", errcode.New(errcode.PasskeyNone, "")
	}
	opts, sd, err := s.wa.BeginLogin(m, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, "", errcode.Wrap(errcode.Internal, err)
	}
	token, err := s.save(ctx, ceremony{Purpose: purpose2FA, UserID: userID, Session: *sd})
	if err != nil {
		return nil, "", err
	}
	return opts, token, nil
}

// FinishSecondFactor checks the answer to a second-step ceremony begun for
// userID.
func (s *Service) FinishSecondFactor(ctx context.Context, token, userID string, response []byte) (Result, error) {
	c, err := s.take(ctx, token, purpose2FA)
	if err != nil {
		return Result{}, err
	}
	if c.UserID != userID {
		return Result{}, errcode.Wrap(errcode.PasskeyExpired, errors.New("passkey: second step begun for another member"))
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return Result{}, errcode.Wrap(errcode.PasskeyFailed, err)
	}
	m, err := s.load(ctx, userID)
	if err != nil {
		return Result{}, errcode.Wrap(errcode.Internal, err)
	}
	cred, err := s.wa.ValidateLogin(m, c.Session, parsed)
	if err != nil {
		return Result{}, loginErr(err)
	}
	return s.used(ctx, m, cred)
}

// used records a verified assertion: the new sign count and the time of
// use. A count that does not go forward (unless the authenticator keeps
// none: both zero) means two copies of the key exist: refused.
func (s *Service) used(ctx context.Context, m *member, cred *webauthn.Credential) (Result, error) {
	p, ok := m.find(cred.ID)
	if !ok {
		return Result{}, errcode.Wrap(errcode.PasskeyUnknown, errUnknown)
	}
	if cred.Authenticator.CloneWarning {
		s.o.Logger.WarnContext(ctx, "passkey sign count went backwards: refused as a possible clone",
			"user", m.user.ID, "factor", p.factor.ID, "stored", p.rec.SignCount, "got", cred.Authenticator.SignCount)
		return Result{}, errcode.Wrap(errcode.PasskeyCloned, errors.New("passkey: sign count did not increase"))
	}
	now := s.now().UTC()
	_, err := s.o.Store.UpdateFactor(ctx, p.factor.ID, func(f store.Factor) (store.Factor, error) {
		var rec record
		if err := json.Unmarshal(f.Data, &rec); err != nil {
			return f, err
		}
		// Checked again inside the transaction: of two concurrent uses
		// with the same count, one wins.
		n := cred.Authenticator.SignCount
		if (n != 0 || rec.SignCount != 0) && n <= rec.SignCount {
			return f, errCloned
		}
		rec.SignCount = n
		rec.UserVerified = cred.Flags.UserVerified || rec.UserVerified
		rec.BackupState = cred.Flags.BackupState
		data, err := json.Marshal(rec)
		if err != nil {
			return f, err
		}
		f.Data, f.LastUsedAt = data, now
		return f, nil
	})
	if errors.Is(err, errCloned) {
		return Result{}, errcode.Wrap(errcode.PasskeyCloned, err)
	}
	if errors.Is(err, store.ErrNotFound) {
		return Result{}, errcode.Wrap(errcode.PasskeyUnknown, err)
	}
	if err != nil {
		return Result{}, errcode.Wrap(errcode.Internal, err)
	}
	return Result{User: m.user, FactorID: p.factor.ID, Synced: cred.Flags.BackupEligible, UserVerified: cred.Flags.UserVerified}, nil
}

var errCloned = errors.New("passkey: sign count did not increase")

// Remove deletes one of the member's passkeys. Another member's factor,
// or a factor that is not a passkey, is unknown.
func (s *Service) Remove(ctx context.Context, userID, factorID string) error {
	f, err := s.o.Store.GetFactor(ctx, factorID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (f.UserID != userID || f.Kind != Kind)) {
		return errcode.New(errcode.MFAFactorUnknown, "")
	}
	if err != nil {
		return errcode.Wrap(errcode.Internal, err)
	}
	if s.o.RemoveFactor != nil {
		return s.o.RemoveFactor(ctx, userID, factorID)
	}
	if err := s.o.Store.DeleteFactor(ctx, factorID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return errcode.Wrap(errcode.Internal, err)
	}
	return nil
}
