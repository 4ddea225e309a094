// Package store defines Kaiin's durable store: members, credentials and the
// server secrets every node shares. Backends live in sub-packages and all
// pass the same conformance suite (storetest).
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors every backend returns (wrapped or not; test with errors.Is).
var (
	ErrNotFound      = errors.New("store: not found")
	ErrAlreadyExists = errors.New("store: already exists")
)

// User is a member account.
type User struct {
	// ID is opaque, random and stable; it is never derived from the email.
	ID string
	// Email is the normalised address (see account.NormalizeEmail); unique.
	Email         string
	EmailVerified bool
	// PasswordHash is a PHC-format string ("$argon2id$v=19$m=…"), or empty
	// for an account without a password.
	PasswordHash string
	Admin        bool
	// Locale is the member's preferred language for mail ("ja" or "en").
	Locale            string
	CreatedAt         time.Time
	UpdatedAt         time.Time
	PasswordChangedAt time.Time
}

// Store is the durable store. Every method is safe for concurrent use.
type Store interface {
	// CreateUser inserts u. It returns ErrAlreadyExists when the ID or the
	// email is taken.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns the user with this ID, or ErrNotFound.
	GetUser(ctx context.Context, id string) (User, error)
	// GetUserByEmail returns the user with exactly this (normalised) email,
	// or ErrNotFound.
	GetUserByEmail(ctx context.Context, email string) (User, error)
	// UpdateUser reads the user, calls update and writes its result, all in
	// one transaction, so that no concurrent update is lost. An error from
	// update aborts and is returned as is. Changing the email to one taken
	// by another user returns ErrAlreadyExists. The ID cannot change.
	UpdateUser(ctx context.Context, id string, update func(User) (User, error)) (User, error)
	// DeleteUser removes the user, or returns ErrNotFound.
	DeleteUser(ctx context.Context, id string) error
	// CountUsers returns the number of users, and how many are admins.
	CountUsers(ctx context.Context) (users, admins int64, err error)

	ClientStore
	SigningKeyStore
	ConsentStore
	FactorStore
	ProfileStore
	AuditStore
	RouteStore

	// GetOrCreateSecret returns the secret stored under name, creating it
	// with generate when it does not exist yet. Concurrent callers on any
	// node all receive the same value.
	GetOrCreateSecret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error)

	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	Close() error
}

