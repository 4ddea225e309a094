package gateway

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"go.yaml.in/yaml/v3"

	"github.com/kaiin-project/kaiin/internal/config"
	"github.com/kaiin-project/kaiin/internal/ratelimit"
)

// Route sends requests for a host and path prefix to upstreams. The
// comments name each field as it is written in a routes file.
type Route struct {
	// Name identifies the route in metrics, logs and rate-limit keys
	// (name): 1 to 64 of a-z, 0-9, '-', '_', '.'. Required, unique.
	Name string
	// Host is the request host it matches (host), without port; "" matches
	// any host. A route for the request's host is always preferred to one
	// for any host.
	Host string
	// PathPrefix is the path prefix it matches (path_prefix), on segment
	// boundaries: "/api" matches "/api" and "/api/x", not "/apix". The
	// longest matching prefix wins. Required.
	PathPrefix string
	// Upstreams are the http(s) URLs requests are balanced across
	// (upstreams), all with the same path, which is put before the
	// request's path. At least one, at most 64.
	Upstreams []string
	// Anonymous routes need no token (anonymous); their rate limit counts
	// per client IP.
	Anonymous bool
	// RequiredScopes must all be in the token (required_scopes).
	RequiredScopes []string
	// AllowedClients, when not empty, are the only client IDs let through
	// (allowed_clients).
	AllowedClients []string
	// RateLimit counts requests per client, or per client IP on anonymous
	// routes, across all gateways (rate_limit: "600/1m"); zero is off.
	RateLimit ratelimit.Rate
	// Timeout bounds the wait for an upstream's response headers
	// (timeout); default 30 s, at most 10 min.
	Timeout time.Duration
	// Retries is how many other upstreams an idempotent request without a
	// body is tried on after a failure (retries); at most len(upstreams)-1.
	Retries int
	// StripPrefix removes PathPrefix from the path sent upstream
	// (strip_prefix).
	StripPrefix bool
}

// DefaultTimeout is a route's default upstream timeout.
const DefaultTimeout = 30 * time.Second

// RoutesError lists every problem found in a set of routes, each naming
// the route and the key.
type RoutesError []string

func (e RoutesError) Error() string { return "invalid routes: " + strings.Join(e, "; ") }

var nameRE = regexp.MustCompile(`^[a-z0-9_.-]{1,64}$`)

