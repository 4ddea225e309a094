package gateway

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kaiin-project/kaiin/internal/ratelimit"
)

// Identity headers set on every proxied request (and removed from what
// the client sent: any header starting with X-Kaiin- is dropped).
const (
	HeaderSubject = "X-Kaiin-Subject"
	HeaderClient  = "X-Kaiin-Client"
	HeaderScopes  = "X-Kaiin-Scopes"
)

// Options configures a Gateway.
type Options struct {
	// Routes are the initial routes; SetRoutes replaces them.
	Routes []Route
	// Verifier checks tokens on routes that are not anonymous. Required
	// unless every route is anonymous.
	Verifier TokenVerifier
	// Limiter counts route rate limits in the hot state; nil turns rate
	// limits off (routes that set one are refused by SetRoutes).
	Limiter *ratelimit.Limiter
	// ClientIP returns the client address of a request, for anonymous
	// rate limits and the invalid-token limit; default the peer address.
	// Use server.ClientIP{Trusted: …}.Of behind a load balancer.
	ClientIP func(*http.Request) string
	// TrustRequestID reports whether a request's X-Request-Id may be kept
	// (it came through a trusted proxy); default never: a new id is made.
	TrustRequestID func(*http.Request) bool
	// InvalidTokens limits invalid tokens per client IP.
	InvalidTokens InvalidTokenLimit
	// Transport tunes the connections to upstreams.
	Transport TransportOptions
	// Cooldown and MaxCooldown bound how long a failed upstream is out;
	// default 10 s, doubling per consecutive failure up to 5 min.
	Cooldown, MaxCooldown time.Duration
	// Logger receives one INFO line per request (WARN for 5xx) and the
	// upstream failures; default slog.Default().
	Logger *slog.Logger
	// Registry receives the metrics; nil registers none.
	Registry prometheus.Registerer
	Now      func() time.Time
}

// Gateway is the token-checking reverse proxy, an http.Handler.
type Gateway struct {
	o       Options
	log     *slog.Logger
	metrics *gatewayMetrics
	bad     *badTokens
	table   atomic.Pointer[routeTable]
	buffers bufferPool
	noRoute prometheus.Counter

	mu         sync.Mutex // serializes SetRoutes
	upstreams  map[string]*upstream
	transports map[string]*http.Transport
}

// New builds a gateway with o.Routes.
func New(o Options) (*Gateway, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ClientIP == nil {
		o.ClientIP = peerIP
	}
	if o.TrustRequestID == nil {
		o.TrustRequestID = func(*http.Request) bool { return false }
	}
	if o.Cooldown == 0 {
		o.Cooldown = DefaultCooldown
	}
	if o.MaxCooldown == 0 {
		o.MaxCooldown = DefaultMaxCooldown
	}
	o.Transport.defaults()
	g := &Gateway{
		o: o, log: o.Logger, metrics: newGatewayMetrics(o.Registry), bad: newBadTokens(o.InvalidTokens, o.Now),
		upstreams: map[string]*upstream{}, transports: map[string]*http.Transport{},
	}
	g.noRoute = g.metrics.requests.WithLabelValues("unmatched", "404")
	if err := g.SetRoutes(o.Routes); err != nil {
		return nil, err
	}
	return g, nil
}

