package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// setting is one row of the table below, the single source of truth for a
// setting's YAML key, environment variable, flag, default and description.
type setting struct {
	key  string // YAML key, dotted for nested mappings: "smtp.host"
	flag string // flag name without dashes, or "" when there is none
	def  string // Usage's default column when the default value alone would mislead
	desc string // one line of operator documentation

	secret bool // the value is never shown, not even in errors
	url    bool // the value is shown with any password redacted
	list   bool // YAML may give a sequence; env and flags separate items with commas

	// field returns a pointer to the Config field: *string, *int, *bool,
	// **bool, *time.Duration, *Rate, *slog.Level or *[]netip.Prefix. The
	// type decides how a string is parsed and how a value is shown.
	field func(c *Config) any
	// check validates the typed value and returns what is wrong, or "".
	// Checks across settings live in validate.
	check func(c *Config) string
}

// env is the setting's environment variable: KAIIN_ and the key upper-cased
// with dots turned into underscores.
func (s *setting) env() string {
	return "KAIIN_" + strings.ToUpper(strings.ReplaceAll(s.key, ".", "_"))
}

var settings = []*setting{
	{key: "addr", flag: "addr",
		desc:  "Address the HTTP server listens on, host:port (\":8080\" listens on every interface).",
		field: func(c *Config) any { return &c.Addr }, check: checkAddr},
	{key: "data_dir", flag: "data-dir",
		desc:  "Directory for local data: the embedded SQLite database and generated keys.",
		field: func(c *Config) any { return &c.DataDir }, check: notEmpty(func(c *Config) string { return c.DataDir })},
	{key: "public_url", flag: "public-url", def: "http://<addr>",
		desc:  "Absolute http(s) URL members reach Kaiin at. With https, cookies are Secure and __Host- prefixed and HSTS is sent.",
		field: func(c *Config) any { return &c.PublicURL }, check: checkPublicURL},
	{key: "database_url", flag: "database-url", url: true, def: `"" (SQLite at <data_dir>/kaiin.db)`,
		desc:  "PostgreSQL URL (postgres://user:pass@host:5432/db); empty means embedded SQLite. Prefer the environment variable: flags show in ps.",
		field: func(c *Config) any { return &c.DatabaseURL }, check: checkDatabaseURL},
	{key: "database_max_conns",
		desc:  "Largest number of open PostgreSQL connections per node (1-1000).",
		field: func(c *Config) any { return &c.DatabaseMaxConns }, check: intRange(func(c *Config) int { return c.DatabaseMaxConns }, 1, 1000)},
	{key: "redis_url", flag: "redis-url", url: true, list: true, def: `"" (hot state in the database)`,
		desc:  "redis:// or rediss:// URL for hot state, or a comma-separated list of them for Redis Cluster; empty keeps hot state in the database.",
		field: func(c *Config) any { return &c.RedisURL }, check: checkRedisURL},
	{key: "auto_migrate", flag: "auto-migrate",
		desc:  "Apply database migrations at start. Turn off to run `kaiin migrate` as a separate step.",
		field: func(c *Config) any { return &c.AutoMigrate }},
	{key: "dev_mode", flag: "dev", def: "auto (true when smtp.host is empty)",
		desc:  "Development mode: mail goes to the dev outbox page. Unwise with a database_url: a shared server is not a dev machine.",
		field: func(c *Config) any { return &c.Dev }},
	{key: "shutdown_timeout",
		desc:  "How long a graceful shutdown waits for requests and queued mail before exiting.",
		field: func(c *Config) any { return &c.ShutdownTimeout }, check: positive(func(c *Config) time.Duration { return c.ShutdownTimeout })},
	{key: "trusted_proxies", list: true, def: "none",
		desc:  "CIDR prefixes (or IPs) of reverse proxies whose X-Forwarded-For is trusted for the client IP. YAML list, or comma-separated.",
		field: func(c *Config) any { return &c.TrustedProxies }},
	{key: "log.level", flag: "log-level",
		desc:  "Log level: debug, info, warn or error. Never debug in production.",
		field: func(c *Config) any { return &c.Log.Level }, check: checkLevel},
	{key: "log.format",
		desc:  "Log format: json (production) or text.",
		field: func(c *Config) any { return &c.Log.Format }, check: oneOf(func(c *Config) string { return c.Log.Format }, "json", "text")},
	{key: "smtp.host",
		desc:  "SMTP server host name. Empty means no SMTP: mail goes to the dev outbox.",
		field: func(c *Config) any { return &c.SMTP.Host }, check: checkSMTPHost},
	{key: "smtp.port",
		desc:  "SMTP server port: usually 587 with starttls, 465 with tls.",
		field: func(c *Config) any { return &c.SMTP.Port }, check: intRange(func(c *Config) int { return c.SMTP.Port }, 1, 65535)},
	{key: "smtp.username",
		desc:  "SMTP user name. When set, Kaiin authenticates with AUTH PLAIN over TLS.",
		field: func(c *Config) any { return &c.SMTP.Username }},
	{key: "smtp.password", secret: true,
		desc:  "SMTP password. Prefer smtp.password_file; never written to logs.",
		field: func(c *Config) any { return &c.SMTP.Password }},
	{key: "smtp.password_file",
		desc:  "File holding the SMTP password (a trailing newline is ignored), read at start. Excludes smtp.password.",
		field: func(c *Config) any { return &c.SMTP.PasswordFile }},
	{key: "smtp.from",
		desc:  "Sender address, required with smtp.host: \"Kaiin <no-reply@example.com>\".",
		field: func(c *Config) any { return &c.SMTP.From }, check: checkFrom},
	{key: "smtp.tls",
		desc:  "starttls (required, port 587), tls (implicit TLS, port 465) or none (local relay only).",
		field: func(c *Config) any { return &c.SMTP.TLS }, check: oneOf(func(c *Config) string { return c.SMTP.TLS }, "starttls", "tls", "none")},
	{key: "session.idle_timeout",
		desc:  "A browser session unused this long ends. Go duration (30m, 12h); at most session.absolute_timeout.",
		field: func(c *Config) any { return &c.Session.IdleTimeout }, check: positive(func(c *Config) time.Duration { return c.Session.IdleTimeout })},
	{key: "session.absolute_timeout",
		desc:  "A browser session ends this long after sign-in, used or not.",
		field: func(c *Config) any { return &c.Session.AbsoluteTimeout }, check: positive(func(c *Config) time.Duration { return c.Session.AbsoluteTimeout })},
	{key: "password.min_length",
		desc:  "Shortest password accepted, in characters (at least 8, per NIST SP 800-63B).",
		field: func(c *Config) any { return &c.Password.MinLength }, check: intRange(func(c *Config) int { return c.Password.MinLength }, 8, 1024)},
	{key: "password.max_length",
		desc:  "Longest password accepted, in characters (64-1024): long enough for passphrases, short enough to bound hashing.",
		field: func(c *Config) any { return &c.Password.MaxLength }, check: intRange(func(c *Config) int { return c.Password.MaxLength }, 64, 1024)},
	{key: "password.hash_memory_kib",
		desc:  "argon2id memory (m) in KiB: at least 7168, and hash_memory_kib × hash_iterations at least 35840 (OWASP: 47104/1, 19456/2, 12288/3, 9216/4, 7168/5).",
		field: func(c *Config) any { return &c.Password.HashMemoryKiB }, check: intRange(func(c *Config) int { return c.Password.HashMemoryKiB }, minHashMemoryKiB, 4<<20)},
	{key: "password.hash_iterations",
		desc:  "argon2id iterations (t).",
		field: func(c *Config) any { return &c.Password.HashIterations }, check: intRange(func(c *Config) int { return c.Password.HashIterations }, 1, 100)},
	{key: "password.hash_parallelism",
		desc:  "argon2id parallelism (p), 1-255.",
		field: func(c *Config) any { return &c.Password.HashParallelism }, check: intRange(func(c *Config) int { return c.Password.HashParallelism }, 1, 255)},
	{key: "password.max_concurrent_hashes", def: "0 (auto)",
		desc:  "Most password hashes computed at once per node; bounds memory. 0 chooses from CPUs and memory.",
		field: func(c *Config) any { return &c.Password.MaxConcurrentHashes }, check: intRange(func(c *Config) int { return c.Password.MaxConcurrentHashes }, 0, 4096)},
	{key: "password.hash_queue", def: "0 (auto)",
		desc:  "Most sign-ins waiting for a hash slot; beyond it they get 503 with Retry-After at once. 0 chooses automatically.",
		field: func(c *Config) any { return &c.Password.HashQueue }, check: intRange(func(c *Config) int { return c.Password.HashQueue }, 0, 1_000_000)},
	{key: "password.hash_queue_timeout",
		desc:  "Longest a sign-in waits for a hash slot before it gets 503.",
		field: func(c *Config) any { return &c.Password.HashQueueTimeout }, check: positive(func(c *Config) time.Duration { return c.Password.HashQueueTimeout })},
	{key: "rate_limit.signin_ip",
		desc:  "Sign-in attempts per client IP: \"N/duration\", or \"off\".",
		field: func(c *Config) any { return &c.RateLimit.SigninIP }, check: checkRate(func(c *Config) Rate { return c.RateLimit.SigninIP })},
	{key: "rate_limit.signin_account",
		desc:  "Sign-in attempts per account: \"N/duration\", or \"off\".",
		field: func(c *Config) any { return &c.RateLimit.SigninAccount }, check: checkRate(func(c *Config) Rate { return c.RateLimit.SigninAccount })},
	{key: "rate_limit.register_ip",
		desc:  "Registrations per client IP: \"N/duration\", or \"off\".",
		field: func(c *Config) any { return &c.RateLimit.RegisterIP }, check: checkRate(func(c *Config) Rate { return c.RateLimit.RegisterIP })},
	{key: "rate_limit.register_account",
		desc:  "Registrations per email address (each may mail its owner): \"N/duration\", or \"off\".",
		field: func(c *Config) any { return &c.RateLimit.RegisterAccount }, check: checkRate(func(c *Config) Rate { return c.RateLimit.RegisterAccount })},
	{key: "rate_limit.reset_ip",
		desc:  "Password-reset requests per client IP: \"N/duration\", or \"off\".",
		field: func(c *Config) any { return &c.RateLimit.ResetIP }, check: checkRate(func(c *Config) Rate { return c.RateLimit.ResetIP })},
	{key: "rate_limit.reset_account",
		desc:  "Password-reset requests per account: \"N/duration\", or \"off\".",
		field: func(c *Config) any { return &c.RateLimit.ResetAccount }, check: checkRate(func(c *Config) Rate { return c.RateLimit.ResetAccount })},
	{key: "keys.kek", secret: true, def: `"" (generated in <data_dir>/kek with SQLite; required with database_url)`,
		desc:  "Key-encryption key sealing signing keys in the database: base64 of 32 random bytes (openssl rand -base64 32). Every node needs the same one, and a backup of the database is useless without it. Prefer keys.kek_file; never written to logs.",
		field: func(c *Config) any { return &c.Keys.KEK }, check: checkKEK},
	{key: "keys.kek_file",
		desc:  "File holding the base64 key-encryption key, readable only by Kaiin (mode 0600 or 0640), read at start. Excludes keys.kek.",
		field: func(c *Config) any { return &c.Keys.KEKFile }},
	{key: "keys.algorithms", list: true,
		desc:  "Algorithms to keep signing keys for: ES256 (always; the default for tokens) and RS256 (for clients registered with id_token_signed_response_alg RS256). YAML list, or comma-separated.",
		field: func(c *Config) any { return &c.Keys.Algorithms }, check: checkAlgorithms},
	{key: "mfa.required",
		desc:  "Require a second factor (authenticator app or passkey) for every sign-in to a service; members without one are asked to set it up.",
		field: func(c *Config) any { return &c.MFA.Required }},
	{key: "gateway.addr",
		desc:  "Where kaiin gateway listens for API traffic, host:port.",
		field: func(c *Config) any { return &c.Gateway.Addr }, check: func(c *Config) string { return hostPort(c.Gateway.Addr) }},
	{key: "gateway.metrics_addr",
		desc:  "Where kaiin gateway serves /metrics, /healthz and /readyz, apart from the routes.",
		field: func(c *Config) any { return &c.Gateway.MetricsAddr }, check: func(c *Config) string { return hostPort(c.Gateway.MetricsAddr) }},
	{key: "gateway.issuer_url", def: "public_url",
		desc:  "Kaiin's public URL, as in the tokens' iss claim.",
		field: func(c *Config) any { return &c.Gateway.IssuerURL }, check: func(c *Config) string { return optionalHTTPURL(c.Gateway.IssuerURL) }},
	{key: "gateway.jwks_url", def: "<issuer_url>/keys",
		desc:  "Where the gateway fetches Kaiin's signing keys.",
		field: func(c *Config) any { return &c.Gateway.JWKSURL }, check: func(c *Config) string { return optionalHTTPURL(c.Gateway.JWKSURL) }},
	{key: "gateway.routes_file",
		desc:  "YAML or JSON file of the gateway's routes; SIGHUP reloads it. Empty: the routes in the database (kaiin admin route), polled.",
		field: func(c *Config) any { return &c.Gateway.RoutesFile }},
	{key: "gateway.poll_interval",
		desc:  "How often a gateway checks the stored routes for a change.",
		field: func(c *Config) any { return &c.Gateway.PollInterval }, check: lifetime(func(c *Config) time.Duration { return c.Gateway.PollInterval }, 100*time.Millisecond, time.Minute)},
	{key: "gateway.revocation_max_age",
		desc:  "How stale a token's not-revoked answer may be before the gateway asks the hot state again (at most 1s).",
		field: func(c *Config) any { return &c.Gateway.RevocationMaxAge }, check: lifetime(func(c *Config) time.Duration { return c.Gateway.RevocationMaxAge }, time.Millisecond, time.Second)},
	{key: "oidc.access_token_lifetime",
		desc:  "Lifetime of access tokens (JWT). Revocation is honoured until they expire.",
		field: func(c *Config) any { return &c.OIDC.AccessTokenLifetime }, check: lifetime(func(c *Config) time.Duration { return c.OIDC.AccessTokenLifetime }, time.Minute, 24*time.Hour)},
	{key: "oidc.id_token_lifetime",
		desc:  "Lifetime of ID tokens.",
		field: func(c *Config) any { return &c.OIDC.IDTokenLifetime }, check: lifetime(func(c *Config) time.Duration { return c.OIDC.IDTokenLifetime }, time.Minute, 24*time.Hour)},
	{key: "oidc.refresh_token_lifetime",
		desc:  "How long an unused refresh token stays valid; each use starts it again (rotation).",
		field: func(c *Config) any { return &c.OIDC.RefreshTokenLifetime }, check: lifetime(func(c *Config) time.Duration { return c.OIDC.RefreshTokenLifetime }, time.Hour, 365*24*time.Hour)},
	{key: "oidc.code_lifetime",
		desc:  "Lifetime of authorization codes (RFC 6749 recommends at most 10 minutes).",
		field: func(c *Config) any { return &c.OIDC.CodeLifetime }, check: lifetime(func(c *Config) time.Duration { return c.OIDC.CodeLifetime }, time.Second, 10*time.Minute)},
	{key: "oidc.auth_request_lifetime",
		desc:  "How long a member has to sign in and consent once a service sent them.",
		field: func(c *Config) any { return &c.OIDC.AuthRequestLifetime }, check: lifetime(func(c *Config) time.Duration { return c.OIDC.AuthRequestLifetime }, time.Minute, 24*time.Hour)},
}

