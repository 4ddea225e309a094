package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kaiin-project/kaiin/internal/app"
	"github.com/kaiin-project/kaiin/internal/config"
	"github.com/kaiin-project/kaiin/internal/gateway"
	"github.com/kaiin-project/kaiin/internal/ratelimit"
	"github.com/kaiin-project/kaiin/internal/server"
)

// gatewayCmd runs the API gateway alone: it checks Kaiin's tokens and
// proxies to the upstreams of its routes. It shares the hot state (for
// revocations and rate limits) with the Kaiin nodes.
func gatewayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("gateway", args, stderr, nil)
	if err != nil {
		return err
	}
	gc := cfg.Gateway
	if gc.IssuerURL == "" {
		gc.IssuerURL = cfg.PublicURL
	}
	log := newLogger(cfg, stderr)
	d, err := app.OpenData(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	// Routes from a file (SIGHUP reloads it), or from the durable store
	// (kaiin admin route), polled for changes.
	var routes []gateway.Route
	var version int64
	if gc.RoutesFile != "" {
		routes, err = readRoutes(gc.RoutesFile)
	} else {
		routes, version, err = gateway.LoadStoredRoutes(ctx, d.Store)
	}
	if err != nil {
		return err
	}
	sealer, err := app.NewSealer(cfg)
	if err != nil {
		return err
	}
	limitKey, err := app.ServerSecret(ctx, d.Store, sealer, "gateway-ratelimit-key")
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	jv, err := gateway.NewJWTVerifier(gateway.JWTVerifierOptions{Issuer: gc.IssuerURL, JWKSURL: gc.JWKSURL,
		Revocations: gateway.StateRevocations{State: d.State}, RevocationMaxAge: gc.RevocationMaxAge, Registry: reg, Logger: log})
	if err != nil {
		return err
	}
	if err := jv.Refresh(ctx); err != nil {
		log.Warn("Kaiin's keys could not be fetched yet; retrying on first use", "jwks", gc.JWKSURL, "err", err)
	}
	ip := server.ClientIP{Trusted: cfg.TrustedProxies}
	gw, err := gateway.New(gateway.Options{Routes: routes, Verifier: jv, Limiter: ratelimit.New(d.State, limitKey),
		ClientIP: ip.Of, TrustRequestID: ip.FromPeer, Registry: reg, Logger: log})
	if err != nil {
		return err
	}
	defer gw.Close()

	ln, err := net.Listen("tcp", gc.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (gateway.addr): %w", gc.Addr, err)
	}
	mln, err := net.Listen("tcp", gc.MetricsAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen on %s (gateway.metrics_addr): %w", gc.MetricsAddr, err)
	}
	ops := http.NewServeMux()
	ops.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ops.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	ops.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := d.State.Ping(r.Context()); err != nil {
			http.Error(w, "hot_state: unreachable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	msrv := &http.Server{Handler: ops, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = msrv.Serve(mln) }()
	if gc.RoutesFile == "" {
		go gw.WatchStoredRoutes(ctx, d.Store, version, gc.PollInterval, log)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("kaiin gateway started", "addr", ln.Addr().String(), "metrics_addr", mln.Addr().String(), "routes", len(routes), "issuer", gc.IssuerURL)
	fmt.Fprintf(stdout, "Kaiin gateway is listening on %s (metrics on %s)\n", ln.Addr(), mln.Addr())

	// SIGHUP reloads the routes; a bad file keeps the routes in force.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			if gc.RoutesFile == "" {
				continue // stored routes are polled
			}
			rs, err := readRoutes(gc.RoutesFile)
			if err == nil {
				err = gw.SetRoutes(rs)
			}
			if err != nil {
				log.Error("routes not reloaded; the previous routes stay in force", "err", err)
				continue
			}
			log.Info("routes reloaded", "routes", len(rs))
		case err := <-errc:
			return err
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			err := srv.Shutdown(sctx)
			_ = msrv.Shutdown(sctx)
			if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) && err == nil {
				err = e
			}
			log.Info("kaiin gateway stopped")
			return err
		}
	}
}

func readRoutes(path string) ([]gateway.Route, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		return nil, config.FieldError{Key: "gateway.routes_file", Value: path, Msg: "cannot be read: " + msg}
	}
	routes, err := gateway.ParseRoutes(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return routes, nil
}