// SetRoutes validates and compiles routes and swaps them in atomically:
// requests already running finish on the routes they started with.
// Upstream health and connections carry over for upstreams that stay.
func (g *Gateway) SetRoutes(routes []Route) error {
	if err := ValidateRoutes(routes); err != nil {
		return err
	}
	var errs RoutesError
	for i, r := range routes {
		if !r.Anonymous && g.o.Verifier == nil {
			errs = append(errs, fmt.Sprintf("routes[%d] (%s): needs tokens but the gateway has no token verifier", i, r.Name))
		}
		if !r.RateLimit.Off() && g.o.Limiter == nil {
			errs = append(errs, fmt.Sprintf("routes[%d] (%s).rate_limit: the gateway has no hot state to count in", i, r.Name))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	usedUp := map[string]*upstream{}
	usedTr := map[string]*http.Transport{}
	compiled := make([]*compiledRoute, len(routes))
	for i, r := range routes {
		r.RequiredScopes = slices.Clone(r.RequiredScopes)
		r.AllowedClients = slices.Clone(r.AllowedClients)
		r.Upstreams = slices.Clone(r.Upstreams)
		if r.Timeout == 0 {
			r.Timeout = DefaultTimeout
		}
		c := &compiledRoute{Route: r, duration: g.metrics.duration.WithLabelValues(r.Name)}
		c.prefix, _ = normalizePrefix(r.PathPrefix)
		p := &pool{route: r.Name, retries: r.Retries, cooldown: g.o.Cooldown, maxCool: g.o.MaxCooldown,
			errors: g.metrics.upstreamErrors.WithLabelValues(r.Name), onFail: g.upstreamFailed, now: g.o.Now}
		for j, raw := range r.Upstreams {
			u, _ := parseUpstream(raw)
			if j == 0 {
				c.basePath = u.Path
			}
			key := u.Scheme + "://" + u.Host
			up := usedUp[key]
			if up == nil {
				up = g.upstreams[key]
			}
			if up == nil {
				up = &upstream{scheme: u.Scheme, host: u.Host}
			}
			usedUp[key] = up
			p.upstreams = append(p.upstreams, up)
		}
		tkey := strings.Join(r.Upstreams, " ") + " " + r.Timeout.String()
		tr := usedTr[tkey]
		if tr == nil {
			tr = g.transports[tkey]
		}
		if tr == nil {
			tr = newTransport(g.o.Transport, r.Timeout)
		}
		usedTr[tkey] = tr
		p.transport = tr
		c.pool = p
		c.proxy = g.newProxy(c)
		compiled[i] = c
	}
	g.table.Store(newRouteTable(compiled))
	for k, tr := range g.transports {
		if usedTr[k] == nil {
			tr.CloseIdleConnections()
		}
	}
	g.upstreams, g.transports = usedUp, usedTr
	return nil
}

// Close closes the idle connections to upstreams.
func (g *Gateway) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, tr := range g.transports {
		tr.CloseIdleConnections()
	}
}

func (g *Gateway) upstreamFailed(route, upstream string, err error, status int) {
	attrs := []slog.Attr{slog.String("route", route), slog.String("upstream", upstream)}
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	} else {
		attrs = append(attrs, slog.Int("status", status))
	}
	g.log.LogAttrs(context.Background(), slog.LevelWarn, "gateway: upstream failed, taken out for a cool-down", attrs...)
}

// reqInfo travels with a request from ServeHTTP to the proxy's Rewrite
// and ErrorHandler, and back to the access log.
type reqInfo struct {
	route  *compiledRoute
	claims *Claims
	id     string
	reason string // why the gateway answered an error itself
}

type reqInfoKey struct{}

func (g *Gateway) newProxy(c *compiledRoute) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			info := pr.In.Context().Value(reqInfoKey{}).(*reqInfo)
			out := pr.Out
			p, rp := out.URL.Path, out.URL.RawPath
			if c.StripPrefix && c.prefix != "/" {
				p = strings.TrimPrefix(p, c.prefix)
				if p == "" {
					p = "/"
				}
				if r, ok := strings.CutPrefix(rp, c.prefix); ok && r != "" {
					rp = r
				} else {
					rp = "" // the path's own escaping then applies
				}
			}
			if c.basePath != "" {
				p = c.basePath + p
				if rp != "" {
					rp = c.basePath + rp
				}
			}
			if p == "" || p[0] != '/' {
				p = "/" + p
			}
			if rp != "" && rp[0] != '/' {
				rp = "/" + rp
			}
			out.URL.Path, out.URL.RawPath = p, rp
			up := c.pool.pickFirst()
			out.URL.Scheme, out.URL.Host = up.scheme, up.host
			out.Host = ""
			h := out.Header
			for k := range h {
				if isKaiinHeader(k) {
					delete(h, k)
				}
			}
			if cl := info.claims; cl != nil {
				h[HeaderSubject] = []string{cl.Subject}
				h[HeaderClient] = []string{cl.ClientID}
				h[HeaderScopes] = []string{cl.scopeHeader}
			}
			h["X-Request-Id"] = []string{info.id}
			pr.SetXForwarded()
		},
		Transport:    c.pool,
		BufferPool:   &g.buffers,
		ErrorHandler: g.proxyError,
		ErrorLog:     slog.NewLogLogger(g.log.Handler(), slog.LevelInfo),
	}
}