// lifetime checks a duration lies within [lo, hi].
func lifetime(get func(*Config) time.Duration, lo, hi time.Duration) func(*Config) string {
	return func(c *Config) string {
		if d := get(c); d < lo || d > hi {
			return fmt.Sprintf("%s is out of range; use a duration from %s to %s", d, formatDuration(lo), formatDuration(hi))
		}
		return ""
	}
}

// OWASP's argon2id minimums (Password Storage Cheat Sheet): m=7 MiB at
// least, and m×t no lower than 7 MiB × 5.
const (
	minHashMemoryKiB = 7168
	minHashCost      = 35840
)

// Lookup tables built from settings.
var (
	byKey  = map[string]*setting{}
	byEnv  = map[string]*setting{}
	byFlag = map[string]*setting{}
	groups = map[string]bool{} // "smtp", "session", …: YAML mappings
)

func init() {
	for _, s := range settings {
		byKey[s.key] = s
		byEnv[s.env()] = s
		if s.flag != "" {
			byFlag[s.flag] = s
		}
		if g, _, ok := strings.Cut(s.key, "."); ok {
			groups[g] = true
		}
	}
}

// parse converts raw into the field's type and stores it in c. It returns
// what is wrong with raw, or "".
func (s *setting) parse(c *Config, raw string) string {
	if !s.secret {
		raw = strings.TrimSpace(raw)
	}
	switch p := s.field(c).(type) {
	case *string:
		*p = raw
	case *int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return "is not a whole number"
		}
		*p = n
	case *bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return "is not a boolean; use true or false"
		}
		*p = b
	case **bool:
		if raw == "" || strings.EqualFold(raw, "auto") {
			*p = nil
			return ""
		}
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return "is not a boolean; use true, false or auto"
		}
		*p = &b
	case *time.Duration:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return "is not a duration; use a Go duration such as 30s, 15m or 12h"
		}
		*p = d
	case *Rate:
		r, err := ParseRate(raw)
		if err != nil {
			return "is not a rate; " + err.Error()
		}
		*p = r
	case *slog.Level:
		switch strings.ToLower(raw) {
		case "debug":
			*p = slog.LevelDebug
		case "info":
			*p = slog.LevelInfo
		case "warn", "warning":
			*p = slog.LevelWarn
		case "error":
			*p = slog.LevelError
		default:
			return "is not allowed; use one of debug, info, warn, error"
		}
	case *[]netip.Prefix:
		var ps []netip.Prefix
		items := strings.Split(raw, ",")
		for _, item := range items {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			pfx, err := parsePrefix(item)
			if err != nil {
				const want = "not a CIDR prefix (10.0.0.0/8) or an IP address"
				if len(items) == 1 {
					return "is " + want
				}
				return fmt.Sprintf("has %q, which is %s", item, want)
			}
			ps = append(ps, pfx)
		}
		*p = ps
	case *[]string:
		var items []string
		for _, item := range strings.Split(raw, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		*p = items
	default:
		panic("config: setting " + s.key + " has an unsupported field type")
	}
	return ""
}

