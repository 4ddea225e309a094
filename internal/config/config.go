// Package config loads Kaiin's settings from one YAML file, KAIIN_*
// environment variables and command-line flags, in that order of precedence
// (defaults < file < environment < flags), and checks them all before the
// server starts.
//
// Every setting is declared once, in the table in settings.go: its YAML key,
// environment variable, flag, default and description. Usage prints that
// table, so the operator documentation cannot drift from the code.
//
// A bad configuration fails at start, with every problem reported at once
// (as Dex's Config.Validate does), each naming the key and where the operator
// wrote it: "smtp.tls (from KAIIN_SMTP_TLS)". Unknown YAML keys and unknown
// KAIIN_* variables are errors too, because a typo that silently falls back
// to a default is the worst kind of misconfiguration. Secrets (the SMTP
// password, a password inside a database or Redis URL) never appear in an
// error, in Usage or in the config's String and LogValue.
package config

import (
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is Kaiin's resolved configuration. Load returns it validated;
// Default returns the defaults. Code that builds a Config by hand (tests)
// should call Validate.
type Config struct {
	// Addr is the host:port the HTTP server listens on.
	Addr string
	// DataDir holds the embedded SQLite database and other local files.
	DataDir string
	// PublicURL is the absolute http(s) URL members reach Kaiin at, without
	// a trailing slash. It defaults to "http://" + Addr.
	PublicURL string
	// DatabaseURL is a postgres:// URL, or empty for embedded SQLite at
	// SQLitePath(). It may hold a password: never log it as is.
	DatabaseURL      string
	DatabaseMaxConns int
	// RedisURL is empty (hot state in the database), one redis:// or
	// rediss:// URL, or a comma-separated list of them (Redis Cluster). It
	// may hold a password: never log it as is.
	RedisURL    string
	AutoMigrate bool
	// Dev forces development mode on or off; nil means DevMode() decides.
	Dev             *bool
	ShutdownTimeout time.Duration
	// TrustedProxies are the networks whose X-Forwarded-For header is
	// believed when finding a client's IP address.
	TrustedProxies []netip.Prefix
	Log            Log
	SMTP           SMTP
	Session        Session
	Password       Password
	RateLimit      RateLimit
	Keys           Keys
	OIDC           OIDC
	Gateway        Gateway
	MFA            MFA
	// ConfigFile is the file Load read, or empty when there was none.
	ConfigFile string
}

// Log configures the process logger.
type Log struct {
	// Level is one of slog.LevelDebug, LevelInfo, LevelWarn, LevelError.
	Level slog.Level
	// Format is "json" or "text".
	Format string
}

// SMTP configures outgoing mail. Host empty means no SMTP server: mail goes
// to the dev outbox.
type SMTP struct {
	Host     string
	Port     int
	Username string
	// Password is the SMTP password, read from PasswordFile when that is
	// set. String and LogValue never show it.
	Password     string
	PasswordFile string
	// From is an RFC 5322 address, with or without a display name.
	From string
	// TLS is "starttls" (required, not opportunistic), "tls" (implicit TLS,
	// usually port 465) or "none".
	TLS string
}

// Session configures browser sessions.
type Session struct {
	// IdleTimeout ends a session not used for this long.
	IdleTimeout time.Duration
	// AbsoluteTimeout ends a session this long after sign-in, used or not.
	AbsoluteTimeout time.Duration
}

// Password configures the password policy and argon2id hashing.
type Password struct {
	MinLength int
	MaxLength int
	// HashMemoryKiB, HashIterations and HashParallelism are argon2id's m, t
	// and p. Load enforces at least OWASP's minimum cost.
	HashMemoryKiB   int
	HashIterations  int
	HashParallelism int
	// MaxConcurrentHashes bounds the hashes computed at once; 0 = auto
	// (chosen by the account package from CPUs and memory).
	MaxConcurrentHashes int
	// HashQueue bounds the sign-ins waiting for a hash slot; 0 = auto.
	HashQueue int
	// HashQueueTimeout is the longest a sign-in waits for a hash slot
	// before it is answered 503 with Retry-After.
	HashQueueTimeout time.Duration
}

// RateLimit holds the rate limits of the member pages. A zero Rate is off.
type RateLimit struct {
	SigninIP        Rate
	SigninAccount   Rate
	RegisterIP      Rate
	RegisterAccount Rate
	ResetIP         Rate
	ResetAccount    Rate
}

// MFA configures two-step verification policy.
type MFA struct {
	// Required makes every sign-in to a service (OpenID Connect) need a
	// second factor; members without one are asked to set it up.
	Required bool
}

// Gateway configures `kaiin gateway`.
type Gateway struct {
	// Addr is where the gateway listens for API traffic.
	Addr string
	// MetricsAddr serves /metrics, /healthz and /readyz apart from the
	// routes, so that no route can shadow them.
	MetricsAddr string
	// IssuerURL is Kaiin's public URL (the tokens' iss); empty means
	// public_url. JWKSURL defaults to IssuerURL + "/keys".
	IssuerURL string
	JWKSURL   string
	// RoutesFile is the YAML or JSON file of routes; SIGHUP reloads it.
	// Empty means the routes in the durable store (kaiin admin route),
	// polled every PollInterval.
	RoutesFile   string
	PollInterval time.Duration
	// RevocationMaxAge bounds how stale a token's "not revoked" answer may
	// be (at most 1s).
	RevocationMaxAge time.Duration
}

// OIDC configures the lifetimes of what the OpenID provider issues.
type OIDC struct {
	AccessTokenLifetime  time.Duration
	IDTokenLifetime      time.Duration
	RefreshTokenLifetime time.Duration
	CodeLifetime         time.Duration
	AuthRequestLifetime  time.Duration
}

// Keys configures the key-encryption key (KEK) that seals signing keys and
// other secrets before they reach the database. At most one of KEK and
// KEKFile is set; with neither, keys.LoadKEK generates one in DataDir for
// embedded SQLite and refuses to start with a DatabaseURL.
type Keys struct {
	// KEK is the base64 of 32 random bytes (see ParseKEK). String and
	// LogValue never show it.
	KEK string
	// KEKFile names a file holding the base64 KEK, readable only by Kaiin;
	// keys.LoadKEK reads it.
	KEKFile string
	// Algorithms are the algorithms signing keys are kept for: ES256, and
	// RS256 for clients whose libraries need it.
	Algorithms []string
}

// String shows the key settings without the key.
func (k Keys) String() string {
	kek := ""
	if k.KEK != "" {
		kek = redacted
	}
	return "{KEK:" + kek + " KEKFile:" + k.KEKFile + "}"
}

// LogValue logs the key settings without the key.
func (k Keys) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Default returns the default configuration: embedded SQLite in
// ./kaiin-data, listening on 127.0.0.1:8080, dev mode (no SMTP host).
func Default() Config {
	return Config{
		Addr:             "127.0.0.1:8080",
		DataDir:          "./kaiin-data",
		PublicURL:        "http://localhost:8080",
		DatabaseMaxConns: 20,
		AutoMigrate:      true,
		ShutdownTimeout:  30 * time.Second,
		Log:              Log{Level: slog.LevelInfo, Format: "json"},
		SMTP:             SMTP{Port: 587, TLS: "starttls"},
		Session: Session{
			IdleTimeout:     12 * time.Hour,
			AbsoluteTimeout: 720 * time.Hour,
		},
		Password: Password{
			MinLength:        8,
			MaxLength:        64,
			HashMemoryKiB:    19456,
			HashIterations:   2,
			HashParallelism:  1,
			HashQueueTimeout: 2 * time.Second,
		},
		Keys: Keys{Algorithms: []string{"ES256", "RS256"}},
		Gateway: Gateway{Addr: "127.0.0.1:8081", MetricsAddr: "127.0.0.1:9091", RevocationMaxAge: 500 * time.Millisecond,
			PollInterval: 500 * time.Millisecond},
		OIDC: OIDC{
			AccessTokenLifetime:  15 * time.Minute,
			IDTokenLifetime:      time.Hour,
			RefreshTokenLifetime: 720 * time.Hour,
			CodeLifetime:         time.Minute,
			AuthRequestLifetime:  30 * time.Minute,
		},
		RateLimit: RateLimit{
			SigninIP:        Rate{N: 60, Per: time.Minute},
			SigninAccount:   Rate{N: 10, Per: 15 * time.Minute},
			RegisterIP:      Rate{N: 10, Per: time.Hour},
			RegisterAccount: Rate{N: 3, Per: time.Hour},
			ResetIP:         Rate{N: 20, Per: time.Hour},
			ResetAccount:    Rate{N: 5, Per: time.Hour},
		},
	}
}

// HTTPS reports whether PublicURL is https. The server then marks cookies
// Secure with the __Host- prefix and sends HSTS.
func (c Config) HTTPS() bool {
	return strings.HasPrefix(strings.ToLower(c.PublicURL), "https://")
}

// DevMode reports whether development mode is on: Dev when set, otherwise
// true exactly when no SMTP host is configured, so that a first `kaiin
// serve` shows the dev outbox instead of failing to send mail.
func (c Config) DevMode() bool {
	if c.Dev != nil {
		return *c.Dev
	}
	return c.SMTP.Host == ""
}

// SQLitePath is the embedded database file, or "" when DatabaseURL names a
// PostgreSQL server.
func (c Config) SQLitePath() string {
	if c.DatabaseURL != "" {
		return ""
	}
	return filepath.Join(c.DataDir, "kaiin.db")
}

// String lists every setting with secrets redacted, so that printing a
// Config with %v cannot leak them.
func (c Config) String() string {
	var b strings.Builder
	for i, s := range settings {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s.key)
		b.WriteByte('=')
		b.WriteString(s.display(&c))
	}
	return b.String()
}

// LogValue logs every setting with secrets redacted.
func (c Config) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(settings))
	for _, s := range settings {
		attrs = append(attrs, slog.String(s.key, s.display(&c)))
	}
	return slog.GroupValue(attrs...)
}

// String shows the SMTP settings without the password.
func (s SMTP) String() string {
	pw := ""
	if s.Password != "" {
		pw = redacted
	}
	return "{Host:" + s.Host + " Port:" + strconv.Itoa(s.Port) + " Username:" + s.Username +
		" Password:" + pw + " PasswordFile:" + s.PasswordFile + " From:" + s.From + " TLS:" + s.TLS + "}"
}

// LogValue logs the SMTP settings without the password.
func (s SMTP) LogValue() slog.Value { return slog.StringValue(s.String()) }

// defaultPublicURL derives the public URL from the listen address. A
// wildcard or empty host becomes localhost, the one name a browser on the
// same machine can use.
func defaultPublicURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	// A loopback or wildcard address is reached as localhost: browsers
	// refuse passkeys (WebAuthn) on an IP address, and allow them on
	// localhost without TLS.
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && (ip.IsUnspecified() || ip.IsLoopback())) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
