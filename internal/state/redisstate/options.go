package redisstate

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const defaultPort = "6379"

// Options configures the connection to Redis or Redis Cluster. The zero
// value of each optional field means go-redis's default.
type Options struct {
	// Addrs are "host:port" of the server, or of some cluster nodes (the
	// client discovers the others).
	Addrs []string
	// Cluster selects Redis Cluster. New also uses Cluster when Addrs has
	// several entries; set it to reach a cluster through one seed address.
	Cluster bool
	// Username and Password authenticate (ACL user, or password only for
	// the legacy requirepass).
	Username, Password string
	// DB is the database number; a cluster has only database 0.
	DB int
	// TLS, when not nil, encrypts connections ("rediss://").
	TLS *tls.Config
	// KeyPrefix is put before every key, so that several deployments (or
	// tests) can share one Redis. It must not contain '{' or '}', which
	// would pin every key to one cluster slot.
	KeyPrefix string
	// DialTimeout, ReadTimeout and WriteTimeout bound each network step.
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// PoolSize is the number of connections per server (per node in a
	// cluster).
	PoolSize int
}

// String describes o without its password, so that logging Options is safe.
func (o Options) String() string {
	var b strings.Builder
	if o.TLS != nil {
		b.WriteString("rediss://")
	} else {
		b.WriteString("redis://")
	}
	if o.Username != "" || o.Password != "" {
		b.WriteString(url.User(o.Username).String())
		if o.Password != "" {
			b.WriteString(":xxxxx")
		}
		b.WriteString("@")
	}
	b.WriteString(strings.Join(o.Addrs, ","))
	if o.DB != 0 {
		fmt.Fprintf(&b, "/%d", o.DB)
	}
	if o.Cluster {
		b.WriteString(" (cluster)")
	}
	if o.KeyPrefix != "" {
		fmt.Fprintf(&b, " prefix %q", o.KeyPrefix)
	}
	return b.String()
}