// parsePrefix reads a CIDR prefix, or a bare IP as a one-address prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// display formats the setting's current value in c for people, secrets
// redacted.
func (s *setting) display(c *Config) string {
	var v string
	switch p := s.field(c).(type) {
	case *string:
		v = *p
	case *int:
		v = strconv.Itoa(*p)
	case *bool:
		v = strconv.FormatBool(*p)
	case **bool:
		v = "auto"
		if *p != nil {
			v = strconv.FormatBool(**p)
		}
	case *time.Duration:
		v = formatDuration(*p)
	case *Rate:
		v = p.String()
	case *slog.Level:
		v = strings.ToLower(p.String())
	case *[]netip.Prefix:
		items := make([]string, len(*p))
		for i, pfx := range *p {
			items[i] = pfx.String()
		}
		v = strings.Join(items, ",")
	case *[]string:
		v = strings.Join(*p, ",")
	}
	return s.redact(v)
}

// redacted stands in for a secret.
const redacted = "[redacted]"

// redact hides what must never be shown of a value of s.
func (s *setting) redact(v string) string {
	switch {
	case s.secret && v != "":
		return redacted
	case s.url:
		return redactURLs(v)
	}
	return v
}

// redactURLs hides the user information and any password parameter of each
// comma-separated URL in v. It works on text rather than on a parsed URL
// because the URL may not parse, and must be redacted all the same.
func redactURLs(v string) string {
	parts := strings.Split(v, ",")
	for i, p := range parts {
		parts[i] = redactURL(p)
	}
	return strings.Join(parts, ",")
}