// ValidateRoutes checks routes and returns a RoutesError with every
// problem, or nil.
func ValidateRoutes(routes []Route) error {
	var errs RoutesError
	names := map[string]int{}
	keys := map[string]int{}
	for i, r := range routes {
		at := fmt.Sprintf("routes[%d]", i)
		if r.Name != "" {
			at = fmt.Sprintf("routes[%d] (%s)", i, r.Name)
		}
		bad := func(key, format string, args ...any) {
			errs = append(errs, at+"."+key+": "+fmt.Sprintf(format, args...))
		}
		if !nameRE.MatchString(r.Name) {
			bad("name", "%q: want 1 to 64 of a-z, 0-9, '-', '_', '.'", r.Name)
		} else if j, dup := names[r.Name]; dup {
			bad("name", "%q is also the name of routes[%d]", r.Name, j)
		} else {
			names[r.Name] = i
		}
		if r.Host != "" {
			h := strings.ToLower(r.Host)
			if h != r.Host || strings.ContainsAny(h, ":/?#@ ") || strings.Trim(h, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
				bad("host", "%q: want a lower-case host name without port, or empty for any host", r.Host)
			}
		}
		if p, ok := normalizePrefix(r.PathPrefix); !ok {
			bad("path_prefix", "%q: want an absolute, clean path such as /api", r.PathPrefix)
		} else {
			key := r.Host + " " + p
			if j, dup := keys[key]; dup {
				bad("path_prefix", "host %q and prefix %q are also those of routes[%d]", r.Host, p, j)
			} else {
				keys[key] = i
			}
		}
		switch {
		case len(r.Upstreams) == 0:
			bad("upstreams", "at least one is required")
		case len(r.Upstreams) > 64:
			bad("upstreams", "at most 64, got %d", len(r.Upstreams))
		}
		basePath := ""
		for j, u := range r.Upstreams {
			pu, msg := parseUpstream(u)
			if msg != "" {
				bad(fmt.Sprintf("upstreams[%d]", j), "%q: %s", u, msg)
				continue
			}
			if j == 0 {
				basePath = pu.Path
			} else if pu.Path != basePath {
				bad(fmt.Sprintf("upstreams[%d]", j), "path %q differs from the first upstream's %q", pu.Path, basePath)
			}
		}
		if r.Anonymous && (len(r.RequiredScopes) > 0 || len(r.AllowedClients) > 0) {
			bad("anonymous", "an anonymous route cannot require scopes or clients")
		}
		for _, s := range r.RequiredScopes {
			if s == "" || strings.ContainsAny(s, " \"\\") {
				bad("required_scopes", "%q is not a scope name", s)
			}
		}
		for _, c := range r.AllowedClients {
			if c == "" {
				bad("allowed_clients", "empty client id")
			}
		}
		if r.RateLimit.N < 0 || r.RateLimit.Per < 0 || (r.RateLimit.N > 0) != (r.RateLimit.Per > 0) {
			bad("rate_limit", "want N events per positive duration, or off")
		}
		if r.Timeout < 0 || r.Timeout > 10*time.Minute {
			bad("timeout", "%v: want between 0 (default %v) and 10m", r.Timeout, DefaultTimeout)
		}
		if r.Retries < 0 || (len(r.Upstreams) > 0 && r.Retries > len(r.Upstreams)-1) {
			bad("retries", "%d: want 0 to %d (one less than the upstreams)", r.Retries, max(0, len(r.Upstreams)-1))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// normalizePrefix returns p without a trailing slash ("/" stays "/") and
// reports whether it is an absolute clean path.
func normalizePrefix(p string) (string, bool) {
	if p == "" || p[0] != '/' || strings.ContainsAny(p, "?#") {
		return "", false
	}
	if p != "/" {
		p = strings.TrimSuffix(p, "/")
	}
	if cleanPath(p) != p {
		return "", false
	}
	return p, true
}

// parseUpstream checks an upstream URL and returns it with its path
// normalized ("" for "/").
func parseUpstream(s string) (*url.URL, string) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, "not a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, "want an http:// or https:// URL"
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, "want scheme://host[:port][/path], without user, query or fragment"
	}
	if _, port, err := net.SplitHostPort(u.Host); err == nil && port == "" {
		return nil, "empty port"
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, ""
}

// cleanPath is path.Clean that keeps a trailing slash and maps "" to "/"
// (as net/http's ServeMux does).
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	// Fast path: nothing to clean.
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// routeFile is the shape of a routes file.
type routeFile struct {
	Routes []routeSpec `yaml:"routes"`
}

type routeSpec struct {
	Name           string   `yaml:"name"`
	Host           string   `yaml:"host"`
	PathPrefix     string   `yaml:"path_prefix"`
	Upstreams      []string `yaml:"upstreams"`
	Anonymous      bool     `yaml:"anonymous"`
	RequiredScopes []string `yaml:"required_scopes"`
	AllowedClients []string `yaml:"allowed_clients"`
	RateLimit      string   `yaml:"rate_limit"`
	Timeout        string   `yaml:"timeout"`
	Retries        int      `yaml:"retries"`
	StripPrefix    bool     `yaml:"strip_prefix"`
}

// ParseRoutes reads a routes file (YAML, or JSON, which is YAML):
//
//	routes:
//	  - name: billing
//	    host: api.example.com        # optional
//	    path_prefix: /billing
//	    upstreams: [http://10.0.0.5:8080, http://10.0.0.6:8080]
//	    required_scopes: [billing:read]
//	    allowed_clients: []          # empty: any client
//	    rate_limit: 600/1m           # per client; "off" or absent: none
//	    timeout: 10s
//	    retries: 1
//	    strip_prefix: true
//
// Unknown keys are errors. The routes are validated; every problem is
// reported at once.
func ParseRoutes(data []byte) ([]Route, error) {
	var f routeFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("routes file: %w", err)
	}
	var errs RoutesError
	routes := make([]Route, len(f.Routes))
	for i, s := range f.Routes {
		r := Route{Name: s.Name, Host: s.Host, PathPrefix: s.PathPrefix, Upstreams: s.Upstreams,
			Anonymous: s.Anonymous, RequiredScopes: s.RequiredScopes, AllowedClients: s.AllowedClients,
			Retries: s.Retries, StripPrefix: s.StripPrefix}
		if s.RateLimit != "" {
			rate, err := config.ParseRate(s.RateLimit)
			if err != nil {
				errs = append(errs, fmt.Sprintf("routes[%d].rate_limit: %q: %v", i, s.RateLimit, err))
			}
			r.RateLimit = ratelimit.Rate{N: rate.N, Per: rate.Per}
		}
		if s.Timeout != "" {
			d, err := time.ParseDuration(s.Timeout)
			if err != nil {
				errs = append(errs, fmt.Sprintf("routes[%d].timeout: %q: want a duration such as 10s", i, s.Timeout))
			}
			r.Timeout = d
		}
		routes[i] = r
	}
	if err := ValidateRoutes(routes); err != nil {
		errs = append(errs, err.(RoutesError)...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return routes, nil
}

// compiledRoute is a route ready to serve.
type compiledRoute struct {
	Route
	prefix   string // normalized PathPrefix
	basePath string // the upstreams' common path, "" for none
	proxy    *httputil.ReverseProxy
	pool     *pool
	codes    sync.Map // status code (int) → prometheus.Counter
	duration prometheus.Observer
}

// routeTable finds the route for a request: routes of the request's host
// first, then routes of any host; within each, the longest prefix.
type routeTable struct {
	byHost  map[string][]*compiledRoute // longest prefix first
	anyHost []*compiledRoute
	all     []*compiledRoute
}

func newRouteTable(routes []*compiledRoute) *routeTable {
	t := &routeTable{byHost: map[string][]*compiledRoute{}, all: routes}
	for _, r := range routes {
		if r.Host == "" {
			t.anyHost = append(t.anyHost, r)
		} else {
			t.byHost[r.Host] = append(t.byHost[r.Host], r)
		}
	}
	byLen := func(a, b *compiledRoute) int { return cmp.Compare(len(b.prefix), len(a.prefix)) }
	for _, l := range t.byHost {
		slices.SortStableFunc(l, byLen)
	}
	slices.SortStableFunc(t.anyHost, byLen)
	return t
}

func (t *routeTable) match(host, path string) *compiledRoute {
	if l := t.byHost[host]; l != nil {
		if r := matchPrefix(l, path); r != nil {
			return r
		}
	}
	return matchPrefix(t.anyHost, path)
}

func matchPrefix(l []*compiledRoute, path string) *compiledRoute {
	for _, r := range l {
		if hasPathPrefix(path, r.prefix) {
			return r
		}
	}
	return nil
}

// hasPathPrefix reports whether path starts with prefix on a segment
// boundary.
func hasPathPrefix(path, prefix string) bool {
	if prefix == "/" {
		return true
	}
	return strings.HasPrefix(path, prefix) && (len(path) == len(prefix) || path[len(prefix)] == '/')
}

// requestHost returns the request's host in lower case without its port.
func requestHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}
