package server

import (
	"context"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type ctxKey int

const requestIDKey ctxKey = iota

// RequestID returns the id of the request ctx belongs to.
func RequestID(ctx context.Context) string {
	if c, ok := ctx.Value(requestIDKey).(*idCtx); ok {
		return c.id
	}
	return ""
}

// idCtx carries the request id on the request's context. It is one
// allocation per request, where context.WithValue would box the id in an
// interface besides; it also holds the backing array of the X-Request-Id
// header's value.
type idCtx struct {
	context.Context
	id  string
	hdr [1]string
}

func (c *idCtx) Value(key any) any {
	if key == any(requestIDKey) {
		return c
	}
	return c.Context.Value(key)
}

const hexDigits = "0123456789abcdef"

// newRequestID returns 16 hex digits of randomness. Request ids are for
// correlating logs, not secrets: the runtime's per-thread ChaCha8 source
// (seeded from the system's) is enough and costs no system call.
func newRequestID() string {
	v := mrand.Uint64()
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hexDigits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

// withRequestID gives each request an id (kept from a trusted proxy's
// X-Request-Id when it looks sane), echoes it, and puts it on the context.
func withRequestID(trustHeader func(*http.Request) bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 || !trustHeader(r) || strings.ContainsFunc(id, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
			id = newRequestID()
		}
		c := &idCtx{Context: r.Context(), id: id}
		c.hdr[0] = id
		w.Header()["X-Request-Id"] = c.hdr[:]
		next.ServeHTTP(w, r.WithContext(c))
	})
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	size   int
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
	n, err := s.ResponseWriter.Write(b)
	s.size += n
	return n, err
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// httpMetrics are the request metrics, labelled by route pattern (never
// the raw path) and status class, so their cardinality is bounded.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge

	// byLabels keeps the labelled counter and histogram of each (route,
	// method, status class) seen, so that a request costs one map lookup
	// instead of hashing its label values into each vector. The map is
	// replaced, never changed: readers take no lock.
	byLabels atomic.Pointer[map[metricKey]*routeMetrics]
	mu       sync.Mutex // serializes the replacements
}

type metricKey struct {
	route, method string
	class         int // status / 100, 0 for out of range
}

type routeMetrics struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kaiin_http_requests_total", Help: "HTTP requests by route pattern, method and status class.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kaiin_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kaiin_http_requests_in_flight", Help: "HTTP requests being served.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight)
	return m
}

// of returns the metrics of a (route, method, status) triple. Routes are
// patterns and methods are mapped to a fixed list, so the map is bounded.
func (m *httpMetrics) of(route, method string, status int) *routeMetrics {
	k := metricKey{route: route, method: methodLabel(method), class: status / 100}
	if status < 100 || status > 599 {
		k.class = 0
	}
	if mp := m.byLabels.Load(); mp != nil {
		if rm := (*mp)[k]; rm != nil {
			return rm
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.byLabels.Load()
	if old != nil {
		if rm := (*old)[k]; rm != nil {
			return rm
		}
	}
	rm := &routeMetrics{
		requests: m.requests.WithLabelValues(k.route, k.method, classLabels[k.class]),
		duration: m.duration.WithLabelValues(k.route, k.method),
	}
	next := make(map[metricKey]*routeMetrics, 1+len(mapOrNil(old)))
	for kk, v := range mapOrNil(old) {
		next[kk] = v
	}
	next[k] = rm
	m.byLabels.Store(&next)
	return rm
}

func mapOrNil(p *map[metricKey]*routeMetrics) map[metricKey]*routeMetrics {
	if p == nil {
		return nil
	}
	return *p
}

// classLabels are the status class labels by status / 100 (0: out of
// range).
var classLabels = [6]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return classLabels[code/100]
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// observe logs and counts each request, and turns a panic into a coded
// 500 page instead of a dropped connection.
func observe(log *slog.Logger, m *httpMetrics, recovered http.HandlerFunc, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		m.inFlight.Inc()
		defer func() {
			m.inFlight.Dec()
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "handler panicked", "request_id", RequestID(r.Context()), "panic", v)
				if sw.status == 0 {
					recovered(sw, r)
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			d := time.Since(start)
			rm := m.of(route, r.Method, sw.status)
			rm.requests.Inc()
			rm.duration.Observe(d.Seconds())
			// The path is logged without its query: links carry tokens there.
			lvl := slog.LevelInfo
			if sw.status >= 500 {
				lvl = slog.LevelWarn
			}
			if ctx := r.Context(); log.Enabled(ctx, lvl) {
				log.LogAttrs(ctx, lvl, "http request",
					slog.String("request_id", RequestID(ctx)),
					slog.String("method", r.Method), slog.String("route", route),
					slog.String("path", r.URL.Path), slog.Int("status", sw.status),
					slog.Int("bytes", sw.size), slog.Float64("duration_ms", float64(d.Microseconds())/1000))
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// securityHeaders sets the headers every response carries.
func securityHeaders(https bool, next http.Handler) http.Handler {
	// No inline script or style anywhere; pages cannot be framed. No
	// form-action: browsers apply it to the redirects after a post too, and
	// sign-in ends with a redirect to a relying party. Scripts only from
	// this origin (the passkey script), and fetch only to it.
	const csp = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"frame-ancestors 'none'; base-uri 'none'"
	// Built once: setting canonical keys directly costs no allocation per
	// response (this runs on every request, token endpoints included).
	fixed := []struct {
		key string
		val []string
	}{
		{"Content-Security-Policy", []string{csp}},
		{"X-Content-Type-Options", []string{"nosniff"}},
		{"X-Frame-Options", []string{"DENY"}},
		// Pages carry one-time tokens in their URLs: send no referrer.
		{"Referrer-Policy", []string{"no-referrer"}},
		{"Cross-Origin-Opener-Policy", []string{"same-origin"}},
		{"Permissions-Policy", []string{"camera=(), microphone=(), geolocation=()"}},
	}
	if https {
		fixed = append(fixed, struct {
			key string
			val []string
		}{"Strict-Transport-Security", []string{"max-age=63072000; includeSubDomains"}})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for _, f := range fixed {
			h[f.key] = f.val
		}
		next.ServeHTTP(w, r)
	})
}

// ClientIP finds the client's address: the peer, or, when the peer is a
// trusted proxy, the rightmost X-Forwarded-For entry that is not one.
type ClientIP struct {
	Trusted []netip.Prefix
}

func (c ClientIP) trusted(a netip.Addr) bool {
	for _, p := range c.Trusted {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

func peer(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	return a.Unmap(), err == nil
}

// FromPeer reports whether r came through a trusted proxy.
func (c ClientIP) FromPeer(r *http.Request) bool {
	a, ok := peer(r)
	return ok && c.trusted(a)
}

// Of returns the client address of r as text.
func (c ClientIP) Of(r *http.Request) string {
	a, ok := peer(r)
	if !ok {
		return r.RemoteAddr
	}
	if !c.trusted(a) {
		return a.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		h = h.Unmap()
		if !c.trusted(h) {
			return h.String()
		}
		a = h
	}
	return a.String()
}