func redactURL(u string) string {
	start := 0
	if i := strings.Index(u, "://"); i >= 0 {
		start = i + 3
	}
	// The last '@' ends the user information: a password may hold an '@'.
	if at := strings.LastIndex(u, "@"); at >= start {
		u = u[:start] + "xxxxx" + u[at:]
	}
	// libpq also takes the password as a query parameter.
	if i := strings.Index(strings.ToLower(u), "password="); i >= 0 {
		end := strings.IndexAny(u[i:], "&#")
		rest := ""
		if end >= 0 {
			rest = u[i+end:]
		}
		u = u[:i] + "password=xxxxx" + rest
	}
	return u
}

// Checks of a single setting's typed value.

func notEmpty(get func(*Config) string) func(*Config) string {
	return func(c *Config) string {
		if get(c) == "" {
			return "must not be empty"
		}
		return ""
	}
}

func intRange(get func(*Config) int, lo, hi int) func(*Config) string {
	return func(c *Config) string {
		if n := get(c); n < lo || n > hi {
			return fmt.Sprintf("is out of range; want a whole number from %d to %d", lo, hi)
		}
		return ""
	}
}

func positive(get func(*Config) time.Duration) func(*Config) string {
	return func(c *Config) string {
		if get(c) <= 0 {
			return "must be longer than zero"
		}
		return ""
	}
}