// ParseURL parses the hot_state.redis setting:
//
//	redis://[user:password@]host[:port][/db]   one server
//	rediss://…                                 the same over TLS
//	redis://[user:password@]host:port,host:port,…   Redis Cluster
//
// A comma-separated list means Redis Cluster; entries after the first may
// be further URLs (same scheme, same or no credentials) or bare host:port.
// The port defaults to 6379. Characters such as '@', '/', '?', '#' and ','
// in the user name or password must be percent-encoded. Errors never
// contain the password.
func ParseURL(s string) (Options, error) {
	var o Options
	entries := strings.Split(s, ",")
	multi := len(entries) > 1
	fail := func(i int, format string, args ...any) (Options, error) {
		msg := fmt.Sprintf(format, args...)
		if multi {
			msg = fmt.Sprintf("entry %d: %s", i+1, msg)
		}
		return Options{}, errors.New("redisstate: parse Redis URL: " + msg)
	}
	if strings.TrimSpace(s) == "" {
		return fail(0, "empty; want redis://host:port")
	}
	// A ',' in an unencoded password splits it across entries and leaves
	// an '@' in a later one. Reject that before anything else, so that no
	// later message quotes a piece of the password.
	for i, e := range entries {
		if i > 0 && strings.Contains(e, "@") && !strings.Contains(e, "://") {
			return fail(i, "credentials without a scheme; percent-encode ',' (as %%2C) in the user name and password")
		}
	}
	scheme := ""
	for i, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			return fail(i, "empty address")
		}
		if i > 0 && !strings.Contains(e, "://") {
			addr, err := hostPort(e)
			if err != nil {
				return fail(i, "%v", err)
			}
			o.Addrs = append(o.Addrs, addr)
			continue
		}
		if !strings.Contains(e, "://") {
			if strings.Contains(e, "@") {
				return fail(i, "credentials without a scheme; want redis://user:password@host:port")
			}
			return fail(i, "not a URL; want redis://host:port or rediss://host:port")
		}
		u, err := url.Parse(e)
		if err != nil {
			// url.Parse's error quotes the input, and so the password.
			return fail(i, "not a valid URL; want redis://[user:password@]host:port[/db], with reserved characters in the user name and password percent-encoded")
		}
		if u.Scheme != "redis" && u.Scheme != "rediss" {
			return fail(i, "unsupported scheme %q; want redis:// or rediss:// (TLS)", u.Scheme)
		}
		// A '/', '?' or '#' in an unencoded password ends the host early
		// and puts the rest of the password here; never echo it.
		if strings.Contains(u.Path+u.RawQuery+u.Fragment, "@") {
			return fail(i, "'@' after the host; percent-encode '/', '?', '#' and '@' in the user name and password")
		}
		if u.Opaque != "" {
			return fail(i, "not a valid URL; want redis://host:port")
		}
		if u.RawQuery != "" {
			q, _ := url.ParseQuery(u.RawQuery)
			keys := slices.Sorted(maps.Keys(q))
			return fail(i, "query parameters are not supported (%s)", strings.Join(keys, ", "))
		}
		if u.Fragment != "" {
			return fail(i, "unexpected '#' fragment")
		}
		if i == 0 {
			scheme = u.Scheme
			if u.User != nil {
				o.Username = u.User.Username()
				o.Password, _ = u.User.Password()
			}
		} else {
			if u.Scheme != scheme {
				return fail(i, "mixes %s:// with %s://; use one scheme for every node", u.Scheme, scheme)
			}
			if u.User != nil {
				pw, _ := u.User.Password()
				if u.User.Username() != o.Username || pw != o.Password {
					return fail(i, "credentials differ from the first URL's; give them once, in the first URL")
				}
			}
		}
		if u.Hostname() == "" {
			return fail(i, "missing host")
		}
		port := u.Port()
		if port == "" {
			port = defaultPort
		}
		if err := checkPort(port); err != nil {
			return fail(i, "%v", err)
		}
		o.Addrs = append(o.Addrs, net.JoinHostPort(u.Hostname(), port))
		if p := strings.TrimPrefix(u.Path, "/"); p != "" {
			db, err := strconv.Atoi(p)
			if err != nil || db < 0 {
				return fail(i, "database must be a number such as /0, got %q", u.Path)
			}
			if i > 0 && db != o.DB {
				return fail(i, "database /%d differs from the first URL's", db)
			}
			o.DB = db
		}
	}
	if multi {
		o.Cluster = true
		if o.DB != 0 {
			return fail(0, "Redis Cluster has only database 0; remove /%d", o.DB)
		}
	}
	if scheme == "rediss" {
		// Cluster nodes are often announced by IP address; the name in
		// their certificates is that of the first URL's host.
		host, _, _ := net.SplitHostPort(o.Addrs[0])
		o.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	}
	return o, nil
}

// hostPort checks a bare "host[:port]" cluster entry.
func hostPort(e string) (string, error) {
	if strings.ContainsAny(e, "@/?#") {
		return "", errors.New("after the first URL, give host:port or a full redis:// URL")
	}
	host, port, err := net.SplitHostPort(e)
	if err != nil {
		// No port (or an IPv6 address without brackets): a bare host.
		if strings.Count(e, ":") > 0 && !strings.HasPrefix(e, "[") {
			if strings.Count(e, ":") > 1 {
				return "", fmt.Errorf("%q: put an IPv6 address in brackets, as [::1]:6379", e)
			}
			return "", fmt.Errorf("%q is not host:port", e)
		}
		host, port = strings.Trim(e, "[]"), defaultPort
	}
	if host == "" {
		return "", fmt.Errorf("%q: missing host", e)
	}
	if err := checkPort(port); err != nil {
		return "", fmt.Errorf("%q: %v", e, err)
	}
	return net.JoinHostPort(host, port), nil
}

func checkPort(port string) error {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port must be 1-65535, got %q", port)
	}
	return nil
}
