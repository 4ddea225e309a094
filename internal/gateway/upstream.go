package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Passive health: the cool-down of a failed upstream.
const (
	DefaultCooldown    = 10 * time.Second
	DefaultMaxCooldown = 5 * time.Minute
)

// upstream is one upstream address and its passive health. It is shared
// by every route (and route table) that names the same scheme://host.
type upstream struct {
	scheme, host string
	downUntil    atomic.Int64 // unix nanoseconds; 0 = healthy
	fails        atomic.Int32 // consecutive failures
}

func (u *upstream) healthy(now int64) bool {
	d := u.downUntil.Load()
	return d == 0 || now >= d
}

// failed takes u out for a cool-down that doubles with each consecutive
// failure; it reports whether u was healthy until now.
func (u *upstream) failed(now time.Time, base, limit time.Duration) bool {
	n := u.fails.Add(1)
	d := base
	for i := int32(1); i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	was := u.healthy(now.UnixNano())
	u.downUntil.Store(now.Add(d).UnixNano())
	return was
}

func (u *upstream) succeeded() {
	if u.fails.Load() != 0 {
		u.fails.Store(0)
	}
	if u.downUntil.Load() != 0 {
		u.downUntil.Store(0)
	}
}

// pool balances one route's requests across its upstreams round-robin,
// skipping those cooling down, and retries idempotent requests. It is the
// route proxy's Transport.
type pool struct {
	route     string
	upstreams []*upstream
	next      atomic.Uint32
	transport http.RoundTripper
	retries   int
	cooldown  time.Duration
	maxCool   time.Duration
	errors    prometheus.Counter
	onFail    func(route, upstream string, err error, status int)
	now       func() time.Time
}

// pick returns the index of the next upstream to try, not in tried: the
// next healthy one in turn, or, when all are cooling down, the one due
// back first. It returns -1 when every upstream was tried.
func (p *pool) pick(tried uint64) int {
	n := len(p.upstreams)
	now := p.now().UnixNano()
	start := int(p.next.Add(1)-1) % n
	best, bestUntil := -1, int64(0)
	for i := range n {
		j := (start + i) % n
		if tried&(1<<j) != 0 {
			continue
		}
		u := p.upstreams[j]
		if u.healthy(now) {
			return j
		}
		if d := u.downUntil.Load(); best < 0 || d < bestUntil {
			best, bestUntil = j, d
		}
	}
	return best
}

// pickFirst returns the upstream for a new request.
func (p *pool) pickFirst() *upstream { return p.upstreams[p.pick(0)] }

func (p *pool) indexOf(scheme, host string) int {
	for i, u := range p.upstreams {
		if u.host == host && u.scheme == scheme {
			return i
		}
	}
	return -1
}

// retryable reports whether a request may be sent again after a failure:
// an idempotent method (RFC 9110 9.2.2) and no body, so nothing is lost.
func retryable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return r.Body == nil || r.Body == http.NoBody
	}
	return false
}

// failedStatus are the answers that count as an upstream failure.
func failedStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// RoundTrip sends req to an upstream. ReverseProxy calls it before it has
// written anything to the client, so a retry here never follows a partial
// answer.
func (p *pool) RoundTrip(req *http.Request) (*http.Response, error) {
	attempts := 1
	if p.retries > 0 && retryable(req) {
		attempts += p.retries
	}
	// The route's Rewrite picked the first upstream (pickFirst); the
	// request goes there as it is, and a retry goes out as a copy.
	j, cur := p.indexOf(req.URL.Scheme, req.URL.Host), req
	var tried uint64
	for a := 0; ; a++ {
		if a > 0 || j < 0 {
			j = p.pick(tried)
			out := *req // shallow: the header map is shared and not modified
			url := *req.URL
			url.Scheme, url.Host = p.upstreams[j].scheme, p.upstreams[j].host
			out.URL = &url
			cur = &out
		}
		tried |= 1 << j
		u := p.upstreams[j]
		resp, err := p.transport.RoundTrip(cur)
		if err == nil && !failedStatus(resp.StatusCode) {
			u.succeeded()
			return resp, nil
		}
		if req.Context().Err() != nil {
			// The client went away: not the upstream's fault.
			return resp, err
		}
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		p.errors.Inc()
		if u.failed(p.now(), p.cooldown, p.maxCool) && p.onFail != nil {
			p.onFail(p.route, u.scheme+"://"+u.host, err, status)
		}
		if a+1 >= attempts || p.pick(tried) < 0 {
			return resp, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
	}
}

// TransportOptions tune the connections to upstreams.
type TransportOptions struct {
	// MaxIdleConnsPerHost is the keep-alive pool per upstream; it should be
	// at least the expected concurrency per upstream. Default 256 (Go's
	// default of 2 costs about 40 % of the throughput under load).
	MaxIdleConnsPerHost int
	// DialTimeout bounds a connection attempt; default 5 s.
	DialTimeout time.Duration
	// IdleConnTimeout closes idle connections; default 90 s.
	IdleConnTimeout time.Duration
}

func (o *TransportOptions) defaults() {
	if o.MaxIdleConnsPerHost == 0 {
		o.MaxIdleConnsPerHost = 256
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.IdleConnTimeout == 0 {
		o.IdleConnTimeout = 90 * time.Second
	}
}

// newTransport returns the Transport for one route's upstreams.
func newTransport(o TransportOptions, responseTimeout time.Duration) *http.Transport {
	d := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConns:          0, // no global cap: the per-host one applies
		MaxIdleConnsPerHost:   o.MaxIdleConnsPerHost,
		IdleConnTimeout:       o.IdleConnTimeout,
		ResponseHeaderTimeout: responseTimeout,
		TLSHandshakeTimeout:   o.DialTimeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
}

// isTimeout reports whether err is a timeout (answered 504).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) ||
		strings.Contains(err.Error(), "timeout awaiting response headers")
}