func oneOf(get func(*Config) string, allowed ...string) func(*Config) string {
	return func(c *Config) string {
		v := get(c)
		for _, a := range allowed {
			if v == a {
				return ""
			}
		}
		return "is not allowed; use one of " + strings.Join(allowed, ", ")
	}
}

func checkRate(get func(*Config) Rate) func(*Config) string {
	return func(c *Config) string {
		if r := get(c); !r.Off() && (r.N < 1 || r.Per <= 0) {
			return `is not a rate; want N ≥ 1 events per a positive duration, or "off"`
		}
		return ""
	}
}

func checkLevel(c *Config) string {
	switch c.Log.Level {
	case slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError:
		return ""
	}
	return "is not allowed; use one of debug, info, warn, error"
}

func checkAddr(c *Config) string {
	_, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return "is not host:port; want an address such as 127.0.0.1:8080 or :8080"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "has a bad port; want a number from 0 to 65535"
	}
	return ""
}

func checkPublicURL(c *Config) string {
	const want = "; want an absolute http or https URL such as https://id.example.com"
	u, err := url.Parse(c.PublicURL)
	switch {
	case err != nil:
		return "is not a URL" + want
	case u.Scheme != "http" && u.Scheme != "https":
		return "does not start with http:// or https://" + want
	case u.Host == "" || u.Hostname() == "":
		return "has no host" + want
	case u.User != nil:
		return "must not hold a user name or password" + want
	case u.RawQuery != "" || u.ForceQuery:
		return "must not have a query (?…)" + want
	case u.Fragment != "" || strings.Contains(c.PublicURL, "#"):
		return "must not have a fragment (#…)" + want
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "has a bad port" + want
		}
	}
	return ""
}