func isKaiinHeader(k string) bool {
	return len(k) >= 8 && strings.EqualFold(k[:8], "X-Kaiin-")
}

// proxyError answers a request no upstream answered.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	info, _ := r.Context().Value(reqInfoKey{}).(*reqInfo)
	if r.Context().Err() != nil {
		// The client is gone; 499 in the log, as nginx does.
		if info != nil {
			info.reason = "client closed request"
		}
		w.WriteHeader(499)
		return
	}
	status, code, desc := http.StatusBadGateway, "bad_gateway", "the upstream could not be reached"
	if isTimeout(err) {
		status, code, desc = http.StatusGatewayTimeout, "gateway_timeout", "the upstream did not answer in time"
	}
	if info != nil {
		info.reason = err.Error()
	}
	writeError(w, status, code, desc)
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := g.o.Now()
	info := &reqInfo{id: g.requestID(r)}
	w.Header().Set("X-Request-Id", info.id)
	sw := &statusWriter{ResponseWriter: w}
	g.serve(sw, r, info)
	d := g.o.Now().Sub(start)
	route := "unmatched"
	if info.route != nil {
		route = info.route.Name
		info.route.requests(g.metrics, sw.status).Inc()
		info.route.duration.Observe(d.Seconds())
	} else {
		g.noRoute.Inc()
	}
	lvl := slog.LevelInfo
	if sw.status >= 500 {
		lvl = slog.LevelWarn
	}
	if !g.log.Enabled(r.Context(), lvl) {
		return
	}
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs, slog.String("request_id", info.id), slog.String("route", route),
		slog.String("method", r.Method), slog.Int("status", sw.status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000))
	if info.claims != nil {
		attrs = append(attrs, slog.String("client_id", info.claims.ClientID))
	}
	if info.reason != "" {
		attrs = append(attrs, slog.String("reason", info.reason))
	}
	g.log.LogAttrs(r.Context(), lvl, "gateway request", attrs...)
}

func (c *compiledRoute) requests(m *gatewayMetrics, code int) prometheus.Counter {
	if v, ok := c.codes.Load(code); ok {
		return v.(prometheus.Counter)
	}
	ctr := m.requests.WithLabelValues(c.Name, strconv.Itoa(code))
	c.codes.Store(code, ctr)
	return ctr
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, info *reqInfo) {
	t := g.table.Load()
	p := r.URL.Path
	if cleanPath(p) != p {
		info.reason = "path not clean"
		writeError(w, http.StatusBadRequest, "invalid_request", "the path must not contain '.', '..' or empty segments")
		return
	}
	c := t.match(requestHost(r.Host), p)
	if c == nil {
		writeError(w, http.StatusNotFound, "not_found", "no route for this host and path")
		return
	}
	info.route = c
	ctx := r.Context()
	subject := ""
	if !c.Anonymous {
		claims, ok := g.authenticate(w, r, info)
		if !ok {
			return
		}
		info.claims = claims
		subject = claims.ClientID
		if !c.allowedClient(claims.ClientID) {
			info.reason = "client not allowed"
			w.Header().Set("WWW-Authenticate", `Bearer realm="kaiin", error="insufficient_scope", error_description="this client may not use this route"`)
			writeError(w, http.StatusForbidden, "insufficient_scope", "this client may not use this route")
			return
		}
		for _, s := range c.RequiredScopes {
			if !claims.HasScope(s) {
				scopes := strings.Join(c.RequiredScopes, " ")
				info.reason = "missing scope " + s
				w.Header().Set("WWW-Authenticate", `Bearer realm="kaiin", error="insufficient_scope", scope="`+scopes+`"`)
				writeError(w, http.StatusForbidden, "insufficient_scope", "the token lacks a scope this route requires: "+scopes)
				return
			}
		}
	}
	if !c.RateLimit.Off() {
		if subject == "" {
			subject = "ip:" + g.o.ClientIP(r)
		}
		ok, retry, err := g.o.Limiter.Allow(ctx, "gw:"+c.Name, c.RateLimit, subject)
		if err != nil {
			// The hot state is down: serving without a limit beats refusing
			// everyone; the limit is a protection, not an authorization.
			g.log.WarnContext(ctx, "gateway: rate limit not counted", "route", c.Name, "err", err)
		} else if !ok {
			info.reason = "rate limited"
			w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
			writeError(w, http.StatusTooManyRequests, "rate_limited", "too many requests for this route; retry later")
			return
		}
	}
	c.proxy.ServeHTTP(w, r.WithContext(context.WithValue(ctx, reqInfoKey{}, info)))
}