// Client is an OAuth 2.0 / OpenID Connect client: a relying party that
// signs members in, or a service that calls APIs on its own behalf.
type Client struct {
	// ID is the client_id: random, opaque, unique.
	ID   string
	Name string
	// SecretHash is the keyed hash of the client secret ("hmac-sha256$…"),
	// or empty for a public client. The secret itself is never stored.
	SecretHash string
	// RedirectURIs are matched exactly (RFC 8252 loopback ports aside).
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// GrantTypes are the grants the client may use
	// ("authorization_code", "refresh_token", "client_credentials",
	// "urn:ietf:params:oauth:grant-type:device_code").
	GrantTypes []string
	// Scopes are the scopes the client may be granted.
	Scopes []string
	// AuthMethod is the token endpoint authentication method:
	// "client_secret_basic", "client_secret_post", "private_key_jwt" or
	// "none" (public clients, PKCE required).
	AuthMethod string
	// JWKS holds the client's public keys (a JSON Web Key Set) for
	// private_key_jwt; nil otherwise.
	JWKS []byte
	// ApplicationType is "web" or "native" (native clients may use
	// loopback redirect URIs with any port).
	ApplicationType string
	// SigningAlg signs this client's ID tokens: "ES256" (default) or
	// "RS256" for old libraries.
	SigningAlg string
	// SkipConsent marks a first-party client whose members are not asked
	// for consent.
	SkipConsent bool
	// RequireMFA makes signing in to this client need a second factor.
	RequireMFA bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// ClientStore keeps OAuth clients.
type ClientStore interface {
	// CreateClient inserts c, or returns ErrAlreadyExists for a taken ID.
	CreateClient(ctx context.Context, c Client) error
	// GetClient returns the client with this ID, or ErrNotFound.
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients returns every client, ordered by ID.
	ListClients(ctx context.Context) ([]Client, error)
	// UpdateClient reads, updates and writes a client in one transaction
	// (see UpdateUser). The ID cannot change.
	UpdateClient(ctx context.Context, id string, update func(Client) (Client, error)) (Client, error)
	// DeleteClient removes the client and every consent given to it, or
	// returns ErrNotFound.
	DeleteClient(ctx context.Context, id string) error
}

// SigningKey is a key that signs tokens. Its private half is sealed
// (encrypted under the key-encryption key) before it reaches the store.
type SigningKey struct {
	// ID is the key ID ("kid"): random, unique.
	ID string
	// Algorithm is the JWS algorithm: "ES256" or "RS256".
	Algorithm string
	// Sealed is the private key, encrypted; opaque to the store.
	Sealed []byte
	// Public is the public key as a JSON Web Key.
	Public []byte
	// CreatedAt is when the key was made and first published.
	CreatedAt time.Time
	// SignFrom is when the key starts signing: after every node and
	// relying party has had time to see it published.
	SignFrom time.Time
	// SignUntil is when the key stops signing (zero: not yet decided).
	SignUntil time.Time
	// PublishUntil is when the key leaves the published key set, after
	// every token it signed has expired (zero: not yet decided).
	PublishUntil time.Time
}

// SigningKeyStore keeps signing keys.
type SigningKeyStore interface {
	// CreateSigningKey inserts k, or returns ErrAlreadyExists.
	CreateSigningKey(ctx context.Context, k SigningKey) error
	// ListSigningKeys returns every key, oldest first.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// UpdateSigningKey reads, updates and writes a key in one transaction
	// (see UpdateUser), or returns ErrNotFound. The ID cannot change.
	UpdateSigningKey(ctx context.Context, id string, update func(SigningKey) (SigningKey, error)) (SigningKey, error)
	// DeleteSigningKey removes a key, or returns ErrNotFound.
	DeleteSigningKey(ctx context.Context, id string) error
}

// Consent records the scopes a member has allowed a client.
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
}

// ConsentStore keeps consents.
type ConsentStore interface {
	// PutConsent creates or replaces the consent of (UserID, ClientID). It
	// returns ErrNotFound when the user or the client does not exist.
	PutConsent(ctx context.Context, c Consent) error
	// GetConsent returns the consent, or ErrNotFound.
	GetConsent(ctx context.Context, userID, clientID string) (Consent, error)
	// ListConsents returns a member's consents, ordered by client ID.
	ListConsents(ctx context.Context, userID string) ([]Consent, error)
	// DeleteConsent removes a consent, or returns ErrNotFound.
	DeleteConsent(ctx context.Context, userID, clientID string) error
}

// Factor is a member's second factor for signing in: an authenticator app
// (TOTP), a set of recovery codes, and later a passkey. What a kind keeps
// is the mfa package's business; the store holds it as opaque bytes.
type Factor struct {
	// ID is random, opaque and unique.
	ID string
	// UserID is the member the factor belongs to; the factor is deleted
	// with the member.
	UserID string
	// Kind is "totp" or "recovery" (later "webauthn").
	Kind string
	// Name is the member's label for it ("Phone"), shown on the account
	// page.
	Name string
	// Secret is the factor's secret, sealed (encrypted under the
	// key-encryption key) before it reaches the store; nil for a kind
	// without one (recovery codes keep only hashes, in Data).
	Secret []byte
	// Data is kind-specific JSON (for recovery codes: their hashes and
	// which are used); opaque to the store.
	Data []byte
	// CreatedAt is when enrolment began.
	CreatedAt time.Time
	// LastUsedAt is when the factor last let the member in (zero: never).
	LastUsedAt time.Time
	// Confirmed marks a factor the member has proved to hold (a first
	// TOTP code). Only confirmed factors count for signing in.
	Confirmed bool
}