func checkDatabaseURL(c *Config) string {
	if c.DatabaseURL == "" {
		return ""
	}
	const want = "; want postgres://user:password@host:5432/dbname, or empty for embedded SQLite"
	// Never return url.Parse's error: it quotes the URL, password included.
	u, err := url.Parse(c.DatabaseURL)
	if err != nil {
		return "is not a URL" + want
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "is not a postgres:// or postgresql:// URL" + want
	}
	return ""
}

func checkRedisURL(c *Config) string {
	if c.RedisURL == "" {
		return ""
	}
	const want = "; want redis://host:6379 or rediss://host:6379, or a comma-separated list of them for Redis Cluster"
	for i, item := range strings.Split(c.RedisURL, ",") {
		item = strings.TrimSpace(item)
		nth := ""
		if strings.Contains(c.RedisURL, ",") {
			nth = fmt.Sprintf("item %d ", i+1)
		}
		if item == "" {
			return nth + "is empty" + want
		}
		u, err := url.Parse(item)
		switch {
		case err != nil:
			return nth + "is not a URL" + want
		case u.Scheme != "redis" && u.Scheme != "rediss":
			return nth + "is not a redis:// or rediss:// URL" + want
		case u.Hostname() == "":
			return nth + "has no host" + want
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return nth + "has a bad port" + want
			}
		}
	}
	return ""
}

func checkSMTPHost(c *Config) string {
	if _, _, err := net.SplitHostPort(c.SMTP.Host); err == nil {
		return "holds a port; put the host name here and the port in smtp.port"
	}
	if strings.ContainsAny(c.SMTP.Host, "/ ") {
		return "is not a host name; want a name such as smtp.example.com"
	}
	return ""
}

func checkKEK(c *Config) string {
	if c.Keys.KEK == "" {
		return "" // generated or read from keys.kek_file; see keys.LoadKEK
	}
	if _, err := ParseKEK(c.Keys.KEK); err != nil {
		return err.Error()
	}
	return ""
}

func checkFrom(c *Config) string {
	if c.SMTP.From == "" {
		return "" // required only with smtp.host; see validate
	}
	if _, err := mail.ParseAddress(c.SMTP.From); err != nil {
		return `is not an email address; want "no-reply@example.com" or "Kaiin <no-reply@example.com>"`
	}
	return ""
}

func checkAlgorithms(c *Config) string {
	hasES := false
	for _, a := range c.Keys.Algorithms {
		switch a {
		case "ES256":
			hasES = true
		case "RS256":
		default:
			return fmt.Sprintf("%q is not allowed; use ES256 and optionally RS256", a)
		}
	}
	if !hasES {
		return "must include ES256, the default signing algorithm"
	}
	return ""
}

func hostPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	_ = host
	if err != nil {
		return fmt.Sprintf("%q is not host:port; want an address such as 127.0.0.1:8081 or :8081", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("%q has a bad port; want 0 to 65535", addr)
	}
	return ""
}

func optionalHTTPURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("%q is not an absolute http or https URL", raw)
	}
	return ""
}