func (c *compiledRoute) allowedClient(id string) bool {
	return len(c.AllowedClients) == 0 || slices.Contains(c.AllowedClients, id)
}

// authenticate verifies the request's Bearer token, answering 401, 429 or
// 503 itself when it is not good.
func (g *Gateway) authenticate(w http.ResponseWriter, r *http.Request, info *reqInfo) (*Claims, bool) {
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		// RFC 6750 3.1: no error code when the request had no token.
		info.reason = "no bearer token"
		w.Header().Set("WWW-Authenticate", `Bearer realm="kaiin"`)
		writeError(w, http.StatusUnauthorized, "invalid_token", "a bearer access token is required")
		return nil, false
	}
	ctx := r.Context()
	ip := ""
	if g.bad != nil {
		ip = g.o.ClientIP(r)
		if !g.bad.allowed(ip) {
			ctx = WithCacheOnly(ctx)
		}
	}
	claims, err := g.o.Verifier.Verify(ctx, token)
	switch {
	case err == nil:
		return claims, true
	case errors.Is(err, ErrThrottled):
		g.metrics.throttled.Inc()
		info.reason = "invalid tokens throttled"
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(g.bad.retryAfter().Seconds()+0.5))))
		writeError(w, http.StatusTooManyRequests, "too_many_invalid_tokens", "too many invalid tokens from this address; retry later")
	case errors.Is(err, ErrInvalidToken):
		g.bad.failed(ip)
		info.reason = err.Error()
		desc := strings.TrimPrefix(err.Error(), ErrInvalidToken.Error()+": ")
		w.Header().Set("WWW-Authenticate", `Bearer realm="kaiin", error="invalid_token", error_description="`+desc+`"`)
		writeError(w, http.StatusUnauthorized, "invalid_token", desc)
	default:
		info.reason = err.Error()
		g.log.WarnContext(ctx, "gateway: token could not be verified", "request_id", info.id, "err", err)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the token could not be checked; retry shortly")
	}
	return nil, false
}

// bearer returns the token of an "Authorization: Bearer …" header.
func bearer(h string) (string, bool) {
	if len(h) < 8 || !strings.EqualFold(h[:7], "Bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	return t, t != ""
}

// requestID keeps a trusted, sane X-Request-Id or makes a new one.
func (g *Gateway) requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 && g.o.TrustRequestID(r) &&
		!strings.ContainsFunc(id, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		return id
	}
	// Unique, not secret: a fast generator will do.
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// writeError answers with a JSON error body.
func writeError(w http.ResponseWriter, status int, code, desc string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":` + strconv.Quote(code) + `,"error_description":` + strconv.Quote(desc) + "}\n"))
}

// statusWriter records the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// bufferPool lends ReverseProxy its copy buffers.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v := b.p.Get(); v != nil {
		return *v.(*[]byte)
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

var (
	_ http.Handler        = (*Gateway)(nil)
	_ http.RoundTripper   = (*pool)(nil)
	_ httputil.BufferPool = (*bufferPool)(nil)
	_ http.ResponseWriter = (*statusWriter)(nil)
)