// FactorStore keeps second factors.
type FactorStore interface {
	// CreateFactor inserts f. It returns ErrAlreadyExists for a taken ID
	// and ErrNotFound when f.UserID is not a user.
	CreateFactor(ctx context.Context, f Factor) error
	// GetFactor returns the factor with this ID, or ErrNotFound.
	GetFactor(ctx context.Context, id string) (Factor, error)
	// ListFactors returns a member's factors, oldest first (by CreatedAt,
	// then ID); none (not ErrNotFound) for a member without any.
	ListFactors(ctx context.Context, userID string) ([]Factor, error)
	// UpdateFactor reads, updates and writes a factor in one transaction
	// (see UpdateUser), or returns ErrNotFound. Neither the ID nor the
	// UserID can change. Concurrent updates of one factor run one after
	// the other, so an updater that consumes something (a recovery code)
	// and fails when it is gone lets exactly one caller consume it.
	UpdateFactor(ctx context.Context, id string, update func(Factor) (Factor, error)) (Factor, error)
	// DeleteFactor removes a factor, or returns ErrNotFound.
	DeleteFactor(ctx context.Context, id string) error
}

// SealedProfile is a member's personal data as the store keeps it: sealed
// blobs under the member's own data key, itself wrapped under the
// key-encryption key. The store never sees a plaintext value.
type SealedProfile struct {
	UserID string
	// WrappedKey is the member's data key, wrapped; deleting it makes the
	// blobs unreadable everywhere, backups included (crypto-shredding).
	WrappedKey []byte
	// Blobs are the sealed field groups ("name", "phone", "address"…).
	Blobs     map[string][]byte
	UpdatedAt time.Time
}

// ProfileStore keeps sealed member profiles and the blind indexes that
// find a member by an exact value (an email, a phone number) without
// holding the value.
type ProfileStore interface {
	// GetProfile returns the member's sealed profile, or ErrNotFound.
	GetProfile(ctx context.Context, userID string) (SealedProfile, error)
	// PutProfile creates or replaces the member's sealed profile and, in
	// the same transaction, sets their lookup entries: kind → blind-index
	// value, where "" removes the member's entry of that kind. A value
	// another member holds returns ErrAlreadyExists and changes nothing.
	// An unknown member returns ErrNotFound.
	PutProfile(ctx context.Context, p SealedProfile, lookups map[string]string) error
	// LookupMember returns the member holding value of kind, or
	// ErrNotFound.
	LookupMember(ctx context.Context, kind, value string) (string, error)
	// DeleteProfile removes the profile, its wrapped key and the member's
	// lookup entries; a member without one is not an error.
	DeleteProfile(ctx context.Context, userID string) error
}

// AuditEvent records one access to a member's personal data.
type AuditEvent struct {
	ID   string
	Time time.Time
	// Actor is who read: a client ID or an administrator's member ID.
	Actor     string
	ActorKind string // "client" or "admin"
	// Subject is the member whose data was read.
	Subject string
	Action  string   // "read", "reveal"
	Fields  []string // field groups ("name", "phone", …)
	// Reason is why an administrator looked (required for them).
	Reason string
}

// AuditStore keeps the audit log of personal-data access. Events are
// appended, never changed.
type AuditStore interface {
	// AppendAudit records events (in one transaction).
	AppendAudit(ctx context.Context, events ...AuditEvent) error
	// ListAudit returns a member's events, newest first, at most limit.
	ListAudit(ctx context.Context, subject string, limit int) ([]AuditEvent, error)
}

// StoredRoute is a gateway route as operators manage it: its name and its
// definition (a JSON object in the gateway's routes format, which the
// gateway package validates).
type StoredRoute struct {
	Name      string
	Spec      []byte
	UpdatedAt time.Time
}

// RouteStore keeps the gateway's routes with a version number that every
// change increases, so that gateway nodes notice a change by polling one
// number.
type RouteStore interface {
	// PutRoute creates or replaces the route of that name.
	PutRoute(ctx context.Context, r StoredRoute) error
	// DeleteRoute removes a route, or returns ErrNotFound.
	DeleteRoute(ctx context.Context, name string) error
	// ListRoutes returns every route, ordered by name, and the version they
	// are at, read together.
	ListRoutes(ctx context.Context) ([]StoredRoute, int64, error)
	// RoutesVersion returns the current version (0 before any change).
	RoutesVersion(ctx context.Context) (int64, error)
}
