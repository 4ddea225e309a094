// Package server assembles Kaiin's HTTP server: the member pages, health
// and readiness, metrics, and the middleware every request passes through
// (request id, logs, metrics, security headers, cross-origin protection).
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kaiin-project/kaiin/internal/web"
)

// Options configures the server.
type Options struct {
	HTTPS          bool // the public URL is https: secure cookies and HSTS
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
	// Registry receives the metrics and is served on /metrics.
	Registry *prometheus.Registry
	// Ready checks lists what /readyz checks, by name.
	Ready map[string]func(context.Context) error
	// Mount registers further endpoints (the OpenID provider's).
	Mount []func(*http.ServeMux)
	// CrossOriginBypass lists route patterns that other sites and apps
	// call (token endpoints): cross-origin form protection skips them.
	CrossOriginBypass []string
}

// Server is the assembled HTTP handler.
type Server struct {
	handler http.Handler
	opts    Options
}

// New assembles the server around the web handler, whose dependencies the
// caller has filled in (ClientIP and OnSignIn are set here).
func New(o Options, pages *web.Handler) (*Server, error) {
	ip := ClientIP{Trusted: o.TrustedProxies}
	signIns := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kaiin_signin_attempts_total", Help: "Password sign-in attempts by outcome.",
	}, []string{"outcome"})
	o.Registry.MustRegister(signIns)
	for _, oc := range []string{"success", "failure", "unverified", "rate_limited", "busy", "error", "second_factor_failure"} {
		signIns.WithLabelValues(oc) // export zeros so rates work from the start
	}
	pages.ClientIP = ip.Of
	pages.OnSignIn = func(outcome string) { signIns.WithLabelValues(outcome).Inc() }

	mux := http.NewServeMux()
	if err := pages.Mount(mux); err != nil {
		return nil, err
	}
	for _, m := range o.Mount {
		m(mux)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", readyHandler(o.Ready))
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{}))

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(pages.CrossOriginDenied))
	for _, p := range o.CrossOriginBypass {
		cop.AddInsecureBypassPattern(p)
	}

	var h http.Handler = mux
	h = cop.Handler(h)
	h = securityHeaders(o.HTTPS, h)
	h = observe(o.Logger, newHTTPMetrics(o.Registry), pages.Recovered, h)
	h = withRequestID(ip.FromPeer, h)
	return &Server{handler: h, opts: o}, nil
}

// Handler returns the root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// readyHandler answers 200 when every dependency answers, else 503 naming
// the ones that failed (no error text: it may hold addresses).
func readyHandler(checks map[string]func(context.Context) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		var failed []string
		for name, check := range checks {
			if err := check(ctx); err != nil {
				failed = append(failed, name)
			}
		}
		if len(failed) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			for _, f := range failed {
				_, _ = w.Write([]byte(f + ": unreachable\n"))
			}
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	}
}

// Serve serves on ln until ctx ends, then shuts down gracefully: the
// listener closes, in-flight requests get up to grace to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelDebug),
	}
	// Connections that have not sent a byte of a request yet hold nothing
	// to finish; Shutdown would wait five seconds for each of them, so
	// they are closed at once.
	var mu sync.Mutex
	fresh := map[net.Conn]bool{}
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		if st == http.StateNew {
			fresh[c] = true
		} else {
			delete(fresh, c)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(sctx) }()
	for {
		mu.Lock()
		for c := range fresh {
			_ = c.Close()
			delete(fresh, c)
		}
		mu.Unlock()
		if err := waitOr(done, 50*time.Millisecond); err != errWaiting {
			return finishShutdown(err, errc)
		}
	}
}

var errWaiting = errors.New("waiting")

func waitOr(done chan error, d time.Duration) error {
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return errWaiting
	}
}

func finishShutdown(err error, errc chan error) error {
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}
